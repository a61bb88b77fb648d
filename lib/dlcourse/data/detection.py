"""A toy detection set: dark canvases holding a few bright objects, with their boxes and labels.

`make_detection_canvas` gives images, boxes and labels (detection); `make_segmentation_canvas`
gives the same kind of images with a class label for every pixel (semantic segmentation).
Both are generated offline, deterministically per seed. Difficulty knobs: the image `size`,
the `noise` of the background and `clutter`, bright strokes that are not objects (a detector
must learn to ignore them; they are background in the segmentation masks).
"""

from __future__ import annotations

import numpy as np
from sklearn import datasets

SHAPE_NAMES = ["square", "circle", "triangle"]
DIGIT_NAMES = [str(digit) for digit in range(10)]
INK = 0.25  # a patch pixel brighter than this belongs to the object (its box and its mask)


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


def _stroke(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (rows, cols) of a straight stroke 1 px wide, size/8 to size/4 long, at a random angle."""
    length = rng.uniform(size / 8, size / 4)
    angle = rng.uniform(0, np.pi)
    y0, x0 = rng.uniform(0, size, size=2)
    steps = np.linspace(0.0, length, int(np.ceil(2 * length)) + 1)
    rows = np.clip((y0 + steps * np.sin(angle)).astype(int), 0, size - 1)
    cols = np.clip((x0 + steps * np.cos(angle)).astype(int), 0, size - 1)
    return rows, cols


def _add_clutter(image: np.ndarray, boxes: list[np.ndarray], count: int, rng: np.random.Generator) -> None:
    """Draw `count` bright strokes on `image` in place, each at least 1 px away from every box."""
    size = image.shape[0]
    for _ in range(count):
        for _attempt in range(20):
            rows, cols = _stroke(rng, size)
            stroke_box = np.array([cols.min(), rows.min(), cols.max() + 1, rows.max() + 1])
            if not _overlap(stroke_box, boxes):
                image[rows, cols] = np.maximum(image[rows, cols], rng.uniform(0.6, 1.0))
                break


def _render(num_images: int, size: int, max_objects: int, seed: int, objects: str, noise: float,
            clutter: int) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], np.ndarray, list[str]]:
    """Images, boxes, labels, masks (N, size, size) int64 (0 background, k + 1 for class k), class names."""
    if objects not in ("shapes", "digits"):
        raise ValueError(f"objects must be 'shapes' or 'digits', got {objects!r}")
    if clutter < 0:
        raise ValueError(f"clutter is a number of strokes per image (>= 0), got {clutter}")
    rng = np.random.default_rng(seed)
    digits = datasets.load_digits() if objects == "digits" else None
    class_names = SHAPE_NAMES if digits is None else DIGIT_NAMES
    images = np.clip(rng.normal(0.0, noise, size=(num_images, size, size)), 0.0, 1.0).astype(np.float32)
    masks = np.zeros((num_images, size, size), dtype=np.int64)
    all_boxes, all_labels = [], []
    for image, mask in zip(images, masks):
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
            mask[y1 : y1 + side, x1 : x1 + side][patch > INK] = label + 1
            rows, cols = np.nonzero(patch > INK)  # the tight box around the object's ink
            boxes.append(np.array([x1 + cols.min(), y1 + rows.min(), x1 + cols.max() + 1, y1 + rows.max() + 1]))
            labels.append(label)
        if clutter:
            _add_clutter(image, boxes, int(rng.integers(0, clutter + 1)), rng)
        all_boxes.append(np.array(boxes, dtype=np.float32).reshape(-1, 4))
        all_labels.append(np.array(labels, dtype=np.int64))
    return images, all_boxes, all_labels, masks, list(class_names)


def make_detection_canvas(
    num_images: int,
    size: int = 64,
    max_objects: int = 3,
    seed: int = 0,
    objects: str = "shapes",
    noise: float = 0.05,
    clutter: int = 0,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray], list[str]]:
    """Images with 1..max_objects non-overlapping objects each, deterministic per seed.

    objects: "shapes" (square, circle, triangle) or "digits" (sklearn's 8x8 digits upscaled).
    Objects are 3/16 to 3/8 of `size` wide, bright (0.6..1) on a dark noisy background
    (Gaussian noise of std `noise`, clipped to [0, 1]). clutter: each image also gets 0 to
    `clutter` bright straight strokes (size/8 to size/4 long) that are not objects and touch
    no box. Returns images (N, size, size) float32 in [0, 1]; boxes: N arrays (K_i, 4) float32
    of [x1, y1, x2, y2] in pixels (x is the column; x2, y2 exclusive, so width = x2 - x1);
    labels: N arrays (K_i,) int64; class_names.
    """
    images, boxes, labels, _, class_names = _render(num_images, size, max_objects, seed, objects, noise, clutter)
    return images, boxes, labels, class_names


def make_segmentation_canvas(
    num_images: int,
    size: int = 32,
    max_objects: int = 3,
    seed: int = 0,
    objects: str = "shapes",
    noise: float = 0.05,
    clutter: int = 0,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The canvases of `make_detection_canvas` with a class for every pixel instead of boxes.

    The same arguments (but 32 x 32 by default), and the same images as make_detection_canvas for
    the same arguments. Returns images (N, size, size)
    float32 in [0, 1]; masks (N, size, size) int64: 0 for background (clutter included),
    k + 1 where the ink (patch value > 0.25) of an object of class k is; class_names with
    "background" first (len = number of object classes + 1).
    """
    images, _, _, masks, class_names = _render(num_images, size, max_objects, seed, objects, noise, clutter)
    return images, masks, ["background", *class_names]
