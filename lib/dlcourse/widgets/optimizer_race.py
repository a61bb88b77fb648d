"""Optimizer race on 2-D loss surfaces (notebook 05_optimizers).

Several optimizers start from the same point of a 2-D loss surface and take the same
number of steps; their paths are drawn over the contours, and their losses step by step.
Three surfaces show the three classic troubles of plain gradient descent:

- "ill-conditioned quadratic": f = (x^2 + 20 y^2) / 2, curvature 20 times larger along y
  than along x, so SGD zig-zags across the valley and crawls along it;
- "Rosenbrock": f = (1 - x)^2 + 10 (y - x^2)^2, a curved banana-shaped valley;
- "saddle": f = x^2 / 2 + y^4 / 4 - y^2 / 2, a saddle point at the origin between two
  minima at (0, +-1); a start almost on the ridge shows who escapes fast.

The rules are torch.optim's own optimizers stepping a 2-element tensor (an independent
implementation: the library never holds the student's NumPy rules). The SGD family and the
adaptive methods get separate learning rates, since a step of SGD scales with the gradient
and a step of AdaGrad/RMSProp/Adam does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
import torch

RULES = ("SGD", "Momentum", "Nesterov", "AdaGrad", "RMSProp", "Adam")
ADAPTIVE = ("AdaGrad", "RMSProp", "Adam")
COLORS = dict(zip(RULES, ("tab:gray", "tab:blue", "tab:cyan", "tab:green", "tab:orange", "tab:red")))
DIVERGED = 1e6  # a path stops once a coordinate gets this large
# Which rules each hyper-parameter control of the widget changes (the others ignore it).
AFFECTS: dict[str, tuple[str, ...]] = {
    "lr": ("SGD", "Momentum", "Nesterov"),
    "adaptive_lr": ADAPTIVE,
    "momentum": ("Momentum", "Nesterov"),
    "beta1": ("Adam",),
    "beta2": ("Adam",),
    "rmsprop_decay": ("RMSProp",),
}


@dataclass(frozen=True)
class Surface:
    """A 2-D loss f(x, y) (works on numpy arrays and torch tensors alike) and how to show it."""

    loss: Callable
    start: tuple[float, float]
    xlim: tuple[float, float]
    ylim: tuple[float, float]
    minima: tuple[tuple[float, float], ...]
    lr: float  # a good default for the SGD family
    adaptive_lr: float  # a good default for AdaGrad / RMSProp / Adam
    log_contours: bool = False


SURFACES: dict[str, Surface] = {
    "ill-conditioned quadratic": Surface(
        loss=lambda x, y: 0.5 * (x**2 + 20.0 * y**2),
        start=(-4.5, 1.5), xlim=(-5.0, 5.0), ylim=(-2.0, 2.0), minima=((0.0, 0.0),),
        lr=0.04, adaptive_lr=0.2,
    ),
    "Rosenbrock": Surface(
        loss=lambda x, y: (1.0 - x) ** 2 + 10.0 * (y - x**2) ** 2,
        start=(-1.5, 2.0), xlim=(-2.0, 2.0), ylim=(-1.0, 3.0), minima=((1.0, 1.0),),
        lr=0.005, adaptive_lr=0.1, log_contours=True,
    ),
    "saddle": Surface(
        loss=lambda x, y: 0.5 * x**2 + 0.25 * y**4 - 0.5 * y**2,
        start=(-2.5, 1e-3), xlim=(-3.0, 3.0), ylim=(-1.6, 1.6), minima=((0.0, -1.0), (0.0, 1.0)),
        lr=0.1, adaptive_lr=0.05,
    ),
}


def make_optimizer(
    rule: str,
    params,
    lr: float,
    momentum: float = 0.9,
    betas: tuple[float, float] = (0.9, 0.999),
    rmsprop_decay: float = 0.9,
) -> torch.optim.Optimizer:
    """The torch.optim optimizer for one of RULES (`rmsprop_decay` is RMSprop's alpha)."""
    if rule == "SGD":
        return torch.optim.SGD(params, lr=lr)
    if rule == "Momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if rule == "Nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=momentum > 0)
    if rule == "AdaGrad":
        return torch.optim.Adagrad(params, lr=lr)
    if rule == "RMSProp":
        return torch.optim.RMSprop(params, lr=lr, alpha=rmsprop_decay)
    if rule == "Adam":
        return torch.optim.Adam(params, lr=lr, betas=betas)
    raise ValueError(f"unknown rule {rule!r}; choose from {', '.join(RULES)}")


