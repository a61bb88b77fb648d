"""Network playground: train a small MLP on a 2-D toy set and watch its decision regions.

Notebook 03_backprop. The pure function `train_playground(X, y, ...)` trains a PyTorch MLP
(full-batch Adam, float32, on the CPU: a few hundred steps take a fraction of a second) and
returns its loss curve, training accuracy and predictions on a grid covering the data.
`draw_playground` draws them and `network_playground` wraps it in controls (data set, hidden
layers, width, activation, learning rate, steps). The network is torch's own, never the
student's solution, so the widget works before the student's code does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from dlcourse.data import make_blobs, make_moons, make_spirals
from dlcourse.viz import plane_grid

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "linear": nn.Identity,
}
DATASETS = ("spirals", "moons", "blobs")
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")
# Inches at 100 dpi, 840 x 380 px: beside the control column (at most 380 px) it fits a 1366 x 768 screen.
FIGSIZE = (8.4, 3.8)


def make_playground_data(name: str = "spirals", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """One of the 2-D toy sets of `dlcourse.data`, centred and scaled to about [-1, 1].

    Returns X: (N, 2) float32, y: (N,) int64.
    """
    if name == "spirals":
        X, y = make_spirals(num_per_class=100, num_classes=3, noise=0.2, seed=seed)
    elif name == "moons":
        X, y = make_moons(num_samples=200, noise=0.15, seed=seed)
    elif name == "blobs":
        X, y = make_blobs(num_samples=300, num_classes=3, std=1.0, seed=seed)
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    X = (X - X.mean(axis=0)) / np.abs(X - X.mean(axis=0)).max()
    return X.astype(np.float32), y


def build_mlp(num_classes: int, hidden_width: int, num_hidden_layers: int = 1, activation: str = "relu") -> nn.Sequential:
    """Linear(2, W) - act - [Linear(W, W) - act]* - Linear(W, num_classes), as torch modules."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if hidden_width < 1 or num_hidden_layers < 1:
        raise ValueError(f"need hidden_width >= 1 and num_hidden_layers >= 1, got {hidden_width}, {num_hidden_layers}")
    layers: list[nn.Module] = []
    width_in = 2
    for _ in range(num_hidden_layers):
        layers += [nn.Linear(width_in, hidden_width), ACTIVATIONS[activation]()]
        width_in = hidden_width
    layers.append(nn.Linear(width_in, num_classes))
    return nn.Sequential(*layers)


@dataclass
class PlaygroundResult:
    """What `train_playground` returns.

    model: the trained torch MLP (on the CPU, float32), mapping (M, 2) points to (M, C) scores.
    loss_history: list of `steps` floats, the full-batch cross-entropy before each update.
    train_accuracy: accuracy on the training points after training.
    xx, yy: (G, G) grid coordinates (meshgrid, "xy" indexing) covering the data with a margin.
    probs: (G, G, C) softmax probabilities of the trained model on the grid.
    """

    model: nn.Module
    loss_history: list[float]
    train_accuracy: float
    xx: np.ndarray
    yy: np.ndarray
    probs: np.ndarray

    def predict(self, points: np.ndarray) -> np.ndarray:
        """Class ids (M,) for points of shape (M, 2)."""
        with torch.no_grad():
            scores = self.model(torch.as_tensor(np.asarray(points), dtype=torch.float32))
        return scores.argmax(dim=1).numpy()


def train_playground(
    X: np.ndarray,
    y: np.ndarray,
    hidden_width: int = 16,
    activation: str = "relu",
    learning_rate: float = 0.03,
    steps: int = 300,
    num_hidden_layers: int = 1,
    seed: int = 0,
    grid_size: int = 100,
    margin: float = 0.25,
) -> PlaygroundResult:
    """Train an MLP with full-batch Adam and evaluate it on a grid.

    X: (N, 2) float points; y: (N,) int labels in 0..C-1; hidden_width: units per hidden
    layer; activation: "relu", "tanh", "sigmoid" or "linear"; learning_rate: Adam's step size;
    steps: number of updates; seed: seeds the initial weights (same seed, same result).
    Returns a `PlaygroundResult` (grid arrays of shape (G, G) with G = grid_size).
    """
    X_t = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    y_t = torch.as_tensor(np.asarray(y), dtype=torch.int64)
    if X_t.ndim != 2 or X_t.shape[1] != 2 or y_t.shape != (X_t.shape[0],):
        raise ValueError(f"expected X of shape (N, 2) and y of shape (N,), got {tuple(X_t.shape)} and {tuple(y_t.shape)}")
    num_classes = int(y_t.max()) + 1
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = build_mlp(num_classes, hidden_width, num_hidden_layers, activation)
    finally:
        torch.random.set_rng_state(generator_state)  # leave the caller's random stream alone
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_history = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tensors this small only lose time to thread hand-offs (20x on a busy CPU)
    try:
        for _ in range(steps):
            loss = nn.functional.cross_entropy(model(X_t), y_t)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            loss_history.append(float(loss.detach()))
    finally:
        torch.set_num_threads(threads)

    xx, yy, points = plane_grid(X_t.numpy(), grid_size, margin)
    grid = torch.as_tensor(points, dtype=torch.float32)
    with torch.no_grad():
        probs = torch.softmax(model(grid), dim=1).numpy().reshape(grid_size, grid_size, num_classes)
        train_accuracy = float((model(X_t).argmax(dim=1) == y_t).float().mean())
    return PlaygroundResult(model, loss_history, train_accuracy, xx, yy, probs)


