"""The ring of Gaussians (dlcourse.data.toy2d): seeded, the right modes, the right spread."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.data.toy2d import make_ring_of_gaussians, ring_centers


def test_ring_centers_lie_evenly_on_the_circle():
    centers = ring_centers(8, radius=2.0)
    assert centers.shape == (8, 2) and centers.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(centers, axis=1), 2.0, rtol=1e-6)
    np.testing.assert_allclose(centers[0], [2.0, 0.0], atol=1e-6)
    angles = np.unwrap(np.arctan2(centers[:, 1], centers[:, 0]))
    np.testing.assert_allclose(np.diff(angles), 2 * np.pi / 8, rtol=1e-5)


def test_points_are_seeded_float32_with_their_modes():
    X, mode = make_ring_of_gaussians(500, num_modes=5, radius=3.0, std=0.2, seed=4)
    again, mode_again = make_ring_of_gaussians(500, num_modes=5, radius=3.0, std=0.2, seed=4)
    other, _ = make_ring_of_gaussians(500, num_modes=5, radius=3.0, std=0.2, seed=5)
    assert X.shape == (500, 2) and X.dtype == np.float32 and mode.dtype == np.int64
    np.testing.assert_array_equal(X, again)
    np.testing.assert_array_equal(mode, mode_again)
    assert not np.array_equal(X, other)
    assert set(np.unique(mode)) == set(range(5))


def test_each_mode_is_a_gaussian_of_the_given_std_around_its_centre():
    X, mode = make_ring_of_gaussians(40000, num_modes=4, radius=2.0, std=0.1, seed=0)
    centers = ring_centers(4, 2.0)
    offsets = X - centers[mode]
    np.testing.assert_allclose(offsets.mean(axis=0), 0.0, atol=3e-3)
    np.testing.assert_allclose(offsets.std(axis=0), 0.1, rtol=0.02)
    np.testing.assert_allclose(np.bincount(mode) / len(mode), 0.25, atol=0.01)
    nearest = np.linalg.norm(X[:, None] - centers[None], axis=2).argmin(axis=1)
    assert (nearest == mode).mean() > 0.999     # the modes are well separated


@pytest.mark.parametrize("kwargs, match", [({"num_samples": 0}, "num_samples"), ({"std": 0.0}, "std"),
                                           ({"num_modes": 0}, "num_modes"), ({"radius": -1.0}, "radius")])
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_ring_of_gaussians(**kwargs)
