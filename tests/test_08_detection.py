"""Notebook 08_detection: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is a whole function with one classic mistake (or another library's
convention); its grade cell (visible and hidden checks) must fail with an AssertionError whose
message names it. Valid alternatives (another vectorization, a loop where loops are allowed, another
formula for the same thing) must pass. The last tests check the notebook's given mAP code against
pycocotools, COCO's own evaluation (skipped when it is not installed).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradecells import grade_cell_fails, graded_ids, notebook_namespace, run_grade_cell

NOTEBOOK = "08_detection"
GRADE_IDS = ["check_box_iou", "check_box_encoding", "check_nms", "check_match_detections",
             "check_average_precision", "check_roi_align", "check_make_anchors", "check_smooth_l1_loss",
             "check_sigmoid_focal_loss", "check_assign_anchors", "check_detection_head", "check_dice_loss",
             "check_pixel_iou", "check_tiny_unet"]


@pytest.fixture(scope="module")
def solution():
    """The solution's functions (setup, answer and given cells)."""
    return notebook_namespace(NOTEBOOK)


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


def fails(grade_id, match, **overrides):
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)
    assert set(graded_ids(NOTEBOOK, "markdown")) == {"q_why_nms", "q_why_ap", "q_roi_align", "q_one_stage"}


# ------------------------------------------------------------------------ boxes and IoU
def _sides(a, b):
    top_left = torch.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    return bottom_right - top_left


def area(boxes):
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def test_area_with_plus_one_is_named():
    def wrong(boxes):
        return (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    fails("check_box_iou", r"'\+1' pixel convention", box_area=wrong)


def test_iou_with_plus_one_is_named():
    def wrong(a, b):
        sides = (_sides(a, b) + 1).clamp(min=0)
        inter = sides[..., 0] * sides[..., 1]
        area1 = lambda x: (x[:, 2] - x[:, 0] + 1) * (x[:, 3] - x[:, 1] + 1)
        return inter / (area1(a)[:, None] + area1(b)[None] - inter)
    fails("check_box_iou", r"'\+1' pixel convention", box_iou=wrong)


def test_union_that_keeps_the_intersection_is_named():
    def wrong(a, b):
        sides = _sides(a, b).clamp(min=0)
        return sides[..., 0] * sides[..., 1] / (area(a)[:, None] + area(b)[None])
    fails("check_box_iou", "counts the intersection twice", box_iou=wrong)


def test_intersection_not_clamped_is_named():
    def wrong(a, b):
        sides = _sides(a, b)
        inter = sides[..., 0] * sides[..., 1]
        return inter / (area(a)[:, None] + area(b)[None] - inter)
    fails("check_box_iou", "not clamped at 0", box_iou=wrong)


def test_iou_with_loops_is_named(solution):
    right = solution["box_iou"]

    def loops(a, b):
        return torch.stack([right(a[i:i + 1], b)[0] for i in range(len(a))]) if len(a) else right(a, b)
    fails("check_box_iou", "must not loop", box_iou=loops)


def test_iou_changing_its_input_is_named(solution):
    right = solution["box_iou"]

    def in_place(a, b):
        result = right(a, b)
        a[:, 2:] += 1e-3                         # then widens the caller's boxes a little
        return result
    fails("check_box_iou", "in place", box_iou=in_place)


def test_iou_returning_float64_for_float32_is_named(solution):
    right = solution["box_iou"]
    fails("check_box_iou", "dtype float64, expected float32", box_iou=lambda a, b: right(a.double(), b.double()))


def test_giou_as_plain_iou_is_named(solution):
    fails("check_box_iou", "this is plain IoU", generalized_box_iou=solution["box_iou"])


def test_giou_divided_by_the_union_is_named(solution):
    right_iou = solution["box_iou"]

    def wrong(a, b):
        iou = right_iou(a, b)
        sides = _sides(a, b).clamp(min=0)
        union = area(a)[:, None] + area(b)[None] - sides[..., 0] * sides[..., 1]
        c = torch.maximum(a[:, None, 2:], b[None, :, 2:]) - torch.minimum(a[:, None, :2], b[None, :, :2])
        return iou - (c[..., 0] * c[..., 1] - union) / union
    fails("check_box_iou", "divided by the union", generalized_box_iou=wrong)


def test_iou_written_another_way_passes():
    def by_coordinates(a, b):
        ax1, ay1, ax2, ay2 = (v[:, None] for v in a.unbind(1))
        bx1, by1, bx2, by2 = (v[None, :] for v in b.unbind(1))
        width = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp(min=0)
        height = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp(min=0)
        inter = width * height
        return inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)

    def giou(a, b):
        iou = by_coordinates(a, b)
        union = (area(a)[:, None] + area(b)[None]) / (1 + iou)
        c = torch.maximum(a[:, None, 2:], b[None, :, 2:]) - torch.minimum(a[:, None, :2], b[None, :, :2])
        return iou - (c.prod(dim=-1) - union) / c.prod(dim=-1)
    run("check_box_iou", box_iou=by_coordinates, generalized_box_iou=giou,
        box_area=lambda boxes: (boxes[:, 2:] - boxes[:, :2]).prod(dim=1))


# ------------------------------------------------------------------------ encoding
def centre_size(boxes):
    return (boxes[:, :2] + boxes[:, 2:]) / 2, boxes[:, 2:] - boxes[:, :2]


