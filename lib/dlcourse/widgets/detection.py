"""Two widgets of notebook 08_detection: a pair of boxes with their IoU, GIoU and encoding, and a
detector's output on test canvases with its score and NMS thresholds.

Both are drawn with the student's own functions, passed in as arguments (the library holds no
solution): before those are written, the figure says "not implemented yet". The pure functions
compute what is shown and are tested without a browser:

- `box_pair_summary(box_a, box_b, iou_fn, giou_fn, encode_fn)`: IoU, GIoU and the encoding of
  box b relative to box a, plus the intersection and the enclosing box to draw;
- `filter_detections(candidates, score_threshold, iou_threshold, nms_fn)`: the detections kept;
- `image_map(detections, truth, num_classes, map_fn)`: the mAP@0.5 of one image.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from matplotlib.patches import Rectangle

from dlcourse.viz import draw_boxes

Box = Sequence[float]


def _pair(box: Box) -> torch.Tensor:
    return torch.tensor([list(map(float, box))], dtype=torch.float64)


def box_pair_summary(box_a: Box, box_b: Box, iou_fn: Callable, giou_fn: Callable, encode_fn: Callable) -> dict:
    """What the box-pair widget shows for boxes a (the anchor) and b (the object), each (x1, y1, x2, y2).

    iou_fn, giou_fn: pairwise functions (N, 4), (M, 4) -> (N, M) tensors (like box_iou);
    encode_fn: (boxes (N, 4), anchors (N, 4)) -> (N, 4) encodings t (like encode_boxes).
    Returns {"iou": float, "giou": float, "t": (4,) float64 array, the encoding of b relative to a,
    "intersection": (x1, y1, x2, y2) tuple or None when the boxes do not overlap,
    "enclosing": (x1, y1, x2, y2) tuple of the smallest box holding both}.
    """
    a, b = _pair(box_a), _pair(box_b)
    left, top = max(box_a[0], box_b[0]), max(box_a[1], box_b[1])
    right, bottom = min(box_a[2], box_b[2]), min(box_a[3], box_b[3])
    return {
        "iou": float(iou_fn(a, b).reshape(-1)[0]),
        "giou": float(giou_fn(a, b).reshape(-1)[0]),
        "t": np.asarray(encode_fn(b, a), dtype=np.float64).reshape(4),
        "intersection": (left, top, right, bottom) if left < right and top < bottom else None,
        "enclosing": (min(box_a[0], box_b[0]), min(box_a[1], box_b[1]),
                      max(box_a[2], box_b[2]), max(box_a[3], box_b[3])),
    }


def draw_box_pair(fig, box_a: Box, box_b: Box, iou_fn: Callable, giou_fn: Callable, encode_fn: Callable,
                  extent: float = 100.0) -> None:
    """Both boxes on an extent x extent canvas, their intersection shaded, the enclosing box dashed,
    and the numbers in the title."""
    summary = box_pair_summary(box_a, box_b, iou_fn, giou_fn, encode_fn)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_xlim(0, extent)
    ax.set_ylim(extent, 0)                                  # y grows downwards, as in an image
    ax.set_aspect("equal")
    x1, y1, x2, y2 = summary["enclosing"]
    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, linestyle="--", edgecolor="gray",
                           label="C: smallest enclosing box"))
    if summary["intersection"] is not None:
        x1, y1, x2, y2 = summary["intersection"]
        ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, color="tab:purple", alpha=0.35, label="intersection"))
    for box, colour, name in ((box_a, "tab:blue", "a (anchor)"), (box_b, "tab:orange", "b (object)")):
        ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1], fill=False, linewidth=2,
                               edgecolor=colour, label=name))
    t = summary["t"]
    ax.set_title(f"IoU = {summary['iou']:.3f}   GIoU = {summary['giou']:.3f}\n"
                 f"encoding of b from a: t = ({t[0]:.2f}, {t[1]:.2f}, {t[2]:.2f}, {t[3]:.2f})", fontsize=10)
    ax.set(xlabel="x (pixels)", ylabel="y (pixels)")
    ax.legend(loc="lower right", fontsize=8)


def box_pair_explorer(iou_fn: Callable, giou_fn: Callable, encode_fn: Callable, extent: int = 100):
    """Sliders for the position (x1, y1) and size (w, h) of two boxes; shows IoU, GIoU and the encoding.

    iou_fn, giou_fn, encode_fn: the notebook's box_iou, generalized_box_iou and encode_boxes.
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    def slider(value: int, description: str, low: int = 0) -> widgets.IntSlider:
        return widgets.IntSlider(value=value, min=low, max=extent, description=description,
                                 continuous_update=False)

    controls = {
        "ax1": slider(20, "a: x1"), "ay1": slider(25, "a: y1"), "aw": slider(30, "a: width", 1),
        "ah": slider(40, "a: height", 1),
        "bx1": slider(35, "b: x1"), "by1": slider(35, "b: y1"), "bw": slider(40, "b: width", 1),
        "bh": slider(30, "b: height", 1),
    }

    def draw(fig, ax1, ay1, aw, ah, bx1, by1, bw, bh):
        draw_box_pair(fig, (ax1, ay1, ax1 + aw, ay1 + ah), (bx1, by1, bx1 + bw, by1 + bh), iou_fn, giou_fn,
                      encode_fn, extent=extent)

    return interactive_figure(draw, controls, figsize=(5.2, 5.4))


