"""Activation statistics explorer (notebook 04_training).

How do the activations of a deep fully connected network look at initialisation? A batch
of standard Gaussian inputs goes through `depth` layers `h <- activation(h @ W)` of the same
width; each layer's weights come from an init function (the student's `xavier_init` or
`kaiming_init`, or the plain Gaussian here) multiplied by `scale`. The widget shows the
spread of the activations layer by layer and a histogram per layer: too small a scale and
they shrink to 0, too large and tanh saturates at +-1 or ReLU activations explode.

The library holds no solution: the init functions are passed in by the notebook.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from matplotlib.ticker import NullFormatter

InitFn = Callable[..., np.ndarray]  # init_fn(fan_in, fan_out, rng) -> (fan_in, fan_out)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # = 1 / (1 + exp(-z)), without overflow


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0.0),
    "sigmoid": _sigmoid,
    "linear": lambda z: z,
}


def gaussian_init(std: float = 1.0) -> InitFn:
    """An init function drawing every weight from N(0, std^2), whatever the fan-in."""

    def init(fan_in: int, fan_out: int, rng: np.random.Generator | None = None) -> np.ndarray:
        rng = np.random.default_rng() if rng is None else rng
        return std * rng.standard_normal((fan_in, fan_out))

    return init


def forward_activations(
    init_fn: InitFn,
    activation: str = "tanh",
    depth: int = 10,
    width: int = 256,
    num_samples: int = 500,
    scale: float = 1.0,
    seed: int = 0,
) -> list[np.ndarray]:
    """Activations of every layer of a deep net at initialisation (no biases).

    init_fn: init_fn(fan_in, fan_out, rng) returns a (fan_in, fan_out) weight matrix.
    activation: a key of ACTIVATIONS ("tanh", "relu", "sigmoid", "linear").
    depth: number of layers; width: units per layer (the input has `width` features too).
    num_samples: inputs, drawn from N(0, 1); scale: multiplies every weight matrix.
    Returns: `depth` float64 arrays of shape (num_samples, width), layer 1 first.
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
    if depth < 1 or width < 1 or num_samples < 1:
        raise ValueError(f"depth, width and num_samples must be >= 1, got {depth}, {width}, {num_samples}")
    act = ACTIVATIONS[activation]
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((num_samples, width))
    layers = []
    with np.errstate(over="ignore", invalid="ignore"):  # an exploding net is a lesson, not an error
        for _ in range(depth):
            weights = scale * np.asarray(init_fn(width, width, rng), dtype=np.float64)
            if weights.shape != (width, width):
                raise ValueError(f"init_fn({width}, {width}, rng) returned shape {weights.shape}")
            h = act(h @ weights)
            layers.append(h)
    return layers


