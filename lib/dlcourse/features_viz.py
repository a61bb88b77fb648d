"""Pictures and test-set changes for the hand-made image features of notebook 01_knn.

The features themselves (a colour histogram, a histogram of oriented gradients) are the
student's to write; this module only draws them and changes images the way the notebook's
experiment needs:

- `perturb_images(images, kind)`: the same images dimmed, on a brighter background, or shifted
  by one pixel, to see which representation each change fools;
- `draw_hog(ax, image, cell_histograms, cell_size)`: an image with one star of line segments
  per cell, each segment along the edge direction of one orientation bin, as long as its share
  of the cell's gradient magnitude;
- `plot_accuracy_table(ax, accuracies)`: grouped bars, one group per test-set variant.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib.axes import Axes

PERTURBATIONS = ("original", "dimmed", "brighter background", "shifted 1 pixel")


def perturb_images(images: np.ndarray, kind: str) -> np.ndarray:
    """A changed copy of `images`, whose first three axes are (N, H, W) (a channel axis may follow).

    kind: "original" (a copy), "dimmed" (every value times 0.5), "brighter background"
    (0.6 * value + 0.4: the contrast falls and black becomes grey), or "shifted 1 pixel" (one
    pixel to the right; the new first column is 0). Values stay in [0, 1]; dtype is kept.
    """
    images = np.asarray(images)
    if images.ndim < 3:
        raise ValueError(f"expected images of shape (N, H, W) or (N, H, W, C), got {images.shape}")
    if kind == "original":
        return images.copy()
    if kind == "dimmed":
        return (images * 0.5).astype(images.dtype)
    if kind == "brighter background":
        return (0.6 * images + 0.4).astype(images.dtype)
    if kind == "shifted 1 pixel":
        shifted = np.roll(images, 1, axis=2)
        shifted[:, :, 0] = 0
        return shifted
    raise ValueError(f"kind must be one of {PERTURBATIONS}, got {kind!r}")


def hog_segments(cell_histograms: np.ndarray, cell_size: int) -> np.ndarray:
    """Line segments that draw a HOG: shape (Hc * Wc * B, 2, 2), each [[x0, y0], [x1, y1]].

    cell_histograms: (Hc, Wc, B), non-negative; bin b holds gradients of orientation about
    (b + 0.5) * 180 / B degrees, measured from the x axis (columns) towards y (rows, downwards).
    Each segment is centred on its cell, runs along the EDGE (perpendicular to the gradient),
    and its length is cell_size times the bin's share of the largest bin of the whole image.
    Coordinates are pixel coordinates of imshow (x = column, y = row, pixel centres at integers).
    """
    cell_histograms = np.asarray(cell_histograms, dtype=np.float64)
    if cell_histograms.ndim != 3:
        raise ValueError(f"expected cell_histograms of shape (Hc, Wc, B), got {cell_histograms.shape}")
    num_cell_rows, num_cell_cols, num_bins = cell_histograms.shape
    largest = cell_histograms.max()
    lengths = cell_histograms / largest if largest > 0 else np.zeros_like(cell_histograms)
    angles = np.deg2rad((np.arange(num_bins) + 0.5) * 180.0 / num_bins)
    edge = np.stack([-np.sin(angles), np.cos(angles)], axis=1)  # (B, 2): perpendicular to the gradient
    rows, cols = np.meshgrid(np.arange(num_cell_rows), np.arange(num_cell_cols), indexing="ij")
    centres = np.stack([cols, rows], axis=-1) * cell_size + (cell_size - 1) / 2.0  # (Hc, Wc, 2) as (x, y)
    half = 0.5 * cell_size * lengths[..., None] * edge  # (Hc, Wc, B, 2)
    starts, ends = centres[:, :, None, :] - half, centres[:, :, None, :] + half
    return np.stack([starts, ends], axis=-2).reshape(-1, 2, 2)


def draw_hog(ax: Axes, image: np.ndarray, cell_histograms: np.ndarray, cell_size: int,
             title: str | None = None) -> None:
    """Draw a grey image (H, W) in [0, 1] with its HOG (Hc, Wc, B) on top, and the cell grid."""
    from matplotlib.collections import LineCollection

    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f"expected a grey image of shape (H, W), got {image.shape}")
    ax.imshow(image, cmap="gray", vmin=0, vmax=1)
    ax.add_collection(LineCollection(hog_segments(cell_histograms, cell_size), colors="#ff7f0e", linewidths=1.5))
    num_cell_rows, num_cell_cols = np.asarray(cell_histograms).shape[:2]
    for r in range(num_cell_rows + 1):
        ax.axhline(r * cell_size - 0.5, color="#1f77b4", linewidth=0.5, alpha=0.6)
    for c in range(num_cell_cols + 1):
        ax.axvline(c * cell_size - 0.5, color="#1f77b4", linewidth=0.5, alpha=0.6)
    ax.set_xlim(-0.5, image.shape[1] - 0.5)
    ax.set_ylim(image.shape[0] - 0.5, -0.5)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=10)


def plot_accuracy_table(ax: Axes, accuracies: Mapping[str, Mapping[str, float]],
                        chance: float | None = None) -> None:
    """Grouped bars: accuracies[representation][test-set variant] as fractions in [0, 1].

    One group of bars per test-set variant, one colour per representation, the value in % on
    each bar; `chance` draws the accuracy of guessing as a dotted line.
    """
    names = list(accuracies)
    variants = list(next(iter(accuracies.values()))) if names else []
    width = 0.8 / max(len(names), 1)
    for i, name in enumerate(names):
        values = [100 * accuracies[name][variant] for variant in variants]
        positions = np.arange(len(variants)) + (i - (len(names) - 1) / 2) * width
        bars = ax.bar(positions, values, width=width, label=name)
        ax.bar_label(bars, fmt="%.0f", fontsize=7, padding=1)
    if chance is not None:
        ax.axhline(100 * chance, color="k", linestyle=":", linewidth=1, label="chance")
    ax.set_xticks(np.arange(len(variants)), variants)
    ax.set_ylim(0, 105)
    ax.set_ylabel("test accuracy (%)")
    ax.set_xlabel("test images")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
