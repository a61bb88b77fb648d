"""A 2-D, 3-class linear classifier whose weights and biases are sliders (notebook 02_linear).

The pure functions compute what is drawn and are tested without a browser:

- `toy_dataset(seed)`: three Gaussian clusters in the plane (X (N, 2), y (N,));
- `linear_scores(W, b, X)`: the class scores X @ W + b;
- `linear_losses(W, b, X, y)`: the multiclass SVM (hinge, margin 1) and softmax
  (cross-entropy) data losses, averaged over the points, the accuracy and which points
  violate the SVM margin;
- `decision_regions(W, b, xlim, ylim, grid_size)`: the predicted class on a grid.

`draw_linear` draws them on a matplotlib figure and `linear_classifier_widget` wraps it in
nine sliders (two weights and one bias per class). The losses come from torch
(`F.multi_margin_loss`, `F.cross_entropy`): the library never holds the student's solution,
and the widget works before the student's code does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c")
NUM_CLASSES = 3

# Default sliders: class 0 and 1 are roughly right, class 2's weight points the wrong way,
# so the student starts from a classifier with something to fix.
DEFAULT_W = np.array([[0.0, -1.0, 0.3], [1.0, -0.5, 1.0]])  # (D=2, C=3): column c is w_c
DEFAULT_B = np.array([0.0, 0.0, -0.5])
FIGSIZE = (8.4, 4.0)  # inches at 100 dpi: 840 x 400 px


@dataclass
class LinearView:
    """What `linear_losses` computes for one setting of the sliders.

    scores: (N, C) float64 class scores. svm_loss, softmax_loss: data losses averaged over
    the N points (no regularisation). accuracy: fraction of points whose highest score is
    their class. violators: (N,) bool, the points with a positive hinge loss (some wrong
    class scores within 1 of the correct one).
    """

    scores: np.ndarray
    svm_loss: float
    softmax_loss: float
    accuracy: float
    violators: np.ndarray


def toy_dataset(num_per_class: int = 30, std: float = 0.55, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters around (0, 1.5), (-1.5, -1) and (1.5, -1).

    Returns X: (3 * num_per_class, 2) float64 and y: (3 * num_per_class,) int64 in {0, 1, 2}.
    """
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 1.5], [-1.5, -1.0], [1.5, -1.0]])
    y = np.repeat(np.arange(NUM_CLASSES), num_per_class)
    X = centres[y] + std * rng.standard_normal((y.size, 2))
    return X, y.astype(np.int64)