def race(
    surface: str,
    rules: Sequence[str] = RULES,
    lr: float | None = None,
    adaptive_lr: float | None = None,
    momentum: float = 0.9,
    beta1: float = 0.9,
    beta2: float = 0.999,
    num_steps: int = 100,
    rmsprop_decay: float = 0.9,
    start: tuple[float, float] | None = None,
) -> dict[str, np.ndarray]:
    """Run each rule on `surface` from the same start; return the paths.

    surface: a key of SURFACES. rules: names from RULES.
    lr: learning rate of SGD, Momentum and Nesterov; adaptive_lr: that of AdaGrad, RMSProp
    and Adam (None: the surface's defaults). momentum: for Momentum and Nesterov;
    beta1, beta2: Adam's betas; rmsprop_decay: RMSProp's decay rate (torch's alpha).
    Returns {rule: float64 array of shape (K + 1, 2)}: the start, then the point after each
    step; K = num_steps, or fewer when the path diverged (|coordinate| > 1e6 or not finite).
    """
    spec = SURFACES[surface]
    lr = spec.lr if lr is None else lr
    adaptive_lr = spec.adaptive_lr if adaptive_lr is None else adaptive_lr
    start = spec.start if start is None else start
    paths = {}
    for rule in rules:
        point = torch.tensor(start, dtype=torch.float64, requires_grad=True)
        optimizer = make_optimizer(
            rule, [point], adaptive_lr if rule in ADAPTIVE else lr, momentum, (beta1, beta2), rmsprop_decay
        )
        path = [point.detach().clone().numpy()]
        for _ in range(num_steps):
            optimizer.zero_grad()
            spec.loss(point[0], point[1]).backward()
            optimizer.step()
            now = point.detach().clone().numpy()
            if not np.all(np.isfinite(now)) or np.abs(now).max() > DIVERGED:
                break
            path.append(now)
        paths[rule] = np.stack(path)
    return paths


def loss_grid(surface: str, num: int = 200) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, Y, Z), each (num, num): the surface's loss on a grid over its plotting window."""
    spec = SURFACES[surface]
    X, Y = np.meshgrid(np.linspace(*spec.xlim, num), np.linspace(*spec.ylim, num))
    return X, Y, spec.loss(X, Y)


def path_losses(surface: str, path: np.ndarray) -> np.ndarray:
    """The loss at each point of a (K, 2) path: shape (K,)."""
    return SURFACES[surface].loss(path[:, 0], path[:, 1])


def draw_race(fig, surface: str, paths: dict[str, np.ndarray], num_steps: int) -> None:
    """Contours with the paths (left) and loss against step (right) on a cleared figure."""
    spec = SURFACES[surface]
    ax_map, ax_loss = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
    X, Y, Z = loss_grid(surface)
    if spec.log_contours:
        levels = np.logspace(-1.5, np.log10(Z.max()), 18)
        ax_map.contour(X, Y, Z, levels=levels, cmap="Greys", linewidths=0.7, norm="log")
    else:
        ax_map.contour(X, Y, Z, levels=20, cmap="Greys", linewidths=0.7)
    for mx, my in spec.minima:
        ax_map.plot(mx, my, marker="*", color="gold", markersize=15, markeredgecolor="k", zorder=5)
    start = next(iter(paths.values()))[0] if paths else spec.start
    ax_map.plot(start[0], start[1], "ko", markersize=6)
    floor = min(float(spec.loss(mx, my)) for mx, my in spec.minima)
    top = 1e-12
    for rule, path in paths.items():
        color = COLORS.get(rule)
        ax_map.plot(path[:, 0], path[:, 1], ".-", color=color, markersize=3, linewidth=1.2, label=rule)
        losses = np.maximum(path_losses(surface, path) - floor, 1e-12)
        top = max(top, 30 * float(losses[0]))
        note = "" if len(path) == num_steps + 1 else f" (diverged at step {len(path)})"
        ax_loss.semilogy(np.arange(len(path)), losses, color=color, label=f"{rule}{note}")
    ax_map.set_xlim(spec.xlim)
    ax_map.set_ylim(spec.ylim)
    ax_map.set_xlabel("x")
    ax_map.set_ylabel("y")
    ax_map.set_title(f"{surface}: paths from the black dot (star: minimum)")
    if paths:
        ax_map.legend(loc="best", fontsize=8)
        ax_loss.legend(loc="best", fontsize=8)
    ax_loss.set_ylim(top=top)  # a path that shoots up early should not squash the others
    ax_loss.set_xlabel("step")
    ax_loss.set_ylabel("loss above the minimum (log scale)")
    ax_loss.set_title(f"loss over {num_steps} steps")
    ax_loss.grid(True, which="major", alpha=0.3)