def test_encoding_without_log_is_named():
    def wrong(boxes, anchors):
        (c, s), (ca, sa) = centre_size(boxes), centre_size(anchors)
        return torch.cat([(c - ca) / sa, s / sa], dim=1)
    fails("check_box_encoding", "log is missing", encode_boxes=wrong)


def test_encoding_as_ratio_minus_one_is_named():
    def wrong(boxes, anchors):
        (c, s), (ca, sa) = centre_size(boxes), centre_size(anchors)
        return torch.cat([(c - ca) / sa, s / sa - 1], dim=1)
    fails("check_box_encoding", r"w / w_a - 1", encode_boxes=wrong)


def test_encoding_of_corners_is_named():
    def wrong(boxes, anchors):
        (_, s), (_, sa) = centre_size(boxes), centre_size(anchors)
        return torch.cat([(boxes[:, :2] - anchors[:, :2]) / sa, torch.log(s / sa)], dim=1)
    fails("check_box_encoding", "CENTRES", encode_boxes=wrong)


def test_encoding_normalised_by_the_wrong_side_is_named():
    def wrong(boxes, anchors):
        (c, s), (ca, sa) = centre_size(boxes), centre_size(anchors)
        return torch.cat([(c - ca) / sa.flip(1), torch.log(s / sa)], dim=1)
    fails("check_box_encoding", "divided by the anchor's height", encode_boxes=wrong)


def test_encoding_upside_down_is_named():
    def wrong(boxes, anchors):
        (c, s), (ca, sa) = centre_size(boxes), centre_size(anchors)
        return torch.cat([(c - ca) / sa, torch.log(sa / s)], dim=1)
    fails("check_box_encoding", "upside down", encode_boxes=wrong)


def test_decoding_without_exp_is_named():
    def wrong(deltas, anchors):
        ca, sa = centre_size(anchors)
        c, s = ca + deltas[:, :2] * sa, sa * deltas[:, 2:]
        return torch.cat([c - s / 2, c + s / 2], dim=1)
    fails("check_box_encoding", "exp is missing", decode_boxes=wrong)


def test_decoding_to_centre_and_size_is_named():
    def wrong(deltas, anchors):
        ca, sa = centre_size(anchors)
        return torch.cat([ca + deltas[:, :2] * sa, sa * torch.exp(deltas[:, 2:])], dim=1)
    fails("check_box_encoding", r"returns \(cx, cy, w, h\)", decode_boxes=wrong)


def test_conversion_with_swapped_sizes_fails():
    def wrong(boxes):
        c, s = centre_size(boxes)
        return torch.cat([c, s.flip(1)], dim=1)
    fails("check_box_encoding", "box_xyxy_to_cxcywh", box_xyxy_to_cxcywh=wrong)


def test_encoding_written_column_by_column_passes():
    def encode(boxes, anchors):
        x, y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
        xa, ya = (anchors[:, 0] + anchors[:, 2]) / 2, (anchors[:, 1] + anchors[:, 3]) / 2
        wa, ha = anchors[:, 2] - anchors[:, 0], anchors[:, 3] - anchors[:, 1]
        return torch.stack([(x - xa) / wa, (y - ya) / ha, torch.log(w) - torch.log(wa), torch.log(h) - torch.log(ha)], 1)

    def decode(deltas, anchors):
        ca, sa = centre_size(anchors)
        c, half = ca + deltas[:, :2] * sa, sa * torch.exp(deltas[:, 2:]) / 2
        return torch.cat([c - half, c + half], dim=1)
    run("check_box_encoding", encode_boxes=encode, decode_boxes=decode)


# ------------------------------------------------------------------------ NMS
def nms_variant(*, kept_only=True, ascending=False, strict=True, stable=True, index_order=False):
    def nms(boxes, scores, iou_threshold, iou_fn=None):
        sign = 1.0 if ascending else -1.0
        tie = 1 if stable else -1             # an unstable sort may put equal scores in any order: here reversed
        order = torch.tensor(sorted(range(len(scores)), key=lambda i: (sign * float(scores[i]), tie * i)),
                             dtype=torch.int64)
        iou = iou_fn(boxes[order], boxes[order])
        keep, suppressed = [], torch.zeros(len(order), dtype=torch.bool)
        for i in range(len(order)):
            if kept_only:
                if suppressed[i]:
                    continue
            elif i and ((iou[:i, i] > iou_threshold) if strict else (iou[:i, i] >= iou_threshold)).any():
                continue
            keep.append(i)
            suppressed |= (iou[i] > iou_threshold) if strict else (iou[i] >= iou_threshold)
        kept = order[torch.tensor(keep, dtype=torch.int64)]
        return kept.sort().values if index_order else kept
    return nms


def test_nms_where_suppressed_boxes_suppress_is_named():
    fails("check_nms", "only KEPT boxes suppress", nms=nms_variant(kept_only=False))


def test_nms_in_ascending_order_is_named():
    fails("check_nms", "lowest score up", nms=nms_variant(ascending=True))


def test_nms_returning_index_order_is_named():
    fails("check_nms", "not in index order", nms=nms_variant(index_order=True))


def test_nms_suppressing_at_equal_iou_is_named():
    fails("check_nms", "EQUALS the threshold", nms=nms_variant(strict=False))


def test_nms_with_unstable_ties_is_named():
    fails("check_nms", "LOWER index", nms=nms_variant(stable=False))


