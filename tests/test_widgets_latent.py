"""The VAE latent-space explorer of notebook 09: its pure functions and its widget (headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from dlcourse.widgets.latent import decode_at, latent_explorer


def bar_decoder(z):
    """A decoder that is easy to check: a horizontal bar whose row is set by z1 and brightness by z2."""
    z = np.asarray(z)
    images = np.zeros((len(z), 8, 8))
    for index, (z1, z2) in enumerate(z):
        images[index, int(np.clip(round(z1 + 3.5), 0, 7))] = 1 / (1 + np.exp(-z2))
    return images


def test_decode_at_returns_one_clipped_image():
    image = decode_at(bar_decoder, 0.6, 0.0)
    assert image.shape == (8, 8) and image.dtype == np.float64
    assert np.flatnonzero(image.any(axis=1)).tolist() == [4] and image.max() == pytest.approx(0.5)
    loud = decode_at(lambda z: torch.full((1, 64), 3.0), 0.0, 0.0)       # tensors and (M, H * W) outputs
    assert loud.max() == 1.0


def test_decode_at_explains_a_wrong_shape():
    with pytest.raises(ValueError, match="one 8x8 image"):
        decode_at(lambda z: np.zeros((1, 7, 7)), 0.0, 0.0)


def test_widget_builds_headless_and_decodes_the_slider_point():
    rng = np.random.default_rng(0)
    codes, labels = rng.standard_normal((50, 2)), rng.integers(0, 10, 50)
    widget = latent_explorer(bar_decoder, codes, labels)
    assert widget.figure is not None and set(widget.controls) == {"z1", "z2"}
    widget.controls["z1"].value = -2.0
    widget.controls["z2"].value = 1.0
    image_ax = next(ax for ax in widget.figure.axes if ax.images)
    shown = image_ax.images[0].get_array()
    np.testing.assert_allclose(shown, decode_at(bar_decoder, -2.0, 1.0))
    marker = widget.figure.axes[0].lines[0].get_data()
    assert (marker[0][0], marker[1][0]) == (-2.0, 1.0)
    assert widget.figure.axes[0].collections[0].get_offsets().shape == (50, 2)
    if os.environ.get("DLCOURSE_SAVE_WIDGETS"):
        widget.figure.savefig(os.path.join(os.environ["DLCOURSE_SAVE_WIDGETS"], "latent_explorer.png"))


def test_widget_reports_an_unwritten_decoder_and_bad_codes():
    def not_written(z):
        raise NotImplementedError("vae_forward")

    widget = latent_explorer(not_written, np.zeros((3, 2)), np.zeros(3, dtype=int))
    assert any("Not implemented yet" in text.get_text() for ax in widget.figure.axes for text in ax.texts)
    with pytest.raises(ValueError, match=r"codes must be \(N, 2\)"):
        latent_explorer(bar_decoder, np.zeros((3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match="labels must have shape"):
        latent_explorer(bar_decoder, np.zeros((3, 2)), np.zeros(4))
