"""The network playground (notebook 03_backprop): the pure training function against
independent computations, then the widget headless."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from dlcourse.widgets import playground


def test_first_loss_is_the_cross_entropy_of_the_seeded_initial_net():
    X, y = playground.make_playground_data("moons")
    result = playground.train_playground(X, y, hidden_width=8, activation="tanh", steps=5, seed=3)
    torch.manual_seed(3)
    fresh = playground.build_mlp(2, 8, 1, "tanh")
    expected = torch.nn.functional.cross_entropy(fresh(torch.from_numpy(X)), torch.from_numpy(y)).item()
    assert len(result.loss_history) == 5
    assert result.loss_history[0] == pytest.approx(expected, rel=1e-6)


def test_grid_probabilities_and_predictions_come_from_the_trained_model():
    X, y = playground.make_playground_data("spirals")
    result = playground.train_playground(X, y, hidden_width=16, steps=20, grid_size=30)
    assert result.xx.shape == result.yy.shape == (30, 30) and result.probs.shape == (30, 30, 3)
    assert result.xx.min() < X[:, 0].min() and result.yy.max() > X[:, 1].max()
    grid = np.column_stack([result.xx.ravel(), result.yy.ravel()]).astype(np.float32)
    with torch.no_grad():
        expected = torch.softmax(result.model(torch.from_numpy(grid)), dim=1).numpy()
    np.testing.assert_allclose(result.probs.reshape(-1, 3), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(result.predict(grid), expected.argmax(axis=1))
    assert result.train_accuracy == pytest.approx(np.mean(result.predict(X) == y))


def test_linear_activation_gives_a_linear_classifier():
    """With the identity as activation the log-odds between classes are affine in (x1, x2)."""
    X, y = playground.make_playground_data("blobs")
    result = playground.train_playground(X, y, hidden_width=16, activation="linear", num_hidden_layers=2,
                                         steps=50, grid_size=20)
    log_odds = np.log(result.probs[..., 1:]) - np.log(result.probs[..., :1])  # (G, G, C-1)
    design = np.column_stack([result.xx.ravel(), result.yy.ravel(), np.ones(result.xx.size)])
    targets = log_odds.reshape(-1, log_odds.shape[-1]).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, targets, rcond=None)
    assert np.abs(design @ coef - targets).max() < 1e-3 * (1 + np.abs(targets).max())
    # ...whereas ReLU units bend the boundary: the same fit leaves a large residual.
    bent = playground.train_playground(X, y, hidden_width=16, activation="relu", num_hidden_layers=2,
                                       steps=200, grid_size=20)
    bent_odds = (np.log(bent.probs[..., 1:]) - np.log(bent.probs[..., :1])).reshape(-1, 2).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design, bent_odds, rcond=None)
    assert np.abs(design @ coef - bent_odds).max() > 0.1


def test_a_small_relu_net_learns_the_moons():
    X, y = playground.make_playground_data("moons")
    result = playground.train_playground(X, y, hidden_width=32, activation="relu", learning_rate=0.03, steps=300)
    assert result.train_accuracy >= 0.95
    assert result.loss_history[-1] < 0.3 * result.loss_history[0]


def test_same_seed_same_result_and_the_callers_random_stream_is_untouched():
    X, y = playground.make_playground_data("spirals")
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    threads = torch.get_num_threads()
    first = playground.train_playground(X, y, steps=30, seed=1, grid_size=10)
    assert torch.equal(torch.rand(3), expected_next)
    assert torch.get_num_threads() == threads
    second = playground.train_playground(X, y, steps=30, seed=1, grid_size=10)
    assert first.loss_history == second.loss_history
    third = playground.train_playground(X, y, steps=30, seed=2, grid_size=10)
    assert first.loss_history != third.loss_history


@pytest.mark.parametrize("name", playground.DATASETS)
def test_toy_datasets_are_centred_and_scaled(name):
    X, y = playground.make_playground_data(name)
    assert X.dtype == np.float32 and X.shape == (len(y), 2)
    assert np.abs(X.mean(axis=0)).max() < 1e-5 and np.abs(X).max() == pytest.approx(1.0)


def test_bad_arguments_are_explained():
    X, y = playground.make_playground_data("moons")
    with pytest.raises(ValueError, match="activation must be one of"):
        playground.train_playground(X, y, activation="swish")
    with pytest.raises(ValueError, match="dataset must be one of"):
        playground.make_playground_data("circles")
    with pytest.raises(ValueError, match=r"expected X of shape \(N, 2\)"):
        playground.train_playground(X[:, :1], y)


def drawn(widget):
    regions_ax, loss_ax = widget.figure.axes
    return regions_ax.images[0].get_array().copy(), regions_ax.get_title(), loss_ax.lines[0].get_ydata().copy()


def test_widget_builds_headless_and_every_control_changes_the_drawing():
    widget = playground.network_playground()
    assert set(widget.controls) == {"dataset", "hidden_layers", "hidden_width", "activation", "learning_rate", "steps"}
    image, title, losses = drawn(widget)
    assert "spirals: 1 x 16 relu" in title and len(losses) == 300

    changes = [("hidden_width", 2, "1 x 2 relu"), ("activation", "tanh", "tanh"), ("hidden_layers", 2, "2 x 2 tanh"),
               ("learning_rate", 0.3, None), ("steps", 100, None), ("dataset", "moons", "moons:")]
    for name, value, in_title in changes:
        widget.controls[name].value = value  # each change redraws
        new_image, new_title, new_losses = drawn(widget)
        assert not (np.array_equal(new_image, image) and np.array_equal(new_losses, losses)), name
        if in_title:
            assert in_title in new_title, (name, new_title)
        image, losses = new_image, new_losses
    assert len(losses) == 100


def test_widget_redraws_in_about_a_second():
    widget = playground.network_playground()
    start = time.process_time()  # CPU time, not wall time: on a shared machine the wall clock measures the others
    widget.redraw()
    assert time.process_time() - start < 3.0  # about 0.3 s on an idle laptop


def test_figure_fits_a_1366_px_screen_beside_the_control_column_and_the_plane_is_to_scale():
    widget = playground.network_playground()
    width, height = widget.figure.get_size_inches() * widget.figure.dpi
    assert width + 380 + 120 <= 1366 and height <= 768 - 250  # controls at most 380 px; lab margins ~120 px
    regions_ax = widget.figure.axes[0]
    assert regions_ax.get_aspect() == 1.0  # one unit of x1 is as long as one unit of x2