def test_nms_returning_a_mask_is_named():
    right = nms_variant()

    def mask(boxes, scores, iou_threshold, iou_fn=None):
        keep = torch.zeros(len(boxes), dtype=torch.bool)
        keep[right(boxes, scores, iou_threshold, iou_fn)] = True
        return keep
    fails("check_nms", "boolean mask", nms=mask)


def test_batched_nms_across_classes_is_named(solution):
    right = solution["nms"]
    fails("check_nms", "within each class only",
          batched_nms=lambda boxes, scores, labels, t, iou_fn=None: right(boxes, scores, t, iou_fn))


def test_batched_nms_without_suppression_is_named():
    def wrong(boxes, scores, labels, iou_threshold, iou_fn=None):
        return torch.sort(scores, descending=True, stable=True).indices
    fails("check_nms", "must still suppress", batched_nms=wrong)


def test_batched_nms_shifting_the_boxes_in_place_is_named(solution):
    right = solution["nms"]

    def in_place(boxes, scores, labels, iou_threshold, iou_fn=None):
        boxes += labels.to(boxes.dtype)[:, None] * (boxes.max() - boxes.min() + 1)
        return right(boxes, scores, iou_threshold, iou_fn)
    fails("check_nms", "in place", batched_nms=in_place)


def test_batched_nms_with_a_small_offset_is_named(solution):
    right = solution["nms"]

    def small_offset(boxes, scores, labels, iou_threshold, iou_fn=None):
        if len(boxes) == 0:
            return torch.zeros(0, dtype=torch.int64)
        return right(boxes + labels.to(boxes.dtype)[:, None] * 100.0, scores, iou_threshold, iou_fn)
    fails("check_nms", "offset between classes smaller", batched_nms=small_offset)


def test_nms_as_a_while_loop_and_batched_nms_per_class_pass():
    def nms(boxes, scores, iou_threshold, iou_fn=None):
        remaining = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
        keep = []
        while remaining:
            best = remaining.pop(0)
            keep.append(best)
            if remaining:
                iou = iou_fn(boxes[best:best + 1], boxes[remaining])[0]
                remaining = [i for i, value in zip(remaining, iou.tolist()) if value <= iou_threshold]
        return torch.tensor(keep, dtype=torch.int64)

    def batched(boxes, scores, labels, iou_threshold, iou_fn=None):
        kept = [torch.nonzero(labels == c).squeeze(1)[nms(boxes[labels == c], scores[labels == c], iou_threshold, iou_fn)]
                for c in labels.unique().tolist()]
        kept = torch.cat(kept) if kept else torch.zeros(0, dtype=torch.int64)
        return kept[sorted(range(len(kept)), key=lambda i: (-float(scores[kept[i]]), int(kept[i])))]
    run("check_nms", nms=nms, batched_nms=batched)


# ------------------------------------------------------------------------ matching
def match_variant(*, free_only=True, strict=False, consume_below=False):
    def match(iou, iou_threshold):
        matched = np.full(iou.shape[0], -1, dtype=np.int64)
        taken = np.zeros(iou.shape[1], dtype=bool)
        for d in range(iou.shape[0]):
            if iou.shape[1] == 0:
                continue
            row = np.where(taken, -np.inf, iou[d]) if free_only else iou[d]
            g = int(np.argmax(row))
            ok = row[g] > iou_threshold if strict else row[g] >= iou_threshold
            if ok and not taken[g]:
                matched[d] = g
            if ok or consume_below:
                taken[g] = True
        return matched
    return match


def test_matching_one_ground_truth_twice_is_named():
    def twice(iou, iou_threshold):
        if iou.shape[1] == 0:
            return np.full(iou.shape[0], -1, dtype=np.int64)
        best = iou.argmax(axis=1)
        return np.where(iou.max(axis=1) >= iou_threshold, best, -1).astype(np.int64)
    fails("check_match_detections", "matched twice", match_detections=twice)


def test_voc_matching_rule_is_named():
    fails("check_match_detections", "NOT matched yet", match_detections=match_variant(free_only=False))


def test_optimal_assignment_is_named():
    from scipy.optimize import linear_sum_assignment

    def optimal(iou, iou_threshold):
        matched = np.full(iou.shape[0], -1, dtype=np.int64)
        if iou.size:
            rows, cols = linear_sum_assignment(-np.where(iou >= iou_threshold, iou, -1e3))
            for r, c in zip(rows, cols):
                if iou[r, c] >= iou_threshold:
                    matched[r] = c
        return matched
    fails("check_match_detections", "optimal one-to-one assignment", match_detections=optimal)


def test_matching_with_strict_threshold_is_named():
    fails("check_match_detections", r"EQUAL to the threshold is a match", match_detections=match_variant(strict=True))


def test_false_positive_using_up_its_ground_truth_is_named():
    fails("check_match_detections", "must not use up", match_detections=match_variant(consume_below=True))


def test_matching_that_marks_the_iou_in_place_is_named():
    def in_place(iou, iou_threshold):
        matched = np.full(iou.shape[0], -1, dtype=np.int64)
        for d in range(iou.shape[0]):
            if iou.shape[1] and iou[d].max() >= iou_threshold:
                matched[d] = int(iou[d].argmax())
                iou[:, matched[d]] = -1.0
        return matched
    fails("check_match_detections", "in place", match_detections=in_place)


def test_matching_with_a_set_of_free_boxes_passes():
    def with_sets(iou, iou_threshold):
        free, out = set(range(iou.shape[1])), []
        for row in iou:
            best = max(sorted(free), key=lambda g: row[g], default=None)
            if best is not None and row[best] >= iou_threshold:
                free.discard(best)
                out.append(best)
            else:
                out.append(-1)
        return np.array(out, dtype=np.int64)
    run("check_match_detections", match_detections=with_sets)


