"""The saliency explorer (12_understanding): pure functions against loops and torch, the widget headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dlcourse.widgets.saliency import (
    PREDICTED,
    class_probabilities,
    heat_display,
    heat_to_image,
    occlusion_to_pixels,
    saliency_explorer,
)


def tiny_model(seed=0, num_classes=10, dropout=0.5):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Dropout(dropout), nn.Linear(4, num_classes))


def gradient_method(model, x, c):
    """A reference gradient saliency (torch), as the notebook hands the student's one in."""
    x = x.clone().requires_grad_(True)
    model.eval()
    model(x)[0, c].backward()
    return x.grad[0].abs().amax(0)


@pytest.mark.parametrize("patch, stride, height, width", [(2, 1, 8, 8), (3, 2, 7, 9), (1, 1, 4, 5), (4, 3, 10, 7)])
def test_occlusion_to_pixels_is_the_mean_of_the_covering_patches(patch, stride, height, width):
    rng = np.random.default_rng(0)
    rows, cols = (height - patch) // stride + 1, (width - patch) // stride + 1
    drops = rng.standard_normal((rows, cols))
    got = occlusion_to_pixels(drops, patch, stride, height, width)
    assert got.shape == (height, width) and got.dtype == np.float32
    for y in range(height):
        for x in range(width):
            covering = [drops[i, j] for i in range(rows) for j in range(cols)
                        if i * stride <= y < i * stride + patch and j * stride <= x < j * stride + patch]
            assert got[y, x] == pytest.approx(np.mean(covering) if covering else 0.0, abs=1e-6)


def test_occlusion_to_pixels_rejects_a_batch():
    with pytest.raises(ValueError, match=r"\(H', W'\)"):
        occlusion_to_pixels(np.zeros((2, 3, 3)), 2, 1, 4, 4)


def test_heat_to_image_keeps_a_full_size_map_and_resizes_a_small_one_like_torch():
    heat = np.arange(64, dtype=np.float32).reshape(8, 8)
    np.testing.assert_array_equal(heat_to_image(heat, 8, 8), heat)
    small = torch.rand(4, 3)
    expected = F.interpolate(small[None, None], size=(8, 6), mode="bilinear", align_corners=False)[0, 0]
    np.testing.assert_allclose(heat_to_image(small, 8, 6), expected.numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r"\(h, w\)"):
        heat_to_image(np.zeros((1, 4, 4)), 8, 8)


def test_heat_display_is_centred_for_signed_maps_and_starts_at_zero_otherwise():
    signed = heat_display(np.array([[-0.5, 2.0], [0.0, 1.0]]))
    assert signed["signed"] and signed["cmap"] == "RdBu_r" and signed["vmin"] == -2.0 and signed["vmax"] == 2.0
    positive = heat_display(np.array([[0.0, 3.0]]))
    assert not positive["signed"] and positive["vmin"] == 0.0 and positive["vmax"] == 3.0
    assert heat_display(np.zeros((2, 2)))["vmax"] == 1.0


def test_class_probabilities_run_in_eval_mode_and_restore_the_mode():
    model = tiny_model().train()
    image = torch.rand(1, 8, 8)
    first, second = class_probabilities(model, image), class_probabilities(model, image)
    np.testing.assert_allclose(first, second)                     # no dropout: eval mode
    assert model.training
    assert first.shape == (10,) and first.sum() == pytest.approx(1.0, abs=1e-5)
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(first, F.softmax(model(image[None]), 1)[0].numpy(), rtol=1e-5)


def test_explorer_draws_the_method_and_follows_its_controls():
    model = tiny_model()
    images, labels = torch.rand(5, 1, 8, 8), [3, 1, 4, 1, 5]
    calls = []

    def recording(model, x, c):
        calls.append(c)
        return gradient_method(model, x, c)

    widget = saliency_explorer(model, images, labels, {"gradient": recording, "signed": lambda m, x, c: x[0, 0] - 0.5})
    assert set(widget.values()) == {"index", "method", "explain"}
    ax_image, ax_heat = widget.figure.axes[:2]
    np.testing.assert_allclose(ax_image.images[0].get_array(), images[0, 0].numpy())
    predicted = int(np.argmax(class_probabilities(model, images[0])))
    assert calls[-1] == predicted and widget.controls["explain"].value == PREDICTED
    np.testing.assert_allclose(ax_heat.images[0].get_array(), gradient_method(model, images[:1], predicted).numpy(),
                               rtol=1e-5, atol=1e-7)
    widget.controls["explain"].value = 7
    assert calls[-1] == 7 and "class 7" in widget.figure.axes[1].get_title()
    widget.controls["index"].value = 3
    np.testing.assert_allclose(widget.figure.axes[0].images[0].get_array(), images[3, 0].numpy())
    widget.controls["method"].value = "signed"
    assert widget.figure.axes[1].images[0].get_cmap().name == "RdBu_r"
    assert len(widget.figure.axes) == 5                             # image, map, overlay, bars, colour bar


def test_explorer_says_not_implemented_for_a_stub():
    def stub(model, x, c):
        raise NotImplementedError("saliency_map")

    widget = saliency_explorer(tiny_model(), torch.rand(2, 1, 8, 8), [0, 1], {"gradient": stub})
    texts = " ".join(t.get_text() for ax in widget.figure.axes for t in ax.texts)
    assert "Not implemented yet" in texts and "saliency_map" in texts


def test_explorer_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="labels"):
        saliency_explorer(tiny_model(), torch.rand(3, 1, 8, 8), [0, 1], {"gradient": gradient_method})
    with pytest.raises(ValueError, match="at least one"):
        saliency_explorer(tiny_model(), torch.rand(2, 1, 8, 8), [0, 1], {})