def _check(W: np.ndarray, b: np.ndarray, X: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    W = np.asarray(W, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"expected W of shape (D, C), got {W.shape}")
    if b.shape != (W.shape[1],):
        raise ValueError(f"expected b of shape ({W.shape[1]},), got {b.shape}")
    if X is not None and (X.ndim != 2 or X.shape[1] != W.shape[0]):
        raise ValueError(f"expected X of shape (N, {W.shape[0]}), got {X.shape}")
    return W, b


def linear_scores(W: np.ndarray, b: np.ndarray, X: np.ndarray) -> np.ndarray:
    """Class scores s = X @ W + b. W: (D, C), b: (C,), X: (N, D). Returns (N, C) float64."""
    X = np.asarray(X, dtype=np.float64)
    W, b = _check(W, b, X)
    return X @ W + b


def linear_losses(W: np.ndarray, b: np.ndarray, X: np.ndarray, y: np.ndarray) -> LinearView:
    """SVM and softmax data losses of the linear classifier (W, b) on (X, y).

    W: (D, C), b: (C,), X: (N, D), y: (N,) ints in 0..C-1. Returns a `LinearView`.
    """
    scores = linear_scores(W, b, X)
    num_classes = scores.shape[1]
    s = torch.from_numpy(scores)
    labels = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    # torch averages the hinge terms over the C classes as well: multiply by C for the sum.
    svm = float(F.multi_margin_loss(s, labels, margin=1.0)) * num_classes
    softmax = float(F.cross_entropy(s, labels))
    per_point = F.multi_margin_loss(s, labels, margin=1.0, reduction="none").numpy()
    accuracy = float(np.mean(np.argmax(scores, axis=1) == np.asarray(y)))
    return LinearView(scores, svm, softmax, accuracy, per_point > 0)


def decision_regions(
    W: np.ndarray,
    b: np.ndarray,
    xlim: tuple[float, float] = (-3.5, 3.5),
    ylim: tuple[float, float] = (-3.0, 3.5),
    grid_size: int = 150,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The predicted class (argmax score, ties to the smallest class) on a G x G grid.

    W: (2, C), b: (C,). Returns xx, yy (G, G) float64 coordinates (meshgrid "xy" indexing)
    and labels (G, G) int64.
    """
    W, b = _check(W, b)
    if W.shape[0] != 2:
        raise ValueError(f"decision regions are drawn in 2-D: expected W of shape (2, C), got {W.shape}")
    xx, yy = np.meshgrid(np.linspace(*xlim, grid_size), np.linspace(*ylim, grid_size))
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    labels = np.argmax(grid @ W + b, axis=1).reshape(grid_size, grid_size)
    return xx, yy, labels.astype(np.int64)


def draw_linear(fig, X: np.ndarray, y: np.ndarray, W: np.ndarray, b: np.ndarray) -> LinearView:
    """Draw regions, points, weight vectors (left) and the two losses (right) on a cleared figure.

    X: (N, 2), y: (N,), W: (2, 3), b: (3,). Returns the `LinearView` that was drawn.
    """
    from matplotlib.colors import ListedColormap
    from matplotlib.lines import Line2D

    view = linear_losses(W, b, X, y)
    W, b = _check(W, b)
    cmap = ListedColormap(CLASS_COLORS)
    ax, bars = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    xx, yy, labels = decision_regions(W, b)
    ax.pcolormesh(xx, yy, labels, cmap=cmap, alpha=0.22, vmin=-0.5, vmax=2.5, shading="auto")
    ok = ~view.violators
    ax.scatter(X[ok, 0], X[ok, 1], c=y[ok], cmap=cmap, vmin=-0.5, vmax=2.5, s=22,
               edgecolors="white", linewidths=0.5)
    ax.scatter(X[~ok, 0], X[~ok, 1], c=y[~ok], cmap=cmap, vmin=-0.5, vmax=2.5, s=30,
               edgecolors="black", linewidths=1.4)
    legend = [Line2D([], [], marker="o", linestyle="none", color="grey", markeredgecolor="white",
                     label="margin met (hinge loss 0)"),
              Line2D([], [], marker="o", linestyle="none", color="grey", markeredgecolor="black",
                     markeredgewidth=1.4, label="inside the margin (hinge loss > 0)")]
    for c in range(W.shape[1]):  # w_c points to where class c's score grows fastest
        ax.annotate("", xy=(W[0, c], W[1, c]), xytext=(0, 0),
                    arrowprops={"arrowstyle": "-|>", "color": CLASS_COLORS[c], "lw": 2.2})
        ax.text(W[0, c] * 1.12, W[1, c] * 1.12, f"$w_{c}$", color=CLASS_COLORS[c], fontsize=11,
                ha="center", va="center", fontweight="bold")
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.legend(handles=legend, loc="lower center", fontsize=8, framealpha=0.8)
    ax.set_title(f"decision regions: accuracy {view.accuracy:.0%}, "
                 f"{int(view.violators.sum())} of {len(y)} points inside the margin", fontsize=10)

    names = ["SVM\n(hinge)", "softmax\n(cross-entropy)"]
    values = [view.svm_loss, view.softmax_loss]
    at_zero = [W.shape[1] - 1.0, float(np.log(W.shape[1]))]  # the losses when every score is 0
    positions = np.arange(2)
    bars.bar(positions, values, color=["#555555", "#9467bd"], width=0.55)
    bars.hlines(at_zero, positions - 0.38, positions + 0.38, colors="red", linestyles="--",
                label="value at W = 0, b = 0")
    for p, v in zip(positions, values):
        bars.text(p, v, f"{v:.3f}", ha="center", va="bottom", fontsize=10)
    bars.set_xticks(positions, names)
    bars.set_ylim(0, max(3.0, 1.25 * max(values)))
    bars.set_ylabel("average data loss (no regularisation)")
    bars.set_title("live losses", fontsize=10)
    bars.legend(loc="upper right", fontsize=8)
    return view


def linear_classifier_widget(W: np.ndarray | None = None, b: np.ndarray | None = None):
    """Nine sliders (w_c's two entries and b_c for each class c) that redraw `draw_linear`.

    W: (2, 3) and b: (3,) starting values (defaults DEFAULT_W, DEFAULT_B). Returns the
    ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    W0 = DEFAULT_W if W is None else np.asarray(W, dtype=np.float64)
    b0 = DEFAULT_B if b is None else np.asarray(b, dtype=np.float64)
    _check(W0, b0)
    X, y = toy_dataset()

    def slider(description: str, value: float) -> widgets.FloatSlider:
        return widgets.FloatSlider(value=float(value), min=-3.0, max=3.0, step=0.1,
                                   description=description, continuous_update=False,
                                   readout_format=".1f")

    controls = {}
    for c in range(NUM_CLASSES):
        controls[f"w{c}_x1"] = slider(f"w{c}[x1]", W0[0, c])
        controls[f"w{c}_x2"] = slider(f"w{c}[x2]", W0[1, c])
        controls[f"b{c}"] = slider(f"b{c}", b0[c])

    def draw(fig, **values: float) -> None:
        W = np.array([[values[f"w{c}_x1"] for c in range(NUM_CLASSES)],
                      [values[f"w{c}_x2"] for c in range(NUM_CLASSES)]])
        b = np.array([values[f"b{c}"] for c in range(NUM_CLASSES)])
        draw_linear(fig, X, y, W, b)

    # 840 px wide: beside the control column (at most 380 px) it fits a 1366 x 768 screen.
    return interactive_figure(draw, controls, figsize=FIGSIZE)