# ------------------------------------------------------------------------ average precision
def ap_variant(*, envelope=True, recall_by_tp=False, levels=None, reached_only=False):
    def average_precision(is_tp, num_gt, recall_points=None):
        tp = np.cumsum(np.asarray(is_tp, dtype=float))
        if tp.size == 0:
            return 0.0
        precision = tp / np.arange(1, tp.size + 1)
        recall = tp / (max(tp[-1], 1) if recall_by_tp else num_gt)
        if envelope:
            precision = np.maximum.accumulate(precision[::-1])[::-1]
        if recall_points is None:
            return float(np.sum(np.diff(recall, prepend=0) * precision))
        grid = np.linspace(0, 1, levels or recall_points)
        first = np.searchsorted(recall, grid, side="left")
        values = precision[first[first < tp.size]]
        return float(values.sum() / (values.size if reached_only else grid.size))
    return average_precision


def test_ap_without_envelope_is_named():
    fails("check_average_precision", "precision envelope is missing", average_precision=ap_variant(envelope=False))


def test_recall_over_true_positives_is_named():
    fails("check_average_precision", "number of ground-truth boxes", average_precision=ap_variant(recall_by_tp=True))


def test_coco_ap_with_100_levels_is_named():
    fails("check_average_precision", "101 levels", average_precision=ap_variant(levels=100))


def test_coco_ap_averaged_over_reached_levels_only_is_named():
    fails("check_average_precision", "never reaches count as 0", average_precision=ap_variant(reached_only=True))


def test_voc_devkit_ap_and_a_loop_pass():
    def voc_devkit(is_tp, num_gt, recall_points=None):
        tp = np.cumsum(np.asarray(is_tp, dtype=float))
        if tp.size == 0:
            return 0.0
        recall, precision = tp / num_gt, tp / np.arange(1, tp.size + 1)
        if recall_points is not None:                 # VOC 2007 style: max precision at recall >= t
            return float(np.mean([precision[recall >= t].max() if (recall >= t).any() else 0.0
                                  for t in np.linspace(0, 1, recall_points)]))
        mrec, mpre = np.concatenate([[0.0], recall, [1.0]]), np.concatenate([[0.0], precision, [0.0]])
        for i in range(mpre.size - 1, 0, -1):
            mpre[i - 1] = max(mpre[i - 1], mpre[i])
        changed = np.flatnonzero(mrec[1:] != mrec[:-1])
        return float(np.sum((mrec[changed + 1] - mrec[changed]) * mpre[changed + 1]))
    run("check_average_precision", average_precision=voc_devkit)


# ------------------------------------------------------------------------ RoI Align
def roi_align_variant(*, offset=0.5, corners=False, quantize=False, nearest=False, scale=True, reduce=np.mean,
                      swap=False, clamp=False):
    def roi_align(features, boxes, batch_index, output_size, spatial_scale, sampling_ratio=2):
        _, C, H, W = features.shape
        out_h, out_w = output_size
        s = sampling_ratio
        out = np.zeros((len(boxes), C, out_h, out_w), dtype=features.dtype)

        def value(fmap, r, c):
            return fmap[:, r, c] if 0 <= r < H and 0 <= c < W else np.zeros(C)

        for k, (box, image) in enumerate(zip(boxes, batch_index)):
            x1, y1, x2, y2 = np.asarray(box, dtype=float) * (spatial_scale if scale else 1.0)
            if swap:
                x1, y1, x2, y2 = y1, x1, y2, x2
            if quantize:
                x1, y1, x2, y2 = np.round([x1, y1, x2, y2])
            for i in range(out_h):
                for j in range(out_w):
                    samples = []
                    for v in range(s):
                        for u in range(s):
                            fraction_y, fraction_x = ((v, u) if corners else (v + 0.5, u + 0.5))
                            py = y1 + (i + fraction_y / s) * (y2 - y1) / out_h - offset
                            px = x1 + (j + fraction_x / s) * (x2 - x1) / out_w - offset
                            fmap = features[image]
                            if nearest:
                                samples.append(value(fmap, int(np.floor(py + 0.5)), int(np.floor(px + 0.5))))
                                continue
                            if clamp:       # torchvision's rule: 0 beyond one pixel out, else onto the border
                                if py < -1 or py > H or px < -1 or px > W:
                                    samples.append(np.zeros(C))
                                    continue
                                py, px = min(max(py, 0.0), H - 1), min(max(px, 0.0), W - 1)
                            r0, c0 = int(np.floor(py)), int(np.floor(px))
                            a, b = py - r0, px - c0
                            samples.append((1 - a) * (1 - b) * value(fmap, r0, c0) + (1 - a) * b * value(fmap, r0, c0 + 1)
                                           + a * (1 - b) * value(fmap, r0 + 1, c0) + a * b * value(fmap, r0 + 1, c0 + 1))
                    out[k, :, i, j] = reduce(np.stack(samples), axis=0)
        return out
    return roi_align


def test_roi_align_with_loops_passes():
    run("check_roi_align", roi_align=roi_align_variant())