def layer_statistics(layers: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Per-layer summaries of `forward_activations`' output, each an array of shape (depth,).

    mean, std: over all samples and units of a layer; zero_fraction: share of exact zeros
    (dead ReLUs); saturated_fraction: share with |h| > 0.99 (tanh stuck at +-1).
    """
    with np.errstate(over="ignore", invalid="ignore"):
        return {
            "mean": np.array([h.mean() for h in layers]),
            "std": np.array([h.std() for h in layers]),
            "zero_fraction": np.array([np.mean(h == 0.0) for h in layers]),
            "saturated_fraction": np.array([np.mean(np.abs(h) > 0.99) for h in layers]),
        }


def histogram_layers(depth: int, max_panels: int = 10) -> list[int]:
    """Which layers (0-based) get a histogram panel: all when depth <= max_panels, else evenly spaced."""
    if depth <= max_panels:
        return list(range(depth))
    return sorted({int(round(i)) for i in np.linspace(0, depth - 1, max_panels)})


def draw_activation_stats(fig, layers: list[np.ndarray], title: str = "") -> None:
    """Draw std per layer (log scale, top) and a histogram per chosen layer (bottom) on `fig`."""
    stats = layer_statistics(layers)
    depth = len(layers)
    shown = histogram_layers(depth)
    grid = fig.add_gridspec(2, len(shown), height_ratios=[1.0, 1.0], hspace=0.6, wspace=0.35)
    top = fig.add_subplot(grid[0, :])
    stds = stats["std"]
    finite = np.isfinite(stds) & (stds > 0)
    top.semilogy(np.arange(1, depth + 1)[finite], stds[finite], "o-", label="std of activations")
    top.axhline(1.0, color="gray", lw=0.8, ls="--")
    top.set_xlabel("layer")
    top.set_ylabel("std (log scale)")
    top.set_xticks(np.arange(1, depth + 1))
    if finite.any():  # show at least the decades around 1, so that small wiggles do not look dramatic
        top.set_ylim(min(stds[finite].min() / 3, 0.1), max(stds[finite].max() * 3, 3.0))
    top.yaxis.set_minor_formatter(NullFormatter())
    top.set_title(title or "spread of the activations, layer by layer")
    if not finite.all():
        top.text(0.99, 0.05, "some layers overflowed (inf/NaN)", transform=top.transAxes,
                 ha="right", color="C3")
    for panel, layer in enumerate(shown):
        ax = fig.add_subplot(grid[1, panel])
        values = layers[layer].ravel()
        values = values[np.isfinite(values)]
        zeros = stats["zero_fraction"][layer]
        title = f"layer {layer + 1}\nstd {stds[layer]:.1e}"
        if zeros > 0.05:  # dead ReLU outputs: a spike at 0 would hide the rest of the histogram
            values = values[values != 0.0]
            title += f"\n{zeros:.0%} at 0"
        if values.size:
            ax.hist(values, bins=40, color="C0")
        ax.set_title(title, fontsize=8)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=7, labelrotation=45)
        ax.xaxis.get_offset_text().set_fontsize(7)
        if panel == 0:
            ax.set_ylabel("count")
    fig.subplots_adjust(left=0.08, right=0.98, top=0.92, bottom=0.16)
    fig.text(0.5, 0.02, "activation value (each panel has its own x range; exact zeros, e.g. of ReLU, are "
             "counted, not drawn)", ha="center", fontsize=8)


def activation_stats_widget(
    init_fns: Mapping[str, InitFn],
    width: int = 256,
    num_samples: int = 500,
    figsize: tuple[float, float] = (9.2, 5.4),
):
    """Widget: choose the init scheme, a scale multiplying it, the activation and the depth.

    init_fns: maps a label to init_fn(fan_in, fan_out, rng), e.g.
        {"xavier": xavier_init, "kaiming": kaiming_init, "gaussian std 1": gaussian_init(1.0)}.
    An init function that raises NotImplementedError (a stub the student has not written yet)
    is named in a "not implemented yet" panel drawn on axes, so that it renders.
    figsize: inches; 9.2 x 5.4 fits beside the control column on a 1366 x 768 screen.
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    if not init_fns:
        raise ValueError("init_fns is empty: pass at least one init function")
    names = list(init_fns)
    controls = {
        "init": w.Dropdown(options=names, value=names[0], description="init"),
        "scale": w.FloatLogSlider(value=1.0, base=10, min=-2, max=1, step=0.1, description="scale ×"),
        "activation": w.Dropdown(options=list(ACTIVATIONS), value="tanh", description="activation"),
        "depth": w.IntSlider(value=10, min=1, max=20, description="depth"),
    }

    def draw(fig, init, scale, activation, depth):
        try:
            layers = forward_activations(init_fns[init], activation, depth, width, num_samples, scale)
        except NotImplementedError as missing:  # the base draws this message on axes
            function = getattr(init_fns[init], "__name__", init)
            raise NotImplementedError(f"{function} (the init '{init}')") from missing
        draw_activation_stats(fig, layers, f"init: {init}, scale × {scale:.3g}, {activation}, {depth} layers")

    return interactive_figure(draw, controls, figsize=figsize)
