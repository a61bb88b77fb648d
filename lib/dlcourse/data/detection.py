"""A toy detection set: dark canvases holding a few bright objects, with their boxes and labels."""

from __future__ import annotations

import numpy as np
from sklearn import datasets

SHAPE_NAMES = ["square", "circle", "triangle"]
DIGIT_NAMES = [str(digit) for digit in range(10)]


def _shape_mask(label: int, side: int) -> np.ndarray:
    """(side, side) bool mask of a filled square, circle or triangle touching all four edges."""
    rows, cols = np.mgrid[0:side, 0:side] + 0.5
    if SHAPE_NAMES[label] == "square":
        return np.ones((side, side), dtype=bool)
    if SHAPE_NAMES[label] == "circle":
        return (rows - side / 2) ** 2 + (cols - side / 2) ** 2 <= (side / 2) ** 2 + 0.5
    return np.abs(cols - side / 2) <= rows / 2 + 0.5  # triangle: apex up, base at the bottom


def _digit_patch(image: np.ndarray, side: int) -> np.ndarray:
    """An 8x8 digit in [0, 1] resized to (side, side) by nearest neighbour."""
    index = (np.arange(side) * 8) // side
    return image[np.ix_(index, index)]


def _overlap(box: np.ndarray, boxes: list[np.ndarray]) -> bool:
    return any(
        box[0] < other[2] + 1 and other[0] < box[2] + 1 and box[1] < other[3] + 1 and other[1] < box[3] + 1
        for other in boxes
    )


def make_detection_canvas(
    num_images: int,
    size: int = 64,
    max_objects: int = 3,
    seed: int = 0,
    objects: str = "shapes",
    noise: float = 0.05,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[str]]:
    """Images with 1..max_objects non-overlapping objects each, deterministic per seed.

    objects: "shapes" (square, circle, triangle) or "digits" (sklearn's 8x8 digits upscaled).
    Objects are 3/16 to 3/8 of `size` wide, bright (0.6..1) on a dark noisy background.
    Returns images (N, size, size) float32 in [0, 1]; boxes: N arrays (K_i, 4) float32 of
    [x1, y1, x2, y2] in pixels (x is the column; x2, y2 exclusive, so width = x2 - x1);
    labels: N arrays (K_i,) int64; class_names.
    """
    if objects not in ("shapes", "digits"):
        raise ValueError(f"objects must be 'shapes' or 'digits', got {objects!r}")
    rng = np.random.default_rng(seed)
    digits = datasets.load_digits() if objects == "digits" else None
    class_names = SHAPE_NAMES if digits is None else DIGIT_NAMES
    images = np.clip(rng.normal(0.0, noise, size=(num_images, size, size)), 0.0, 1.0).astype(np.float32)
    all_boxes, all_labels = [], []
    for image in images:
        boxes: list[np.ndarray] = []
        labels: list[int] = []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            for _attempt in range(20):  # a few tries to find a free spot; skip the object if none
                side = int(rng.integers(3 * size // 16, 3 * size // 8 + 1))
                x1, y1 = (int(v) for v in rng.integers(0, size - side + 1, size=2))
                if not _overlap(np.array([x1, y1, x1 + side, y1 + side]), boxes):
                    break
            else:
                continue
            if digits is None:
                label = int(rng.integers(len(SHAPE_NAMES)))
                patch = _shape_mask(label, side) * rng.uniform(0.6, 1.0)
            else:
                sample = int(rng.integers(len(digits.target)))
                label = int(digits.target[sample])
                patch = _digit_patch(digits.images[sample] / 16.0, side) * rng.uniform(0.6, 1.0)
            region = image[y1 : y1 + side, x1 : x1 + side]
            region[...] = np.maximum(region, patch)
            rows, cols = np.nonzero(patch > 0.25)  # the tight box around the object's ink
            boxes.append(np.array([x1 + cols.min(), y1 + rows.min(), x1 + cols.max() + 1, y1 + rows.max() + 1]))
            labels.append(label)
        all_boxes.append(np.array(boxes, dtype=np.float32).reshape(-1, 4))
        all_labels.append(np.array(labels, dtype=np.int64))
    return images, all_boxes, all_labels, list(class_names)