@pytest.mark.parametrize("variant, match", [
    ({"quantize": True}, "RoI Pool's quantization"),
    ({"corners": True}, "bins' corners"),
    ({"nearest": True}, "nearest feature pixel"),
    ({"offset": 0.0}, "half-pixel offset is missing"),
    ({"scale": False}, "not scaled to the feature map"),
    ({"reduce": np.max}, "AVERAGES"),
    ({"swap": True}, "x and y are swapped"),
])
def test_roi_align_mistakes_are_named(variant, match):
    fails("check_roi_align", match, roi_align=roi_align_variant(**variant))


def test_roi_align_clamping_at_the_border_like_torchvision_is_named():
    fails("check_roi_align", "torchvision's rule", roi_align=roi_align_variant(clamp=True))


def test_roi_align_calling_grid_sample_is_named():
    def with_torch(features, boxes, batch_index, output_size, spatial_scale, sampling_ratio=2):
        out_h, out_w = output_size
        s, (H, W) = sampling_ratio, features.shape[2:]
        crops = []
        for box, image in zip(boxes, batch_index):
            x1, y1, x2, y2 = np.asarray(box, dtype=float) * spatial_scale
            ys = y1 + (torch.arange(out_h * s, dtype=torch.float64) + 0.5) * (y2 - y1) / (out_h * s)
            xs = x1 + (torch.arange(out_w * s, dtype=torch.float64) + 0.5) * (x2 - x1) / (out_w * s)
            gy, gx = torch.meshgrid(2 * ys / H - 1, 2 * xs / W - 1, indexing="ij")
            samples = F.grid_sample(torch.from_numpy(np.ascontiguousarray(features[image:image + 1], dtype=np.float64)),
                                    torch.stack([gx, gy], -1)[None], align_corners=False)
            crops.append(F.avg_pool2d(samples, s)[0].numpy())
        return np.stack(crops).astype(features.dtype)
    fails("check_roi_align", "written by hand with NumPy", roi_align=with_torch)


# ------------------------------------------------------------------------ anchors
def anchors_variant(*, centre=0.5, w_over_h=False, keep_area=True, location_last=False, column_major=False,
                    dtype=torch.float32):
    def make_anchors(feature_height, feature_width, stride, sizes, aspect_ratios):
        shapes = []
        for s in sizes:
            for r in aspect_ratios:
                r = 1 / r if w_over_h else r
                shapes.append((s / math.sqrt(r), s * math.sqrt(r)) if keep_area else (s, s * r))
        locations = ([(i, j) for j in range(feature_width) for i in range(feature_height)] if column_major
                     else [(i, j) for i in range(feature_height) for j in range(feature_width)])
        pairs = ([(loc, shape) for shape in shapes for loc in locations] if location_last
                 else [(loc, shape) for loc in locations for shape in shapes])
        rows = [[(j + centre) * stride - w / 2, (i + centre) * stride - h / 2,
                 (j + centre) * stride + w / 2, (i + centre) * stride + h / 2] for (i, j), (w, h) in pairs]
        return torch.tensor(rows, dtype=dtype)
    return make_anchors


def test_anchors_built_with_loops_pass():
    run("check_make_anchors", make_anchors=anchors_variant())


@pytest.mark.parametrize("variant, match", [
    ({"centre": 0.0}, "cells' corners"),
    ({"w_over_h": True}, "taken as w / h"),
    ({"keep_area": False}, "do not keep the area"),
    ({"location_last": True}, "not consecutive"),
    ({"column_major": True}, "column by column"),
    ({"dtype": torch.float64}, "dtype float64, expected float32"),
])
def test_anchor_mistakes_are_named(variant, match):
    fails("check_make_anchors", match, make_anchors=anchors_variant(**variant))


# ------------------------------------------------------------------------ smooth L1 and focal loss
def test_smooth_l1_as_huber_is_named():
    def huber(prediction, target, beta=1.0):
        d = (prediction - target).abs()
        return torch.where(d < beta, 0.5 * d ** 2, beta * (d - 0.5 * beta))
    fails("check_smooth_l1_loss", "Huber loss", smooth_l1_loss=huber)


@pytest.mark.parametrize("quadratic, linear, match", [
    (lambda d, beta: 0.5 * d ** 2 * beta, lambda d, beta: d - 0.5 * beta, "multiplies by beta"),
    (lambda d, beta: d ** 2 / beta, lambda d, beta: d - beta, "factor 1/2 is missing"),
    (lambda d, beta: 0.5 * d ** 2 / beta, lambda d, beta: d - 0.5, "do not meet"),
])
def test_smooth_l1_formula_mistakes_are_named(quadratic, linear, match):
    def wrong(prediction, target, beta=1.0):
        d = (prediction - target).abs()
        return torch.where(d < beta, quadratic(d, beta), linear(d, beta))
    fails("check_smooth_l1_loss", match, smooth_l1_loss=wrong)


def test_smooth_l1_switching_at_one_is_named():
    def wrong(prediction, target, beta=1.0):
        d = (prediction - target).abs()
        return torch.where(d < 1, 0.5 * d ** 2 / beta, d - 0.5 * beta)
    fails("check_smooth_l1_loss", r"switch is at \|d\| = 1", smooth_l1_loss=wrong)


@pytest.mark.parametrize("builtin", [
    lambda p, t, beta=1.0: F.smooth_l1_loss(p, t, beta=beta, reduction="none"),
    lambda p, t, beta=1.0: F.huber_loss(p, t, delta=beta, reduction="none") / beta,
])
def test_smooth_l1_calling_torch_is_named(builtin):
    fails("check_smooth_l1_loss", "calls torch", smooth_l1_loss=builtin)


