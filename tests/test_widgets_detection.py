"""The widgets of 08_detection: pure functions against hand cases, widgets headless.

The widgets draw with the student's functions, which are passed in; here small reference
versions written for the tests play that part (the library holds no solution).
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from dlcourse.widgets.detection import (box_pair_explorer, box_pair_summary, detection_explorer, filter_detections,
                                        image_map)


def iou(a, b):
    """Pairwise IoU, one pair at a time."""
    out = torch.zeros(len(a), len(b), dtype=torch.float64)
    for i, (ax1, ay1, ax2, ay2) in enumerate(a.tolist()):
        for j, (bx1, by1, bx2, by2) in enumerate(b.tolist()):
            inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
            out[i, j] = inter / ((ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter)
    return out


def giou(a, b):
    out = iou(a, b)
    for i, (ax1, ay1, ax2, ay2) in enumerate(a.tolist()):
        for j, (bx1, by1, bx2, by2) in enumerate(b.tolist()):
            inter = max(0.0, min(ax2, bx2) - max(ax1, bx1)) * max(0.0, min(ay2, by2) - max(ay1, by1))
            union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter
            hull = (max(ax2, bx2) - min(ax1, bx1)) * (max(ay2, by2) - min(ay1, by1))
            out[i, j] -= (hull - union) / hull
    return out


def encode(boxes, anchors):
    rows = []
    for (x1, y1, x2, y2), (a1, b1, a2, b2) in zip(boxes.tolist(), anchors.tolist()):
        rows.append([((x1 + x2) - (a1 + a2)) / 2 / (a2 - a1), ((y1 + y2) - (b1 + b2)) / 2 / (b2 - b1),
                     math.log((x2 - x1) / (a2 - a1)), math.log((y2 - y1) / (b2 - b1))])
    return torch.tensor(rows, dtype=torch.float64)


def nms_per_class(boxes, scores, labels, iou_threshold):
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    overlaps = iou(boxes.double(), boxes.double()) if len(boxes) else None
    kept = []
    for i in order:
        if all(labels[j] != labels[i] or overlaps[j, i] <= iou_threshold for j in kept):
            kept.append(i)
    return torch.tensor(kept, dtype=torch.int64)


def map_one_image(detections, truths, num_classes):
    """mAP@0.5 of images whose detections are all right or all wrong (enough for these tests)."""
    (boxes, _scores, labels), (gt_boxes, gt_labels) = detections[0], truths[0]
    aps = []
    for c in set(np.asarray(gt_labels).tolist()):
        mine = np.flatnonzero(labels == c)
        hits = [iou(torch.tensor(boxes[mine[k:k + 1]], dtype=torch.float64),
                    torch.tensor(gt_boxes[gt_labels == c], dtype=torch.float64)).max().item() >= 0.5 for k in range(len(mine))]
        aps.append(float(any(hits)) / max(1, sum(gt_labels == c)) if hits else 0.0)
    return float(np.mean(aps)), None


def test_box_pair_summary_by_hand():
    summary = box_pair_summary((0, 0, 4, 4), (2, 2, 6, 6), iou, giou, encode)
    assert summary["iou"] == pytest.approx(4 / 28)
    assert summary["giou"] == pytest.approx(4 / 28 - (36 - 28) / 36)
    np.testing.assert_allclose(summary["t"], [0.5, 0.5, 0.0, 0.0])          # b moved by half of a, same size
    assert summary["intersection"] == (2, 2, 4, 4) and summary["enclosing"] == (0, 0, 6, 6)
    apart = box_pair_summary((0, 0, 1, 1), (3, 0, 4, 2), iou, giou, encode)
    assert apart["iou"] == 0 and apart["intersection"] is None and apart["giou"] == pytest.approx(-(8 - 3) / 8)
    np.testing.assert_allclose(apart["t"], [3.0, 0.5, 0.0, math.log(2)])


def test_box_pair_explorer_follows_its_sliders():
    widget = box_pair_explorer(iou, giou, encode)
    assert len(widget.controls) == 8
    title = widget.figure.axes[0].get_title()
    a = (20, 25, 50, 65)
    b = (35, 35, 75, 65)
    assert f"IoU = {box_pair_summary(a, b, iou, giou, encode)['iou']:.3f}" in title
    widget.controls["bx1"].value = 90                         # b: [90, 35, 130, 65] -> no overlap with a
    assert "IoU = 0.000" in widget.figure.axes[0].get_title()
    widget.controls["bx1"].value = 20
    widget.controls["by1"].value = 25
    widget.controls["bw"].value = 30
    widget.controls["bh"].value = 40                          # b == a
    assert "IoU = 1.000   GIoU = 1.000" in widget.figure.axes[0].get_title()
    assert "t = (0.00, 0.00, 0.00, 0.00)" in widget.figure.axes[0].get_title()


def test_box_pair_explorer_says_not_implemented():
    def stub(*_):
        raise NotImplementedError("box_iou")
    widget = box_pair_explorer(stub, giou, encode)
    texts = " ".join(t.get_text() for ax in widget.figure.axes for t in ax.texts)
    assert "Not implemented yet" in texts and "box_iou" in texts


def candidates_of_one_image():
    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 0.0, 11.0, 10.0], [20.0, 20.0, 30.0, 30.0],
                          [0.0, 0.0, 10.0, 10.0]])
    return boxes, torch.tensor([0.9, 0.8, 0.25, 0.6]), torch.tensor([1, 1, 2, 0])


def test_filter_detections_thresholds_scores_then_suppresses():
    boxes, scores, labels = filter_detections(candidates_of_one_image(), 0.5, 0.5, nms_per_class)
    np.testing.assert_array_equal(labels, [1, 0])             # box 1 suppressed by box 0, box 2 below 0.5
    np.testing.assert_allclose(scores, [0.9, 0.6], rtol=1e-6)
    assert boxes.shape == (2, 4) and isinstance(boxes, np.ndarray)
    _, _, labels = filter_detections(candidates_of_one_image(), 0.1, 0.95, nms_per_class)
    np.testing.assert_array_equal(labels, [1, 1, 0, 2])        # nothing overlaps by more than 0.95
    assert len(filter_detections(candidates_of_one_image(), 0.95, 0.5, nms_per_class)[0]) == 0


def test_image_map_and_an_image_without_objects():
    truth = (np.array([[0, 0, 10, 10]], dtype=np.float32), np.array([1]))
    detections = filter_detections(candidates_of_one_image(), 0.5, 0.5, nms_per_class)
    assert image_map(detections, truth, 3, map_one_image) == 1.0
    assert math.isnan(image_map(detections, (np.zeros((0, 4)), np.zeros(0, dtype=int)), 3, map_one_image))


def test_detection_explorer_updates_count_and_map():
    images = np.zeros((2, 32, 32), dtype=np.float32)
    candidates = [candidates_of_one_image(), candidates_of_one_image()]
    truths = [(np.array([[0, 0, 10, 10]], dtype=np.float32), np.array([1])),
              (np.array([[20, 20, 30, 30]], dtype=np.float32), np.array([2]))]
    widget = detection_explorer(images, candidates, truths, ["a", "b", "c"], nms_fn=nms_per_class, map_fn=map_one_image)
    assert set(widget.values()) == {"index", "score_threshold", "iou_threshold"}
    title = widget.figure.axes[0].get_title()
    assert "2 detections kept" in title and "mAP@0.5 = 1.000" in title      # score > 0.3 by default
    widget.controls["iou_threshold"].value = 1.0                              # no suppression at all
    assert "3 detections kept" in widget.figure.axes[0].get_title()
    widget.controls["index"].value = 1
    widget.controls["score_threshold"].value = 0.5                            # the only box of class 2 is dropped
    assert "mAP@0.5 = 0.000" in widget.figure.axes[0].get_title()


def test_detection_explorer_says_not_implemented():
    def stub(*_):
        raise NotImplementedError("batched_nms")
    widget = detection_explorer(np.zeros((1, 8, 8)), [candidates_of_one_image()],
                                [(np.zeros((0, 4)), np.zeros(0, dtype=int))], ["a", "b", "c"], stub, map_one_image)
    texts = " ".join(t.get_text() for ax in widget.figure.axes for t in ax.texts)
    assert "Not implemented yet" in texts
