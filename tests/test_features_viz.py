"""dlcourse.features_viz (notebook 01_knn): test-set changes and the HOG and accuracy pictures."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlcourse import features_viz  # noqa: E402


@pytest.mark.parametrize("shape", [(3, 5, 6), (2, 4, 7, 3)])
def test_perturbations_change_copies_as_documented(shape):
    images = np.random.default_rng(0).uniform(size=shape).astype(np.float32)
    before = images.copy()
    original = features_viz.perturb_images(images, "original")
    dimmed = features_viz.perturb_images(images, "dimmed")
    brighter = features_viz.perturb_images(images, "brighter background")
    shifted = features_viz.perturb_images(images, "shifted 1 pixel")
    np.testing.assert_array_equal(images, before)  # the input is left unchanged
    assert original is not images and np.array_equal(original, images)
    np.testing.assert_allclose(dimmed, 0.5 * images, rtol=1e-6)
    np.testing.assert_allclose(brighter, 0.6 * images + 0.4, rtol=1e-6)
    np.testing.assert_array_equal(shifted[:, :, 1:], images[:, :, :-1])  # one column to the right
    np.testing.assert_array_equal(shifted[:, :, 0], 0)
    for changed in (original, dimmed, brighter, shifted):
        assert changed.dtype == images.dtype and changed.shape == images.shape
        assert changed.min() >= 0 and changed.max() <= 1


def test_perturbation_errors_name_the_problem():
    with pytest.raises(ValueError, match="kind must be one of"):
        features_viz.perturb_images(np.zeros((1, 2, 2)), "blurred")
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        features_viz.perturb_images(np.zeros((4, 4)), "dimmed")


def test_hog_segments_run_along_the_edge_through_the_cell_centres():
    histograms = np.zeros((2, 3, 9))
    histograms[1, 2, 0] = 2.0  # a gradient along x (a vertical edge) in cell (1, 2)
    histograms[0, 0, 4] = 1.0  # a gradient along y (a horizontal edge) in cell (0, 0)
    segments = features_viz.hog_segments(histograms, cell_size=4).reshape(2, 3, 9, 2, 2)
    vertical, horizontal = segments[1, 2, 0], segments[0, 0, 4]
    np.testing.assert_allclose(vertical.mean(axis=0), [2 * 4 + 1.5, 1 * 4 + 1.5])  # centre (x, y) of cell (1, 2)
    direction = vertical[1] - vertical[0]
    assert abs(direction[0]) < 0.35 * abs(direction[1])  # bin 0 (10 degrees): nearly vertical segment
    assert np.linalg.norm(direction) == pytest.approx(4.0)  # the largest bin spans the cell
    direction = horizontal[1] - horizontal[0]
    assert abs(direction[1]) < 0.1 * abs(direction[0])  # bin 4 (90 degrees): a horizontal segment
    assert np.linalg.norm(direction) == pytest.approx(2.0)  # half of the largest bin
    empty = segments[0, 1]  # cell (0, 1) has no gradient: each segment shrinks to a point
    np.testing.assert_allclose(empty[:, 0], empty[:, 1])


def test_hog_segments_reject_a_flat_array():
    with pytest.raises(ValueError, match=r"\(Hc, Wc, B\)"):
        features_viz.hog_segments(np.zeros(9), cell_size=2)


def test_draw_hog_and_accuracy_table_draw_what_they_are_given():
    fig, (left, right) = plt.subplots(1, 2)
    histograms = np.random.default_rng(1).uniform(size=(2, 2, 9))
    features_viz.draw_hog(left, np.zeros((8, 8)), histograms, cell_size=4, title="a digit")
    assert len(left.collections[0].get_segments()) == 2 * 2 * 9
    assert left.get_title() == "a digit"
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        features_viz.draw_hog(left, np.zeros((8, 8, 3)), histograms, cell_size=4)
    accuracies = {"pixels": {"original": 0.9, "dimmed": 0.5}, "HOG": {"original": 0.8, "dimmed": 0.8}}
    features_viz.plot_accuracy_table(right, accuracies, chance=0.1)
    heights = sorted(round(bar.get_height(), 6) for bar in right.patches)
    assert heights == [50.0, 80.0, 80.0, 90.0]
    assert [label.get_text() for label in right.get_xticklabels()] == ["original", "dimmed"]
    assert right.get_ylabel() == "test accuracy (%)"
    plt.close(fig)