def test_smooth_l1_without_gradient_is_named(solution):
    right = solution["smooth_l1_loss"]
    fails("check_smooth_l1_loss", "not differentiable",
          smooth_l1_loss=lambda p, t, beta=1.0: right(p.detach(), t, beta))


@pytest.mark.parametrize("gradient, match", [
    (lambda d, beta=1.0: d, "not capped"),
    (lambda d, beta=1.0: torch.where(d.abs() < beta, d, torch.sign(d)), r"d / beta \(the derivative"),
    (lambda d, beta=1.0: torch.where(d.abs() < beta, d, beta * torch.sign(d)), "Huber convention"),
])
def test_smooth_l1_gradient_mistakes_are_named(gradient, match):
    fails("check_smooth_l1_loss", match, smooth_l1_gradient=gradient)


def test_smooth_l1_and_its_gradient_with_clamp_pass():
    def clamped(prediction, target, beta=1.0):
        d = (prediction - target).abs()
        inner = d.clamp(max=beta)
        return inner ** 2 / (2 * beta) + (d - inner)
    run("check_smooth_l1_loss", smooth_l1_loss=clamped,
        smooth_l1_gradient=lambda d, beta=1.0: (d / beta).clamp(-1.0, 1.0))


def focal_variant(*, alpha_t=True, focus="right", modulate=True, naive=False):
    def focal(logits, targets, alpha=0.25, gamma=2.0):
        p = torch.sigmoid(logits)
        if naive:
            ce = -(targets * torch.log(p) + (1 - targets) * torch.log(1 - p))
        else:
            ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
        p_t = p * targets + (1 - p) * (1 - targets)
        weight = alpha * targets + (1 - alpha) * (1 - targets) if alpha_t else alpha
        factor = {"right": 1 - p_t, "p": p, "p_t": p_t}[focus] ** gamma if modulate else 1.0
        return weight * factor * ce
    return focal


@pytest.mark.parametrize("variant, match", [
    ({"alpha_t": False}, "alpha weights every element"),
    ({"focus": "p"}, "modulating factor uses p"),
    ({"focus": "p_t"}, r"modulating factor is p_t\*\*gamma"),
    ({"modulate": False}, "modulating factor .* is missing"),
    ({"naive": True}, "not finite"),
])
def test_focal_loss_mistakes_are_named(variant, match):
    fails("check_sigmoid_focal_loss", match, sigmoid_focal_loss=focal_variant(**variant))


def test_focal_loss_with_logsigmoid_passes():
    def with_logsigmoid(logits, targets, alpha=0.25, gamma=2.0):
        log_p_t = targets * F.logsigmoid(logits) + (1 - targets) * F.logsigmoid(-logits)
        alpha_t = torch.where(targets > 0.5, torch.full_like(logits, alpha), torch.full_like(logits, 1 - alpha))
        return -alpha_t * (1 - torch.exp(log_p_t)) ** gamma * log_p_t
    run("check_sigmoid_focal_loss", sigmoid_focal_loss=with_logsigmoid)


# ------------------------------------------------------------------------ anchor assignment
def assign_variant(*, best_anchor=True, ignore=True, strict=False, dtype=torch.int64):
    def assign(iou, positive_threshold=0.5, negative_threshold=0.4):
        if iou.shape[1] == 0:
            return torch.full((iou.shape[0],), -1, dtype=dtype)
        best, box = iou.max(dim=1)
        out = torch.where(best < negative_threshold, -1, -2 if ignore else -1)
        positive = best > positive_threshold if strict else best >= positive_threshold
        out = torch.where(positive, box, out)
        if best_anchor:
            out[iou.argmax(dim=0)] = torch.arange(iou.shape[1])
        return out.to(dtype)
    return assign


@pytest.mark.parametrize("variant, match", [
    ({"best_anchor": False}, "left without a positive anchor"),
    ({"ignore": False}, r"IGNORED \(-2\), not background"),
    ({"strict": True}, "EQUAL to positive_threshold is positive"),
    ({"dtype": torch.int32}, "int64 tensor"),
])
def test_assignment_mistakes_are_named(variant, match):
    fails("check_assign_anchors", match, assign_anchors=assign_variant(**variant))


def test_assignment_with_loops_passes():
    def loops(iou, positive_threshold=0.5, negative_threshold=0.4):
        rows = iou.tolist()
        out = []
        for row in rows:
            best = max(range(len(row)), key=lambda g: (row[g], -g)) if row else None
            out.append(-1 if best is None or row[best] < negative_threshold else best if row[best] >= positive_threshold else -2)
        for g in range(iou.shape[1]):
            out[max(range(len(rows)), key=lambda a: (rows[a][g], -a))] = g
        return torch.tensor(out, dtype=torch.int64)
    run("check_assign_anchors", assign_anchors=loops)