def controls_in_use(rules: Sequence[str]) -> dict[str, bool]:
    """For each hyper-parameter control of AFFECTS: does one of the chosen `rules` use it?"""
    return {name: any(rule in rules for rule in users) for name, users in AFFECTS.items()}


def optimizer_race_widget(surface: str = "ill-conditioned quadratic", figsize=(9.2, 4.2)):
    """The interactive race: surface, rules, learning rates, momentum, betas, RMSProp decay, steps.

    Each slider names the rules it changes, and is disabled while none of them is chosen.
    Choosing a surface resets both learning rates to that surface's defaults.
    figsize: inches; 9.2 x 4.2 fits beside the control column on a 1366 x 768 screen.
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    spec = SURFACES[surface]
    style = {"description_width": "130px"}

    def sized(widget_class, **kwargs):
        return widget_class(style=style, layout=w.Layout(width="300px"), **kwargs)

    controls = {
        "surface": sized(w.Dropdown, options=list(SURFACES), value=surface, description="surface"),
        "rules": sized(w.SelectMultiple, options=RULES, value=("SGD", "Momentum", "Adam"), rows=len(RULES),
                       description="rules (ctrl/⌘-click)",
                       tooltip="ctrl-click (cmd-click on a Mac) to choose several rules"),
        "lr": sized(w.FloatLogSlider, value=spec.lr, base=10, min=-4, max=0, step=0.05,
                    description="lr: SGD, Mom., Nest.", readout_format=".4f"),
        "adaptive_lr": sized(w.FloatLogSlider, value=spec.adaptive_lr, base=10, min=-3, max=0.5, step=0.05,
                             description="lr: AdaGrad, RMSP, Adam", readout_format=".3f"),
        "momentum": sized(w.FloatSlider, value=0.9, min=0.0, max=0.99, step=0.01, description="momentum (Mom., Nest.)"),
        "beta1": sized(w.FloatSlider, value=0.9, min=0.0, max=0.99, step=0.01, description="β1 (Adam only)"),
        "beta2": sized(w.FloatSlider, value=0.999, min=0.5, max=0.999, step=0.001, readout_format=".3f",
                       description="β2 (Adam only)"),
        "rmsprop_decay": sized(w.FloatSlider, value=0.9, min=0.5, max=0.999, step=0.001, readout_format=".3f",
                               description="decay (RMSProp only)"),
        "num_steps": sized(w.IntSlider, value=100, min=5, max=500, step=5, description="steps"),
    }

    def use_surface_defaults(change):
        controls["lr"].value = SURFACES[change["new"]].lr
        controls["adaptive_lr"].value = SURFACES[change["new"]].adaptive_lr

    def enable_what_is_used(change):
        for name, used in controls_in_use(change["new"]).items():
            controls[name].disabled = not used

    controls["surface"].observe(use_surface_defaults, names="value")
    controls["rules"].observe(enable_what_is_used, names="value")
    enable_what_is_used({"new": controls["rules"].value})

    def draw(fig, surface, rules, lr, adaptive_lr, momentum, beta1, beta2, rmsprop_decay, num_steps):
        paths = race(surface, tuple(rules), lr, adaptive_lr, momentum, beta1, beta2, num_steps, rmsprop_decay)
        draw_race(fig, surface, paths, num_steps)
        fig.tight_layout()

    return interactive_figure(draw, controls, figsize=figsize)