def draw_playground(
    fig,
    dataset: str = "spirals",
    hidden_layers: int = 1,
    hidden_width: int = 16,
    activation: str = "relu",
    learning_rate: float = 0.03,
    steps: int = 300,
) -> PlaygroundResult:
    """Train on `dataset` and draw the decision regions (left) and the loss curve (right) on `fig`."""
    from matplotlib.colors import to_rgb

    X, y = make_playground_data(dataset)
    result = train_playground(X, y, hidden_width=hidden_width, activation=activation,
                              learning_rate=learning_rate, steps=steps, num_hidden_layers=hidden_layers)
    num_classes = result.probs.shape[-1]
    colors = np.array([to_rgb(c) for c in CLASS_COLORS[:num_classes]])
    # Colour each grid point by its predicted class, paler where the model is unsure.
    confidence = result.probs.max(axis=-1, keepdims=True)
    strength = 0.15 + 0.45 * (confidence - 1 / num_classes) / (1 - 1 / num_classes)
    image = 1 - strength * (1 - colors[result.probs.argmax(axis=-1)])

    ax_regions, ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.1]})
    extent = (result.xx.min(), result.xx.max(), result.yy.min(), result.yy.max())
    ax_regions.imshow(image, origin="lower", extent=extent, aspect="equal", interpolation="bilinear")  # x1, x2 to scale
    ax_regions.scatter(X[:, 0], X[:, 1], c=colors[y], s=14, edgecolors="black", linewidths=0.4)
    ax_regions.set(xlabel="$x_1$", ylabel="$x_2$",
                   title=f"{dataset}: {hidden_layers} x {hidden_width} {activation} units, "
                         f"train accuracy {result.train_accuracy:.0%}")
    ax_regions.title.set_fontsize(10)
    losses = np.asarray(result.loss_history if result.loss_history else [np.nan])
    ax_loss.plot(np.arange(1, len(losses) + 1), losses, color="black", lw=1.2)
    if np.all(np.isfinite(losses)) and losses.min() > 0 and losses.max() / losses.min() > 3:
        ax_loss.set_yscale("log")
    ax_loss.set(xlabel="training step (full-batch Adam)", ylabel="cross-entropy loss",
                title=f"loss: {losses[0]:.3g} at start, {losses[-1]:.3g} at the end")
    ax_loss.title.set_fontsize(10)
    ax_loss.grid(alpha=0.3)
    fig.tight_layout()
    return result


def network_playground(dataset: str = "spirals"):
    """The widget: data set, hidden layers, width, activation, learning rate and steps as controls.

    Returns an ipywidgets box (see dlcourse.widgets.base.interactive_figure) with `.redraw()`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    style = {"description_width": "110px"}
    controls = {
        "dataset": widgets.Dropdown(options=list(DATASETS), value=dataset, description="data set", style=style),
        "hidden_layers": widgets.IntSlider(value=1, min=1, max=3, description="hidden layers",
                                           continuous_update=False, style=style),
        "hidden_width": widgets.Dropdown(options=[1, 2, 3, 4, 8, 16, 32, 64, 128], value=16,
                                         description="hidden width", style=style),
        "activation": widgets.Dropdown(options=list(ACTIVATIONS), value="relu", description="activation", style=style),
        "learning_rate": widgets.FloatLogSlider(value=0.03, base=10, min=-4, max=1, step=0.25,
                                                description="learning rate", readout_format=".4f",
                                                continuous_update=False, style=style),
        "steps": widgets.IntSlider(value=300, min=50, max=1000, step=50, description="steps",
                                   continuous_update=False, style=style),
    }
    return interactive_figure(draw_playground, controls, figsize=FIGSIZE)
