"""The kNN widget (notebook 01_knn): the pure functions against a NumPy oracle, then the widget headless."""

from __future__ import annotations

import time

import numpy as np
import pytest

from dlcourse.widgets import knn


def oracle_predict(X_train, y_train, X_query, k, metric, exclude_self=False):
    """Brute-force kNN in plain NumPy: k smallest distances, vote, ties to the smallest label."""
    diff = X_query[:, None, :] - X_train[None, :, :]
    dists = np.abs(diff).sum(-1) if metric == "L1" else np.sqrt((diff ** 2).sum(-1))
    if exclude_self:
        np.fill_diagonal(dists, np.inf)
    nearest = np.argsort(dists, axis=1)[:, :k]
    return np.array([np.argmax(np.bincount(y_train[row], minlength=y_train.max() + 1)) for row in nearest])


def random_points(num_points=60, num_classes=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(num_points, 2)), rng.integers(0, num_classes, size=num_points)


@pytest.mark.parametrize("metric", ["L1", "L2"])
@pytest.mark.parametrize("k,num_classes", [(1, 2), (5, 2), (7, 3)])
def test_decision_regions_match_a_numpy_oracle(metric, k, num_classes):
    X, y = random_points(num_classes=num_classes, seed=k)
    regions = knn.knn_decision_regions(X, y, k=k, metric=metric, grid_size=25)
    assert regions.xx.shape == regions.yy.shape == regions.labels.shape == (25, 25)
    grid = np.column_stack([regions.xx.ravel(), regions.yy.ravel()])
    expected = oracle_predict(X, y, grid, k, metric).reshape(25, 25)
    assert np.mean(regions.labels == expected) > 0.99  # exact but for equal-distance grid points
    assert regions.xx.min() < X[:, 0].min() and regions.yy.max() > X[:, 1].max()


@pytest.mark.parametrize("metric", ["L1", "L2"])
def test_train_and_leave_one_out_accuracies_match_the_oracle(metric):
    X, y = random_points(num_points=50, num_classes=3, seed=3)
    for k in (1, 3, 6):
        regions = knn.knn_decision_regions(X, y, k=k, metric=metric, grid_size=5)
        assert regions.train_accuracy == pytest.approx(np.mean(oracle_predict(X, y, X, k, metric) == y))
        loo = oracle_predict(X, y, X, k, metric, exclude_self=True)
        assert regions.loo_accuracy == pytest.approx(np.mean(loo == y))
    assert knn.knn_decision_regions(X, y, k=1, metric=metric, grid_size=5).train_accuracy == 1.0


def test_l1_and_l2_regions_differ():
    X, y = random_points(num_points=80, num_classes=3, seed=5)
    l1 = knn.knn_decision_regions(X, y, k=3, metric="L1", grid_size=60).labels
    l2 = knn.knn_decision_regions(X, y, k=3, metric="L2", grid_size=60).labels
    assert 0 < np.mean(l1 != l2) < 0.3


@pytest.mark.parametrize("metric", ["L1", "L2"])
def test_nearest_neighbours_and_their_radius(metric):
    X, _ = random_points(seed=7)
    query = np.array([0.3, -0.2])
    index, radius = knn.nearest_neighbours(X, query, k=4, metric=metric)
    diff = X - query
    dists = np.abs(diff).sum(1) if metric == "L1" else np.sqrt((diff ** 2).sum(1))
    np.testing.assert_array_equal(index, np.argsort(dists)[:4])
    assert radius == pytest.approx(np.sort(dists)[3])


@pytest.mark.parametrize("metric,order", [("L1", 1), ("L2", 2)])
def test_metric_ball_is_the_set_at_that_distance(metric, order):
    center = np.array([1.0, -2.0])
    xs, ys = knn.metric_ball(center, 0.7, metric)
    points = np.column_stack([xs, ys]) - center
    np.testing.assert_allclose(np.linalg.norm(points, ord=order, axis=1), 0.7, rtol=1e-12)
    assert (xs[0], ys[0]) == pytest.approx((xs[-1], ys[-1]))  # closed curve


def test_bad_arguments_are_explained():
    X, y = random_points()
    with pytest.raises(ValueError, match="metric"):
        knn.knn_decision_regions(X, y, metric="cosine")
    with pytest.raises(ValueError, match="k must be"):
        knn.knn_decision_regions(X, y, k=len(X))
    with pytest.raises(ValueError, match=r"\(N, 2\)"):
        knn.knn_decision_regions(np.zeros((5, 3)), np.zeros(5, dtype=int))


@pytest.mark.parametrize("name", knn.DATASETS)
def test_toy_datasets_are_standardised(name):
    X, y = knn.toy_dataset(name)
    assert X.shape == (len(y), 2)
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-9)
    np.testing.assert_allclose(X.std(0), 1, atol=1e-9)


def drawn_regions(widget):
    """The label grid shown by the widget's pcolormesh, and the texts of its title."""
    ax = widget.figure.axes[0]
    return np.asarray(ax.collections[0].get_array()).copy(), ax.get_title()


def test_widget_builds_headless_and_redraws_on_every_control():
    widget = knn.knn_widget()
    assert set(widget.controls) == {"dataset", "k", "metric", "query_x", "query_y"}
    regions, title = drawn_regions(widget)
    assert "k = 5, L2" in title and regions.size > 0

    widget.controls["k"].value = 1
    regions_k1, title_k1 = drawn_regions(widget)
    assert "k = 1" in title_k1 and "training accuracy 100%" in title_k1
    assert not np.array_equal(regions, regions_k1)

    widget.controls["metric"].value = "L1"
    regions_l1, title_l1 = drawn_regions(widget)
    assert "L1" in title_l1 and not np.array_equal(regions_k1, regions_l1)

    ball_before = widget.figure.axes[0].lines[0].get_xydata().copy()
    widget.controls["query_x"].value = 1.0
    assert not np.allclose(widget.figure.axes[0].lines[0].get_xydata(), ball_before)

    widget.controls["dataset"].value = "spirals"
    assert len(np.unique(drawn_regions(widget)[0])) == 3


def test_widget_redraws_in_well_under_a_second():
    widget = knn.knn_widget(dataset="spirals", k=7)
    start = time.perf_counter()
    widget.redraw()
    assert time.perf_counter() - start < 1.5  # generous: the test machine is shared
