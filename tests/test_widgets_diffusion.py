"""The diffusion time-step explorer of notebook 09: its pure function and its widget (headless)."""

from __future__ import annotations

import math
import os

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from dlcourse.widgets.diffusion import diffusion_explorer, diffusion_snapshot

T = 20
ALPHA_BAR = torch.cumprod(1 - torch.cat([torch.zeros(1), torch.linspace(0.01, 0.3, T)]).double(), 0)


def q_sample(x0, t, eps, alpha_bar):                 # the notebook's functions, written here for the test
    a = alpha_bar[t].to(x0.dtype).reshape(-1, *([1] * (x0.dim() - 1)))
    return a.sqrt() * x0 + (1 - a).sqrt() * eps


def predict_x0(x_t, t, eps_hat, alpha_bar):
    a = alpha_bar[t].to(x_t.dtype).reshape(-1, *([1] * (x_t.dim() - 1)))
    return (x_t - (1 - a).sqrt() * eps_hat) / a.sqrt()


def test_snapshot_applies_the_forward_process_and_the_model_estimate():
    generator = torch.Generator().manual_seed(0)
    x0, eps = torch.randn(5, 2, generator=generator), torch.randn(5, 2, generator=generator)
    calls = []

    def perfect_model(x_t, t):            # knows the noise: its estimate of x_0 is exact
        calls.append(t.clone())
        return eps

    snapshot = diffusion_snapshot(x0, eps, 7, ALPHA_BAR, q_sample, predict_x0, perfect_model)
    level = float(ALPHA_BAR[7])
    torch.testing.assert_close(snapshot["x_t"], math.sqrt(level) * x0 + math.sqrt(1 - level) * eps)
    torch.testing.assert_close(snapshot["x0_hat"], x0)
    assert snapshot["signal"] == pytest.approx(math.sqrt(level)) and snapshot["noise"] == pytest.approx(math.sqrt(1 - level))
    assert calls[0].dtype == torch.int64 and calls[0].tolist() == [7] * 5
    clean = diffusion_snapshot(x0, eps, 0, ALPHA_BAR, q_sample, predict_x0)
    torch.testing.assert_close(clean["x_t"], x0)
    assert clean["x0_hat"] is None and clean["noise"] == 0.0


def test_snapshot_explains_bad_arguments():
    x0 = torch.zeros(3, 2)
    with pytest.raises(ValueError, match=r"t must be in \[0, 20\]"):
        diffusion_snapshot(x0, x0, 21, ALPHA_BAR, q_sample, predict_x0)
    with pytest.raises(ValueError, match="shape of x0"):
        diffusion_snapshot(x0, torch.zeros(3, 3), 1, ALPHA_BAR, q_sample, predict_x0)


def _widget(**kwargs):
    generator = torch.Generator().manual_seed(1)
    return diffusion_explorer(ALPHA_BAR, kwargs.pop("q_sample", q_sample), predict_x0,
                              points=torch.randn(40, 2, generator=generator), point_model=lambda x, t: 0.5 * x,
                              images=torch.rand(4, 8, 8, generator=generator) * 2 - 1,
                              image_model=lambda x, t: 0.2 * x, **kwargs)


def test_widget_builds_headless_and_redraws_when_t_moves():
    widget = _widget()
    assert widget.figure is not None and set(widget.controls) == {"t", "seed"}
    first_points = widget.figure.axes[0].collections[1].get_offsets().copy()
    widget.controls["t"].value = T
    moved = widget.figure.axes[0].collections[1].get_offsets()
    assert not np.allclose(first_points, moved)
    assert "t = 20" in widget.figure.axes[-1].get_title()
    assert len(widget.figure.axes) == 1 + 2 * 4 + 1        # points, two rows of 4 digits, noise levels
    widget.controls["seed"].value = 3
    assert widget.redraw() is widget.figure
    if os.environ.get("DLCOURSE_SAVE_WIDGETS"):
        widget.figure.savefig(os.path.join(os.environ["DLCOURSE_SAVE_WIDGETS"], "diffusion_explorer.png"))


def test_widget_reports_an_unwritten_function_on_the_figure():
    def not_written(*args):
        raise NotImplementedError("q_sample")

    widget = _widget(q_sample=not_written)
    texts = [text.get_text() for ax in widget.figure.axes for text in ax.texts]
    assert any("Not implemented yet" in text and "q_sample" in text for text in texts)


def test_widget_needs_something_to_show():
    with pytest.raises(ValueError, match="points, images or both"):
        diffusion_explorer(ALPHA_BAR, q_sample, predict_x0)