def filter_detections(candidates: Sequence[Any], score_threshold: float, iou_threshold: float,
                      nms_fn: Callable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The detections of one image that score above score_threshold and survive NMS at iou_threshold.

    candidates: (boxes (K, 4), scores (K,), labels (K,)) tensors; nms_fn(boxes, scores, labels, iou_threshold)
    -> kept indices (like batched_nms). Returns (boxes (D, 4), scores (D,), labels (D,)) NumPy arrays,
    by decreasing score.
    """
    boxes, scores, labels = (torch.as_tensor(value) for value in candidates)
    above = scores > score_threshold
    boxes, scores, labels = boxes[above], scores[above], labels[above]
    kept = torch.as_tensor(nms_fn(boxes, scores, labels, iou_threshold), dtype=torch.int64)
    return boxes[kept].numpy(), scores[kept].numpy(), labels[kept].numpy()


def image_map(detections: tuple, truth: tuple, num_classes: int, map_fn: Callable) -> float:
    """mAP@0.5 of one image: map_fn([detections], [truth], num_classes) with map_fn like the notebook's
    mean_average_precision (returning (mAP, per-class AP)); NaN for an image without objects."""
    if len(truth[1]) == 0:
        return float("nan")
    return float(map_fn([detections], [truth], num_classes)[0])


def detection_explorer(images: np.ndarray, candidates: Sequence[Any], ground_truths: Sequence[tuple],
                       class_names: Sequence[str], nms_fn: Callable, map_fn: Callable):
    """Sliders for the test image, the score threshold and the NMS IoU threshold.

    images: (N, H, W); candidates: per image (boxes, scores, labels) before NMS; ground_truths: per image
    (boxes (G, 4), labels (G,)); nms_fn: like batched_nms; map_fn: like mean_average_precision.
    Shows the kept detections against the truth, their count and the image's mAP@0.5.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    def draw(fig, index, score_threshold, iou_threshold):
        boxes, scores, labels = filter_detections(candidates[index], score_threshold, iou_threshold, nms_fn)
        value = image_map((boxes, scores, labels), ground_truths[index], len(class_names), map_fn)
        ax = fig.add_subplot(1, 1, 1)
        draw_boxes(images[index], ground_truths[index][0], ax=ax, color="lime", title="")
        draw_boxes(images[index], boxes, labels=labels, scores=scores, class_names=class_names, ax=ax,
                   color="tab:orange", title="")
        truth = ", ".join(class_names[int(label)] for label in ground_truths[index][1])
        ax.set_title(f"{len(boxes)} detection{'' if len(boxes) == 1 else 's'} kept (truth, green: {truth})\n"
                     f"score > {score_threshold:.2f}, NMS IoU {iou_threshold:.2f}: image mAP@0.5 = {value:.3f}",
                     fontsize=10)

    controls = {
        "index": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image",
                                   continuous_update=False),
        "score_threshold": widgets.FloatSlider(value=0.3, min=0.05, max=0.95, step=0.05, description="score >",
                                               continuous_update=False),
        "iou_threshold": widgets.FloatSlider(value=0.5, min=0.05, max=1.0, step=0.05, description="NMS IoU",
                                             continuous_update=False),
    }
    return interactive_figure(draw, controls, figsize=(5.4, 5.8))