# ------------------------------------------------------------------------ detection head
def head_class(solution, *, layout="right", bias="prior", init=True):
    base = solution["DetectionHead"]

    class Head(base):
        def __init__(self, in_channels, num_anchors, num_classes, prior=0.01):
            super().__init__(in_channels, num_anchors, num_classes, prior)
            if not init:
                torch.nn.init.kaiming_uniform_(self.cls_conv.weight, a=math.sqrt(5))
            with torch.no_grad():
                if bias == "zero":
                    self.cls_conv.bias.zero_()
                elif bias == "flipped":
                    self.cls_conv.bias.fill_(math.log((1 - prior) / prior))

        def forward(self, features):
            if layout == "right":
                return super().forward(features)
            n, _, h, w = features.shape
            outputs = []
            for conv, k in ((self.cls_conv, self.num_classes), (self.box_conv, 4)):
                out = conv(features)
                if layout == "no_permute":
                    outputs.append(out.reshape(n, -1, k))
                elif layout == "class_major":
                    outputs.append(out.reshape(n, k, self.num_anchors, h, w).permute(0, 3, 4, 2, 1).reshape(n, -1, k))
                else:  # location_last
                    outputs.append(out.reshape(n, self.num_anchors, k, h, w).permute(0, 1, 3, 4, 2).reshape(n, -1, k))
            return tuple(outputs)
    return Head


@pytest.mark.parametrize("variant, match", [
    ({"layout": "no_permute"}, "without moving the channels last"),
    ({"layout": "class_major"}, "class-major"),
    ({"layout": "location_last"}, "must be consecutive"),
    ({"bias": "zero"}, "class bias is 0"),
    ({"bias": "flipped"}, "1 - prior"),
    ({"init": False}, r"does not look like N\(0, 0.01\^2\)"),
])
def test_head_mistakes_are_named(solution, variant, match):
    fails("check_detection_head", match, DetectionHead=head_class(solution, **variant))


def test_head_with_view_and_permute_passes(solution):
    base = solution["DetectionHead"]

    class Head(base):
        def forward(self, features):
            n, _, h, w = features.shape
            cls = self.cls_conv(features).view(n, self.num_anchors, self.num_classes, h, w).permute(0, 3, 4, 1, 2)
            box = self.box_conv(features).view(n, self.num_anchors, 4, h, w).permute(0, 3, 4, 1, 2)
            return cls.reshape(n, -1, self.num_classes), box.reshape(n, -1, 4)
    run("check_detection_head", DetectionHead=Head)


# ------------------------------------------------------------------------ Dice and pixel IoU
def dice_variant(*, squared=False, per_image=False, background=True, sigmoid=False, hard=False):
    def dice(logits, target, eps=1.0):
        C = logits.shape[1]
        p = torch.sigmoid(logits) if sigmoid else torch.softmax(logits, dim=1)
        if hard:
            p = F.one_hot(p.argmax(dim=1), C).permute(0, 3, 1, 2).to(logits.dtype)
        g = F.one_hot(target, C).permute(0, 3, 1, 2).to(logits.dtype)
        axes = (2, 3) if per_image else (0, 2, 3)
        power = 2 if squared else 1
        value = (2 * (p * g).sum(axes) + eps) / ((p ** power).sum(axes) + (g ** power).sum(axes) + eps)
        return 1 - (value[..., 1:] if not background else value).mean()
    return dice


@pytest.mark.parametrize("variant, match", [
    ({"squared": True}, "V-Net's form"),
    ({"per_image": True}, "image by image"),
    ({"background": False}, "background class is left out"),
    ({"sigmoid": True}, "sigmoid"),
    ({"hard": True}, "not differentiable"),
])
def test_dice_mistakes_are_named(variant, match):
    fails("check_dice_loss", match, dice_loss=dice_variant(**variant))


def test_dice_with_einsum_passes():
    def with_einsum(logits, target, eps=1.0):
        p = torch.softmax(logits, dim=1)
        g = torch.zeros_like(p).scatter_(1, target[:, None], 1.0)
        overlap = torch.einsum("nchw,nchw->c", p, g)
        return 1 - ((2 * overlap + eps) / (torch.einsum("nchw->c", p) + torch.einsum("nchw->c", g) + eps)).mean()
    run("check_dice_loss", dice_loss=with_einsum)


def pixel_iou_variant(*, subtract=True, recall=False, absent=np.nan):
    def pixel_iou(prediction, target, num_classes):
        out = np.zeros(num_classes)
        for c in range(num_classes):
            p, t = prediction == c, target == c
            inter = float((p & t).sum())
            union = float(p.sum() + t.sum() - (inter if subtract else 0.0))
            out[c] = absent if union == 0 else inter / (float(t.sum()) if recall else union)
        return out
    return pixel_iou


@pytest.mark.parametrize("variant, match", [
    ({"subtract": False}, "counts the overlap twice"),
    ({"recall": True}, "recall"),
    ({"absent": 0.0}, "return NaN, not 0"),
])
def test_pixel_iou_mistakes_are_named(variant, match):
    fails("check_pixel_iou", match, pixel_iou=pixel_iou_variant(**variant))


def test_pixel_iou_with_a_loop_over_classes_passes():
    run("check_pixel_iou", pixel_iou=pixel_iou_variant())


# ------------------------------------------------------------------------ U-Net
def unet_class(solution, forward):
    class UNet(solution["TinyUNet"]):
        pass
    UNet.forward = forward
    return UNet


