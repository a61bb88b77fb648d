"""The activation statistics explorer of notebook 04: its pure functions and its widget (headless)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from dlcourse.widgets.activation_stats import (
    ACTIVATIONS,
    activation_stats_widget,
    forward_activations,
    gaussian_init,
    histogram_layers,
    layer_statistics,
)

TORCH_ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu, "sigmoid": torch.sigmoid, "linear": lambda t: t}


def recording_init(std, store):
    """A Gaussian init that remembers every weight matrix it hands out."""
    def init(fan_in, fan_out, rng):
        weights = std * rng.standard_normal((fan_in, fan_out))
        store.append(weights)
        return weights
    return init


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_forward_activations_match_a_torch_forward_pass(activation):
    weights = []
    layers = forward_activations(recording_init(0.2, weights), activation, depth=4, width=16,
                                 num_samples=30, scale=1.5, seed=3)
    h = torch.tensor(np.random.default_rng(3).standard_normal((30, 16)))  # the input comes first from the seed
    assert len(layers) == 4 and len(weights) == 4
    for layer, w in zip(layers, weights):
        h = TORCH_ACTIVATIONS[activation](h @ torch.tensor(1.5 * w))
        assert layer.shape == (30, 16)
        np.testing.assert_allclose(layer, h.numpy(), rtol=1e-12, atol=1e-12)


def test_variance_preserving_scales_keep_the_spread_and_small_ones_shrink_it():
    width = 400
    linear = layer_statistics(forward_activations(gaussian_init(width ** -0.5), "linear", depth=10, width=width))
    relu = forward_activations(gaussian_init(np.sqrt(2 / width)), "relu", depth=10, width=width)
    small = layer_statistics(forward_activations(gaussian_init(0.01), "tanh", depth=10, width=width))
    assert np.all(np.abs(linear["std"] - 1) < 0.2)
    second_moments = [np.mean(h ** 2) for h in relu]
    assert 0.5 < second_moments[-1] / second_moments[0] < 2  # Kaiming keeps E[h^2] steady
    expected_factor = 0.01 * np.sqrt(width)  # tanh is linear near 0
    assert np.allclose(small["std"][1:] / small["std"][:-1], expected_factor, rtol=0.1)


def test_layer_statistics_see_dead_relus_and_saturated_tanh():
    relu = layer_statistics(forward_activations(gaussian_init(0.1), "relu", depth=3, width=100))
    assert np.all(np.abs(relu["zero_fraction"] - 0.5) < 0.05)
    tanh = layer_statistics(forward_activations(gaussian_init(1.0), "tanh", depth=3, width=100))
    assert np.all(tanh["saturated_fraction"] > 0.7)
    assert set(relu) == {"mean", "std", "zero_fraction", "saturated_fraction"}


def test_histogram_layers_spread_over_the_depth():
    assert histogram_layers(6) == list(range(6))
    deep = histogram_layers(20)
    assert len(deep) == 10 and deep[0] == 0 and deep[-1] == 19 and deep == sorted(set(deep))


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="activation must be one of"):
        forward_activations(gaussian_init(1.0), "swish")
    with pytest.raises(ValueError, match="returned shape"):
        forward_activations(lambda fan_in, fan_out, rng: np.ones((fan_out + 1, fan_in)), "tanh", width=8)


def _histogram_data(widget):
    return [ax.patches[0].get_height() if ax.patches else None for ax in widget.figure.axes[1:]]


def test_widget_builds_headless_and_redraws_when_a_control_changes():
    widget = activation_stats_widget({"xavier-like": gaussian_init(1 / 16), "big": gaussian_init(1.0)},
                                     width=64, num_samples=100)
    assert widget.figure is not None
    assert len(widget.figure.axes) == 1 + 10  # std plot and one histogram per layer
    before = _histogram_data(widget)
    widget.controls["activation"].value = "relu"
    assert _histogram_data(widget) != before
    widget.controls["depth"].value = 4
    assert len(widget.figure.axes) == 1 + 4
    widget.controls["init"].value = "big"
    widget.controls["scale"].value = 10.0  # relu with huge weights: explodes, still draws
    assert len(widget.figure.axes) == 1 + 4
    assert widget.redraw() is widget.figure


def test_widget_reports_an_unwritten_init_function_on_axes():
    """The release notebook calls the widget before the student wrote the init functions: the
    message must be drawn on axes (text on an axis-less figure is not rendered inline)."""
    def xavier_init(fan_in, fan_out, rng):
        raise NotImplementedError("Write your solution here (see the docstring above).")

    widget = activation_stats_widget({"Xavier": xavier_init, "big": gaussian_init(1.0)}, width=16, num_samples=10)
    (ax,) = widget.figure.axes
    message = " ".join(t.get_text() for t in ax.texts)
    assert "Not implemented yet" in message and "xavier_init" in message and "Xavier" in message
    widget.controls["init"].value = "big"  # a written init draws the statistics again
    assert len(widget.figure.axes) == 1 + 10


def test_widget_figure_fits_beside_the_controls_on_a_small_screen():
    widget = activation_stats_widget({"big": gaussian_init(1.0)}, width=16, num_samples=10)
    width_px = widget.figure.get_figwidth() * widget.figure.dpi
    assert width_px + 300 <= 1366 - 130  # 300 px of controls, about 130 px of JupyterLab around a cell
