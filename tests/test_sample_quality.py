"""Sample-quality numbers (dlcourse.sample_quality) against brute force, scipy and hand cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import energy_distance as scipy_energy_distance

from dlcourse.sample_quality import classifier_scores, energy_distance, gaussian_fit_samples, mode_coverage


def energy_by_loops(X, Y):
    """2 E|X - Y| - E|X - X'| - E|Y - Y'|, the within-sample means without the pairs (i, i)."""
    between = np.mean([np.linalg.norm(x - y) for x in X for y in Y])
    within_x = np.mean([np.linalg.norm(X[i] - X[j]) for i in range(len(X)) for j in range(len(X)) if i != j])
    within_y = np.mean([np.linalg.norm(Y[i] - Y[j]) for i in range(len(Y)) for j in range(len(Y)) if i != j])
    return 2 * between - within_x - within_y


def test_energy_distance_matches_a_brute_force_loop():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((17, 3)), rng.standard_normal((11, 3)) * 2 + 1
    assert energy_distance(X, Y) == pytest.approx(energy_by_loops(X, Y), rel=1e-12)
    assert energy_distance(torch.from_numpy(X), Y) == pytest.approx(energy_by_loops(X, Y), rel=1e-12)


def test_energy_distance_in_one_dimension_agrees_with_scipy():
    # scipy returns sqrt(2 E|X-Y| - E|X-X'| - E|Y-Y'|) with the pairs (i, i) included (a V-statistic)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal(40), rng.standard_normal(25) + 0.5
    n, m = len(x), len(y)
    ours = energy_distance(x, y)
    within_x = np.abs(x[:, None] - x[None]).sum() / (n * (n - 1))
    within_y = np.abs(y[:, None] - y[None]).sum() / (m * (m - 1))
    v_statistic = ours + within_x / n + within_y / m    # the same sums divided by n^2 and m^2
    assert np.sqrt(v_statistic) == pytest.approx(scipy_energy_distance(x, y), rel=1e-10)


def test_energy_distance_is_about_zero_for_one_law_and_grows_with_a_shift():
    rng = np.random.default_rng(2)
    same = [energy_distance(rng.standard_normal((300, 2)), rng.standard_normal((300, 2))) for _ in range(5)]
    assert abs(np.mean(same)) < 0.01
    shifted = [energy_distance(rng.standard_normal((300, 2)), rng.standard_normal((300, 2)) + shift)
               for shift in (0.5, 1.0, 2.0)]
    assert 0.05 < shifted[0] < shifted[1] < shifted[2]


def test_energy_distance_flattens_images_and_refuses_bad_input():
    rng = np.random.default_rng(3)
    images, other = rng.random((10, 4, 4)), rng.random((12, 4, 4))
    assert energy_distance(images, other) == pytest.approx(energy_distance(images.reshape(10, -1), other.reshape(12, -1)))
    with pytest.raises(ValueError, match="same dimension"):
        energy_distance(rng.random((5, 2)), rng.random((5, 3)))
    with pytest.raises(ValueError, match="NaN"):
        energy_distance(np.array([[0.0], [np.nan]]), rng.random((5, 1)))
    with pytest.raises(ValueError, match="at least 2"):
        energy_distance(rng.random((1, 2)), rng.random((5, 2)))


def test_mode_coverage_by_hand():
    centers = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    samples = np.array([[0.1, 0.0]] * 6 + [[10.0, 0.2]] * 3 + [[5.0, 5.0]])   # 9 near, 1 far, mode 3 empty
    assert mode_coverage(samples, centers, max_distance=0.5) == {"modes_covered": 2, "share_near": 0.9}
    assert mode_coverage(samples, centers, max_distance=0.5, min_share=0.5)["modes_covered"] == 1


def test_classifier_scores_by_hand():
    sure_and_varied = np.eye(4)[[0, 1, 2, 3, 0, 1, 2, 3]]
    scores = classifier_scores(sure_and_varied, requested=np.array([0, 1, 2, 3, 0, 1, 2, 0]))
    assert scores["mean_confidence"] == 1.0
    assert scores["accuracy"] == 7 / 8
    assert scores["classifier_score"] == pytest.approx(4.0)       # C when confident and balanced
    collapsed = classifier_scores(np.eye(4)[[2] * 8])
    assert collapsed["classifier_score"] == pytest.approx(1.0) and np.isnan(collapsed["accuracy"])
    unsure = classifier_scores(np.full((5, 4), 0.25))
    assert unsure["mean_confidence"] == 0.25 and unsure["classifier_score"] == pytest.approx(1.0)


def test_classifier_scores_refuse_rows_that_are_not_probabilities():
    with pytest.raises(ValueError, match="rows summing to 1"):
        classifier_scores(np.ones((3, 2)))
    with pytest.raises(ValueError, match="requested"):
        classifier_scores(np.eye(3), requested=np.array([0, 1]))


def test_gaussian_fit_samples_have_the_data_moments():
    rng = np.random.default_rng(4)
    data = rng.multivariate_normal([1.0, -2.0], [[2.0, 0.9], [0.9, 1.0]], size=5000)
    full = gaussian_fit_samples(data, 20000, np.random.default_rng(0))
    np.testing.assert_allclose(full.mean(axis=0), data.mean(axis=0), atol=0.05)
    np.testing.assert_allclose(np.cov(full, rowvar=False), np.cov(data, rowvar=False), atol=0.08)
    diagonal = gaussian_fit_samples(data, 20000, np.random.default_rng(0), diagonal=True, clip=(-1.0, 10.0))
    assert abs(np.corrcoef(diagonal, rowvar=False)[0, 1]) < 0.05 and diagonal.min() >= -1.0
    assert full.shape == (20000, 2) and full.dtype == np.float64