def test_unet_with_swapped_concatenation_is_named(solution):
    def swapped(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottom(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        return self.classifier(self.dec1(torch.cat([self.up1(d2), e1], dim=1)))
    fails("check_tiny_unet", "upsampled features first", TinyUNet=unet_class(solution, swapped))


def test_unet_without_skip_connections_is_named(solution):
    def no_skip(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottom(F.max_pool2d(e2, 2))
        return self.classifier(self.dec1(self.up1(self.dec2(self.up2(b)))))
    fails("check_tiny_unet", "expect the skip connection", TinyUNet=unet_class(solution, no_skip))


def test_unet_returning_probabilities_is_named(solution):
    right = solution["TinyUNet"].forward
    fails("check_tiny_unet", "returns probabilities",
          TinyUNet=unet_class(solution, lambda self, x: torch.softmax(right(self, x), dim=1)))


def test_unet_written_as_a_loop_over_levels_passes(solution):
    def levels(self, x):
        skips = []
        for block in (self.enc1, self.enc2):
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, kernel_size=2, stride=2)
        x = self.bottom(x)
        for up, dec in ((self.up2, self.dec2), (self.up1, self.dec1)):
            x = dec(torch.cat([skips.pop(), up(x)], dim=1))
        return self.classifier(x)
    run("check_tiny_unet", TinyUNet=unet_class(solution, levels))


# ------------------------------------------------------------------------ mAP against pycocotools
def _random_detections(rng, num_images, num_classes, size=64.0):
    """Ground truth and noisy detections (some duplicates, some false alarms, some misses)."""
    truth, detections = [], []
    for _ in range(num_images):
        g = int(rng.integers(0, 5))
        centres, sides = rng.uniform(8, size - 8, size=(g, 2)), rng.uniform(4, 16, size=(g, 2))
        gt_boxes = np.concatenate([centres - sides / 2, centres + sides / 2], axis=1).astype(np.float32)
        gt_labels = rng.integers(0, num_classes, size=g)
        truth.append((gt_boxes, gt_labels))
        picks = rng.integers(0, max(g, 1), size=int(rng.integers(0, 8))) if g else np.zeros(0, dtype=int)
        boxes = gt_boxes[picks] + rng.normal(0, 2.0, size=(len(picks), 4)) if g else np.zeros((0, 4))
        labels = np.where(rng.uniform(size=len(picks)) < 0.85, gt_labels[picks] if g else 0,
                          rng.integers(0, num_classes, size=len(picks)))
        alarms = int(rng.integers(0, 3))
        corner = rng.uniform(0, size - 10, size=(alarms, 2))
        boxes = np.concatenate([boxes, np.concatenate([corner, corner + rng.uniform(3, 10, size=(alarms, 2))], 1)])
        labels = np.concatenate([labels, rng.integers(0, num_classes, size=alarms)]).astype(np.int64)
        boxes = np.sort(boxes.reshape(-1, 2, 2), axis=1).reshape(-1, 4)      # valid corners after the noise
        detections.append((boxes.astype(np.float32), rng.uniform(0, 1, size=len(labels)), labels))
    return detections, truth


def _pycocotools_map(detections, truth, num_classes, thresholds):
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    def xywh(box):
        return [float(box[0]), float(box[1]), float(box[2] - box[0]), float(box[3] - box[1])]

    images, annotations, results = [], [], []
    for i, ((gt_boxes, gt_labels), (boxes, scores, labels)) in enumerate(zip(truth, detections)):
        images.append({"id": i, "width": 64, "height": 64})
        for box, label in zip(gt_boxes, gt_labels):
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": int(label), "bbox": xywh(box),
                                "area": float((box[2] - box[0]) * (box[3] - box[1])), "iscrowd": 0})
        results += [{"image_id": i, "category_id": int(label), "bbox": xywh(box), "score": float(score)}
                    for box, score, label in zip(boxes, scores, labels)]
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = {"images": images, "annotations": annotations,
                        "categories": [{"id": c} for c in range(num_classes)]}
        coco.createIndex()
        evaluation = COCOeval(coco, coco.loadRes(results), "bbox")
        evaluation.params.iouThrs = np.asarray(thresholds)
        evaluation.params.areaRng, evaluation.params.areaRngLbl = [[0, 1e10]], ["all"]
        evaluation.params.maxDets = [100]
        evaluation.evaluate()
        evaluation.accumulate()
    precision = evaluation.eval["precision"][:, :, :, 0, 0]            # (T, R, K), -1 for classes without truth
    per_class = np.where((precision > -1).all(axis=1), precision.mean(axis=1), np.nan)
    return float(np.mean(precision[precision > -1])), per_class


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_given_map_with_the_solution_matches_pycocotools(solution, seed):
    pytest.importorskip("pycocotools")
    rng = np.random.default_rng(seed)
    detections, truth = _random_detections(rng, num_images=25, num_classes=4)
    ours, ours_per_class = solution["mean_average_precision"](detections, truth, 4, solution["COCO_THRESHOLDS"],
                                                             recall_points=101)
    theirs, theirs_per_class = _pycocotools_map(detections, truth, 4, solution["COCO_THRESHOLDS"])
    np.testing.assert_allclose(ours_per_class, theirs_per_class, rtol=1e-12, atol=1e-12)
    assert ours == pytest.approx(theirs, abs=1e-12)
    ours_50, _ = solution["mean_average_precision"](detections, truth, 4, (0.5,), recall_points=101)
    assert ours_50 == pytest.approx(_pycocotools_map(detections, truth, 4, [0.5])[0], abs=1e-12)


def test_all_point_and_101_point_ap_differ_a_little(solution):
    rng = np.random.default_rng(5)
    detections, truth = _random_detections(rng, num_images=30, num_classes=3)
    all_point, _ = solution["mean_average_precision"](detections, truth, 3)
    coco_style, _ = solution["mean_average_precision"](detections, truth, 3, recall_points=101)
    assert all_point != coco_style and abs(all_point - coco_style) < 0.03
