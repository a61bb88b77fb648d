"""Activation-function explorer: sigmoid, tanh, ReLU, leaky ReLU and ELU with their derivatives.

`activation_curves` computes one function and its derivative on a grid (pure numpy, checked
against torch autograd in the tests); `draw_activations` plots several side by side;
`activation_explorer` wires them to controls. Flat stretches of the derivative are where
gradients vanish.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from matplotlib.figure import Figure


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) = inf for very negative x gives the right limit, 0
        return 1 / (1 + np.exp(-x))


# name -> (f(x, alpha), f'(x, alpha)); at x = 0 the derivative follows torch's convention.
_ACTIVATIONS: dict[str, tuple[Callable, Callable]] = {
    "sigmoid": (lambda x, a: _sigmoid(x), lambda x, a: _sigmoid(x) * (1 - _sigmoid(x))),
    "tanh": (lambda x, a: np.tanh(x), lambda x, a: 1 - np.tanh(x) ** 2),
    "relu": (lambda x, a: np.maximum(x, 0.0), lambda x, a: (x > 0).astype(float)),
    "leaky_relu": (lambda x, a: np.where(x > 0, x, a * x), lambda x, a: np.where(x > 0, 1.0, a)),
    "elu": (lambda x, a: np.where(x > 0, x, a * np.expm1(np.minimum(x, 0))),
            lambda x, a: np.where(x > 0, 1.0, a * np.exp(np.minimum(x, 0)))),
}
ACTIVATION_NAMES = tuple(_ACTIVATIONS)


def activation_curves(
    name: str, x_min: float = -5.0, x_max: float = 5.0, num_points: int = 401, alpha: float = 0.1
) -> dict[str, np.ndarray]:
    """An activation function and its derivative on an even grid.

    name: one of sigmoid, tanh, relu, leaky_relu, elu.
    alpha: the negative-side slope of leaky ReLU, and the saturation level -alpha of ELU.
    Returns {"x": (num_points,), "y": f(x), "dy": f'(x)}, float64 arrays.
    """
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATION_NAMES)}")
    if not x_min < x_max or num_points < 2:
        raise ValueError(f"need x_min < x_max and num_points >= 2, got {x_min}, {x_max}, {num_points}")
    function, derivative = _ACTIVATIONS[name]
    x = np.linspace(x_min, x_max, num_points)
    return {"x": x, "y": function(x, alpha), "dy": derivative(x, alpha)}


def draw_activations(
    fig: Figure, names: Sequence[str], x_range: tuple[float, float] = (-5.0, 5.0), alpha: float = 0.1
) -> None:
    """Two panels on `fig`: the chosen activations (left) and their derivatives (right)."""
    value_ax, slope_ax = fig.subplots(1, 2)
    for name in names:
        curves = activation_curves(name, *x_range, alpha=alpha)
        value_ax.plot(curves["x"], curves["y"], label=name)
        slope_ax.plot(curves["x"], curves["dy"], label=name)
    for ax, title, ylabel in ((value_ax, "activation", "f(x)"), (slope_ax, "derivative", "f'(x)")):
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.set(title=title, xlabel="x (pre-activation)", ylabel=ylabel)
        ax.grid(alpha=0.3)
        if names:
            ax.legend(fontsize=8)
    fig.tight_layout()


def activation_explorer(figsize: tuple[float, float] = (9, 3.8)):
    """A widget: pick activations, the input range and alpha; see f and f' side by side.

    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    controls = {
        "names": w.SelectMultiple(options=ACTIVATION_NAMES, value=ACTIVATION_NAMES, description="functions", rows=5),
        "x_range": w.FloatRangeSlider(value=(-5.0, 5.0), min=-10.0, max=10.0, step=0.5, description="x range"),
        "alpha": w.FloatSlider(value=0.1, min=0.0, max=1.0, step=0.01, description="alpha"),
    }
    return interactive_figure(draw_activations, controls, figsize=figsize)
