"""The 2-D linear classifier widget of notebook 02_linear: pure functions against oracles,
and the widget built and redrawn headless."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp

from dlcourse.widgets import linear


def hinge_by_loops(scores, y):
    total = 0.0
    for i, row in enumerate(scores):
        total += sum(max(0.0, row[j] - row[y[i]] + 1.0) for j in range(len(row)) if j != y[i])
    return total / len(y)


@pytest.fixture(scope="module")
def toy():
    return linear.toy_dataset()


def test_toy_dataset_has_three_balanced_classes_and_is_deterministic(toy):
    X, y = toy
    assert X.shape == (90, 2) and y.shape == (90,)
    assert np.bincount(y).tolist() == [30, 30, 30]
    X2, y2 = linear.toy_dataset()
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)


def test_losses_match_loop_and_logsumexp_oracles(toy):
    X, y = toy
    rng = np.random.default_rng(0)
    W, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    view = linear.linear_losses(W, b, X, y)
    scores = X @ W + b
    np.testing.assert_allclose(view.scores, scores)
    assert view.svm_loss == pytest.approx(hinge_by_loops(scores, y), rel=1e-10)
    softmax = np.mean(logsumexp(scores, axis=1) - scores[np.arange(len(y)), y])
    assert view.softmax_loss == pytest.approx(softmax, rel=1e-10)
    assert view.accuracy == pytest.approx(np.mean(np.argmax(scores, axis=1) == y))


def test_zero_weights_give_the_chance_losses(toy):
    X, y = toy
    view = linear.linear_losses(np.zeros((2, 3)), np.zeros(3), X, y)
    assert view.svm_loss == pytest.approx(2.0)  # C - 1
    assert view.softmax_loss == pytest.approx(np.log(3))
    assert view.violators.all()


def test_violators_are_the_points_with_positive_hinge_loss(toy):
    X, y = toy
    W, b = linear.DEFAULT_W, linear.DEFAULT_B
    view = linear.linear_losses(W, b, X, y)
    scores = X @ W + b
    per_point = [hinge_by_loops(scores[i : i + 1], y[i : i + 1]) for i in range(len(y))]
    np.testing.assert_array_equal(view.violators, np.array(per_point) > 0)


def test_a_good_classifier_separates_the_toy_set(toy):
    X, y = toy
    W = np.array([[0.0, -2.0, 2.0], [2.5, -1.0, -1.0]])
    view = linear.linear_losses(W, np.zeros(3), X, y)
    assert view.accuracy == 1.0 and view.svm_loss < 0.05 and view.softmax_loss < 0.1


def test_decision_regions_are_the_argmax_of_the_scores():
    rng = np.random.default_rng(1)
    W, b = rng.standard_normal((2, 3)), rng.standard_normal(3)
    xx, yy, labels = linear.decision_regions(W, b, grid_size=40)
    assert xx.shape == yy.shape == labels.shape == (40, 40)
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    np.testing.assert_array_equal(labels.ravel(), np.argmax(grid @ W + b, axis=1))


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="b of shape"):
        linear.linear_scores(np.zeros((2, 3)), np.zeros(2), np.zeros((4, 2)))
    with pytest.raises(ValueError, match="X of shape"):
        linear.linear_scores(np.zeros((2, 3)), np.zeros(3), np.zeros((4, 5)))


def test_widget_builds_headless_and_redraws_when_a_slider_moves():
    widget = linear.linear_classifier_widget()
    assert len(widget.controls) == 9
    first = widget.figure
    regions = first.axes[0].collections[0].get_array().copy()
    title = first.axes[0].get_title()
    widget.controls["b2"].value = 3.0  # class 2's region swallows most of the plane
    second = widget.figure
    assert second is not first
    assert not np.array_equal(second.axes[0].collections[0].get_array(), regions)
    assert second.axes[0].get_title() != title
    bars = [patch.get_height() for patch in second.axes[1].patches]
    view = linear.linear_losses(
        np.array([[widget.controls[f"w{c}_x1"].value for c in range(3)],
                  [widget.controls[f"w{c}_x2"].value for c in range(3)]]),
        np.array([widget.controls[f"b{c}"].value for c in range(3)]),
        *linear.toy_dataset(),
    )
    np.testing.assert_allclose(bars, [view.svm_loss, view.softmax_loss])


def test_figure_fits_a_1366_px_screen_beside_the_control_column():
    """Controls (at most 380 px) beside the figure; JupyterLab's margins take about 120 px more."""
    widget = linear.linear_classifier_widget()
    width, height = widget.figure.get_size_inches() * widget.figure.dpi
    assert width + 380 + 120 <= 1366 and height <= 768 - 250
    assert widget.children[0].layout.max_width == "380px"  # the control column of dlcourse.widgets.base
