"""Diffusion time-step explorer (notebook 09_generative).

A slider over the step t of a DDPM: the forward process turns clean data x_0 into
x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, and a trained noise-prediction model
guesses x_0 back from x_t alone. The widget shows, for 2-D points and for a few digits, x_t
and the model's estimate of x_0, next to the noise level of the schedule at t.

The library holds no solution: the notebook passes in the student's `q_sample` and
`predict_x0` and the trained models.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

EpsModel = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (x_t, t (N,) int64) -> eps_hat like x_t


def diffusion_snapshot(x0: torch.Tensor, eps: torch.Tensor, t: int, alpha_bar: torch.Tensor,
                       q_sample: Callable, predict_x0: Callable, eps_model: EpsModel | None = None) -> dict[str, Any]:
    """What the explorer draws at step t, computed without drawing.

    x0: (N, ...) float tensor, clean data; eps: like x0, the noise (fixed, so that moving t
    moves the same points); t: int in [0, T]; alpha_bar: (T + 1,) float64 with alpha_bar[0] = 1;
    q_sample(x0, t_vec, eps, alpha_bar) and predict_x0(x_t, t_vec, eps_hat, alpha_bar): the
    notebook's functions (t_vec: (N,) int64 filled with t); eps_model: (x_t, t_vec) -> eps_hat.
    Returns {"x_t": (N, ...) tensor, "x0_hat": (N, ...) tensor or None without a model,
    "signal": sqrt(alpha_bar[t]), "noise": sqrt(1 - alpha_bar[t]) (floats)}.
    """
    T = len(alpha_bar) - 1
    if not 0 <= t <= T:
        raise ValueError(f"t must be in [0, {T}] for a schedule of {T} steps, got {t}")
    if eps.shape != x0.shape:
        raise ValueError(f"eps must have the shape of x0 {tuple(x0.shape)}, got {tuple(eps.shape)}")
    t_vec = torch.full((len(x0),), t, dtype=torch.int64)
    with torch.no_grad():
        x_t = q_sample(x0, t_vec, eps, alpha_bar)
        x0_hat = None if eps_model is None else predict_x0(x_t, t_vec, eps_model(x_t, t_vec), alpha_bar)
    level = float(alpha_bar[t])
    return {"x_t": x_t, "x0_hat": x0_hat, "signal": level ** 0.5, "noise": max(1.0 - level, 0.0) ** 0.5}


def _draw_points(ax, x0: np.ndarray, snapshot: dict[str, Any], t: int) -> None:
    ax.scatter(x0[:, 0], x0[:, 1], s=4, color="0.8", label="clean data $x_0$")
    x_t = snapshot["x_t"].numpy()
    ax.scatter(x_t[:, 0], x_t[:, 1], s=5, color="tab:blue", alpha=0.6, label=f"$x_t$ (t = {t})")
    if snapshot["x0_hat"] is not None:
        x0_hat = snapshot["x0_hat"].numpy()
        ax.scatter(x0_hat[:, 0], x0_hat[:, 1], s=5, color="tab:orange", alpha=0.6, label=r"model's $\hat x_0$")
    limit = 1.2 * max(float(np.abs(x0).max()), 1.0)
    ax.set_xlim(-limit, limit)
    ax.set_ylim(-limit, limit)
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    ax.set_title("2-D points")
    ax.legend(loc="upper right", fontsize=7, markerscale=2)


def _draw_images(fig, cell, snapshot: dict[str, Any]) -> None:
    rows = [("$x_t$", snapshot["x_t"])] + ([(r"$\hat x_0$", snapshot["x0_hat"])] if snapshot["x0_hat"] is not None else [])
    count = len(snapshot["x_t"])
    grid = cell.subgridspec(len(rows), count, wspace=0.08, hspace=0.25)
    for row, (name, images) in enumerate(rows):
        for column in range(count):
            ax = fig.add_subplot(grid[row, column])
            ax.imshow(images[column].reshape(images.shape[-2:]).numpy(), cmap="gray", vmin=-1, vmax=1,
                      interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if column == 0:
                ax.set_ylabel(name)
            if row == 0 and column == count // 2:
                ax.set_title("digits (grey: -1 black, +1 white)", fontsize=9)


def _draw_levels(ax, alpha_bar: torch.Tensor, t: int) -> None:
    steps = np.arange(len(alpha_bar))
    levels = alpha_bar.double().numpy()
    ax.plot(steps, np.sqrt(levels), label=r"signal $\sqrt{\bar\alpha_t}$")
    ax.plot(steps, np.sqrt(np.clip(1 - levels, 0, None)), label=r"noise $\sqrt{1 - \bar\alpha_t}$")
    ax.axvline(t, color="black", linewidth=1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("step t")
    ax.set_ylabel("coefficient")
    ax.set_title(f"noise level at t = {t}")
    ax.legend(fontsize=7, loc="center right")


def diffusion_explorer(alpha_bar: torch.Tensor, q_sample: Callable, predict_x0: Callable,
                       points: torch.Tensor | None = None, point_model: EpsModel | None = None,
                       images: torch.Tensor | None = None, image_model: EpsModel | None = None,
                       seed: int = 0, figsize: tuple[float, float] = (10.5, 3.8)):
    """Widget: a slider over t (and the noise seed) redraws x_t and the models' estimates of x_0.

    alpha_bar: (T + 1,) float64; q_sample, predict_x0: the notebook's functions;
    points: (N, 2) clean 2-D data and point_model its eps-model (x_t, t) -> eps_hat, or None;
    images: (n, H, W) clean images in [-1, 1] and image_model (x_t (n, H*W), t) -> eps_hat, or None.
    Returns the widget of `dlcourse.widgets.base.interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    if points is None and images is None:
        raise ValueError("give points, images or both to show")
    T = len(alpha_bar) - 1
    controls = {
        "t": w.IntSlider(value=T // 4, min=0, max=T, description="step t"),
        "seed": w.IntSlider(value=seed, min=0, max=9, description="noise seed"),
    }

    def draw(fig, t, seed):
        generator = torch.Generator().manual_seed(seed)
        panels = fig.add_gridspec(1, 3, width_ratios=[1.0, 1.6, 1.0], wspace=0.3)
        if points is not None:
            snapshot = diffusion_snapshot(points, torch.randn(points.shape, generator=generator), t, alpha_bar,
                                          q_sample, predict_x0, point_model)
            _draw_points(fig.add_subplot(panels[0]), points.numpy(), snapshot, t)
        if images is not None:
            flat = images.reshape(len(images), -1)
            snapshot = diffusion_snapshot(flat, torch.randn(flat.shape, generator=generator), t, alpha_bar,
                                          q_sample, predict_x0, image_model)
            shaped = {key: (value.reshape(images.shape) if isinstance(value, torch.Tensor) else value)
                      for key, value in snapshot.items()}
            _draw_images(fig, panels[1], shaped)
        _draw_levels(fig.add_subplot(panels[2]), alpha_bar, t)

    return interactive_figure(draw, controls, figsize=figsize)
