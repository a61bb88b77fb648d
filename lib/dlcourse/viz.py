"""Plots used across the notebooks. Every function returns its matplotlib Figure and works headless."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator


def _numpy(values: Any) -> np.ndarray:
    """Arrays, tensors (any device) and lists as a numpy array."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


def _figure_and_axes(ax: Axes | None, figsize: tuple[float, float]) -> tuple[Figure, Axes]:
    if ax is None:
        return plt.subplots(figsize=figsize, layout="constrained")
    return ax.figure, ax


def _channels_last(images: np.ndarray) -> np.ndarray:
    """(N, H, W), (N, H, W, C) or channel-first (N, C, H, W) with C in {1, 3} -> (N, H, W[, 3])."""
    if images.ndim == 4 and images.shape[1] in (1, 3) and images.shape[-1] not in (1, 3):
        images = images.transpose(0, 2, 3, 1)
    return images[..., 0] if images.ndim == 4 and images.shape[-1] == 1 else images


def show_image_grid(
    images: Any,
    labels: Any = None,
    class_names: Sequence[str] | None = None,
    ncols: int = 10,
    title: str | None = None,
    predictions: Any = None,
) -> Figure:
    """A grid of images, each titled with its label (and prediction, red when wrong).

    images: (N, H, W) grayscale, (N, H, W, 3) or (N, 3, H, W) colour; values in [0, 1]
    are shown as they are, other ranges are rescaled per image.
    labels, predictions: (N,) ints, shown through class_names when given.
    """
    images = _channels_last(_numpy(images).astype(np.float32))
    count = len(images)
    ncols = max(1, min(ncols, count))
    nrows = -(-count // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.2 * ncols, 1.35 * nrows + 0.4 * bool(title)), squeeze=False)
    name = (lambda i: class_names[int(i)]) if class_names is not None else (lambda i: str(int(i)))
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= count:
            continue
        image = images[i]
        if image.min() < 0 or image.max() > 1:
            image = (image - image.min()) / max(float(image.max() - image.min()), 1e-12)
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
        if labels is not None:
            text, color = name(_numpy(labels)[i]), "black"
            if predictions is not None:
                predicted = _numpy(predictions)[i]
                text += f" → {name(predicted)}"
                color = "black" if predicted == _numpy(labels)[i] else "red"
            ax.set_title(text, fontsize=8, color=color)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plane_grid(X: Any, grid_size: int, margin: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A grid over the box around 2-D points, `margin` (a number, or one per axis) beyond them.

    X: (N, 2). Returns xx, yy of shape (G, G) (meshgrid, "xy" indexing) and the same points
    as one (G*G, 2) float64 array, ready for a `predict`.
    """
    X = np.asarray(X, dtype=np.float64)
    low, high = X.min(axis=0) - margin, X.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(low[0], high[0], grid_size), np.linspace(low[1], high[1], grid_size))
    return xx, yy, np.column_stack([xx.ravel(), yy.ravel()])


def plot_decision_boundary(
    predict: Callable[[np.ndarray], Any],
    X: Any,
    y: Any,
    ax: Axes | None = None,
    title: str | None = None,
    resolution: int = 200,
    xlabel: str = "$x_1$",
    ylabel: str = "$x_2$",
) -> Figure:
    """Colour the plane by `predict` and scatter the points on top.

    predict: takes (M, 2) float32 points, returns (M,) class ids (numpy or torch).
    X: (N, 2) points; y: (N,) int class ids.
    """
    X, y = _numpy(X).astype(np.float32), _numpy(y).astype(int)
    fig, ax = _figure_and_axes(ax, (5, 4.5))
    xx, yy, grid = plane_grid(X, resolution, margin=0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-3)
    regions = _numpy(predict(grid.astype(np.float32))).reshape(resolution, resolution)
    num_classes = int(max(regions.max(), y.max())) + 1
    cmap = plt.get_cmap("tab10", 10)
    levels = np.arange(num_classes + 1) - 0.5
    ax.contourf(xx, yy, regions, levels=levels, colors=[cmap(c % 10) for c in range(num_classes)], alpha=0.3)
    ax.scatter(X[:, 0], X[:, 1], c=[cmap(c % 10) for c in y], s=18, edgecolors="black", linewidths=0.5)
    ax.set(xlim=(xx.min(), xx.max()), ylim=(yy.min(), yy.max()), xlabel=xlabel, ylabel=ylabel)
    ax.set_title(title or "decision boundary")
    return fig


def plot_curves(
    curves: dict[str, Sequence[float]],
    xlabel: str = "epoch",
    ylabel: str = "value",
    title: str | None = None,
    logy: bool = False,
    ax: Axes | None = None,
) -> Figure:
    """One line per named curve (e.g. {"train loss": [...], "val loss": [...]}), x counted from 1."""
    fig, ax = _figure_and_axes(ax, (6, 4))
    for label, values in curves.items():
        values = _numpy(values).astype(float)
        ax.plot(np.arange(1, len(values) + 1), values, marker="o" if len(values) <= 30 else None, ms=3, label=label)
    if logy:
        ax.set_yscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title or f"{ylabel} per {xlabel}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if curves:
        ax.legend()
    return fig


def draw_boxes(
    image: Any,
    boxes: Any,
    labels: Any = None,
    scores: Any = None,
    ax: Axes | None = None,
    class_names: Sequence[str] | None = None,
    color: str = "lime",
    title: str | None = None,
) -> Figure:
    """An image with boxes drawn on it, each tagged with its class name and score when given.

    image: (H, W) or (H, W, 3) in [0, 1] (or (3, H, W)); boxes: (K, 4) [x1, y1, x2, y2] pixels;
    labels: (K,) ints; scores: (K,) floats in [0, 1].
    """
    image = _channels_last(_numpy(image)[None])[0]
    boxes = _numpy(boxes).reshape(-1, 4)
    fig, ax = _figure_and_axes(ax, (4, 4))
    ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
    for k, (x1, y1, x2, y2) in enumerate(boxes):
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False, edgecolor=color, linewidth=1.5))
        tags = []
        if labels is not None:
            label = int(_numpy(labels)[k])
            tags.append(class_names[label] if class_names is not None else str(label))
        if scores is not None:
            tags.append(f"{float(_numpy(scores)[k]):.2f}")
        if tags:
            ax.text(x1 - 0.5, y1 - 1, " ".join(tags), color="black", fontsize=7, va="bottom",
                    bbox={"facecolor": color, "edgecolor": "none", "pad": 1})
    ax.set_title(title or f"{len(boxes)} boxes")
    ax.set(xlabel="x (pixels)", ylabel="y (pixels)")
    return fig


def plot_heatmap(
    matrix: Any,
    x_labels: Sequence[str] | None = None,
    y_labels: Sequence[str] | None = None,
    title: str | None = None,
    xlabel: str = "",
    ylabel: str = "",
    annotate: bool | None = None,
    cmap: str = "viridis",
    ax: Axes | None = None,
) -> Figure:
    """A matrix (R, C) as colours with a colour bar, e.g. attention weights or a confusion matrix.

    annotate: write each value in its cell (default: when the matrix has at most 15 x 15 entries).
    """
    matrix = _numpy(matrix).astype(float)
    rows, cols = matrix.shape
    fig, ax = _figure_and_axes(ax, (min(1 + 0.5 * cols, 10) + 1.5, min(1 + 0.45 * rows, 9) + 0.5))
    shown = ax.imshow(matrix, cmap=cmap, aspect="auto")
    fig.colorbar(shown, ax=ax)
    if x_labels is not None:
        longest = max(len(str(label)) for label in x_labels)
        ax.set_xticks(range(cols), list(x_labels), rotation=90 if cols * longest > 40 else 0)
    if y_labels is not None:
        ax.set_yticks(range(rows), list(y_labels))
    if annotate if annotate is not None else rows <= 15 and cols <= 15:
        middle = (np.nanmax(matrix) + np.nanmin(matrix)) / 2
        integers = bool(np.all(matrix == np.round(matrix)))
        for (r, c), value in np.ndenumerate(matrix):
            ax.text(c, r, f"{value:.0f}" if integers else f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="black" if value > middle else "white")
    ax.set(title=title or "", xlabel=xlabel, ylabel=ylabel)
    return fig
