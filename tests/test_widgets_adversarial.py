"""The adversarial slider (12_understanding): what it computes against a reference attack, the widget headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dlcourse.widgets.adversarial import adversarial_example, adversarial_explorer


def tiny_model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10)).eval()


def reference_pgd(model, x, labels, eps, steps):
    """PGD by the notebook's docstring (alpha = 2.5 eps / steps), written here as the notebook hands it in."""
    alpha = 2.5 * eps / steps
    x_adv = x.clone()
    for _ in range(steps):
        x_adv = x_adv.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(model(x_adv), labels), x_adv)
        x_adv = (x + (x_adv + alpha * g.sign() - x).clamp(-eps, eps)).clamp(0, 1)
    return x_adv.detach()


@pytest.mark.parametrize("eps, steps", [(0.0, 1), (0.05, 1), (0.1, 10), (0.3, 3)])
def test_adversarial_example_measures_the_attack(eps, steps):
    model, image = tiny_model(), torch.rand(1, 8, 8)
    result = adversarial_example(model, image, 3, reference_pgd, eps, steps)
    expected = reference_pgd(model, image[None], torch.tensor([3]), eps, steps)[0]
    np.testing.assert_allclose(result["adversarial"], expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(result["perturbation"], (expected - image).numpy(), atol=1e-7)
    assert result["linf"] <= eps + 1e-6
    with torch.no_grad():
        np.testing.assert_allclose(result["clean"], F.softmax(model(image[None]), 1)[0].numpy(), rtol=1e-5)
        np.testing.assert_allclose(result["attacked"], F.softmax(model(expected[None]), 1)[0].numpy(), rtol=1e-5)
    if eps > 0:
        assert result["attacked"][3] < result["clean"][3]           # the attack lowers the true class


def test_adversarial_example_accepts_numpy_images():
    result = adversarial_example(tiny_model(), np.random.default_rng(0).random((1, 8, 8)), 0, reference_pgd, 0.1, 2)
    assert result["adversarial"].shape == (1, 8, 8) and result["adversarial"].dtype == np.float32


def test_explorer_redraws_with_eps_and_steps():
    model, images = tiny_model(), torch.rand(4, 1, 8, 8)
    widget = adversarial_explorer(model, images, [0, 1, 2, 3], reference_pgd)
    assert set(widget.values()) == {"index", "eps", "steps"}
    assert len(widget.figure.axes) == 5                              # clean, delta, adversarial, bars, colour bar
    delta = np.asarray(widget.figure.axes[1].images[0].get_array())
    assert np.abs(delta).max() <= 1.0 + 1e-6                          # drawn as delta / eps
    assert widget.figure.axes[1].images[0].get_cmap().name == "RdBu_r"
    assert widget.figure.axes[1].images[0].get_clim() == (-1.0, 1.0)
    widget.controls["eps"].value = 0.0
    assert np.abs(np.asarray(widget.figure.axes[1].images[0].get_array())).max() == 0.0
    np.testing.assert_allclose(widget.figure.axes[2].images[0].get_array(), images[0, 0].numpy(), atol=1e-7)
    widget.controls["steps"].value = 5
    widget.controls["eps"].value = 0.2
    assert "5 steps" in widget.figure.texts[0].get_text() and "0.200" in widget.figure.texts[0].get_text()
    widget.controls["index"].value = 2
    np.testing.assert_allclose(widget.figure.axes[0].images[0].get_array(), images[2, 0].numpy())


def test_explorer_says_not_implemented_for_a_stub():
    def stub(model, x, labels, eps, steps):
        raise NotImplementedError("pgd_attack")

    widget = adversarial_explorer(tiny_model(), torch.rand(2, 1, 8, 8), [0, 1], stub)
    texts = " ".join(t.get_text() for ax in widget.figure.axes for t in ax.texts)
    assert "Not implemented yet" in texts and "pgd_attack" in texts


def test_explorer_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="labels"):
        adversarial_explorer(tiny_model(), torch.rand(3, 1, 8, 8), [0], reference_pgd)
