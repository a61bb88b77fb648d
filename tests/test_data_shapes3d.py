"""dlcourse.data.shapes3d (notebook 14): primitives as surface samples, solids, voxel grids and depth images.

Oracles: closed-form volumes and areas, the rotation matrices' defining properties, a pinhole camera
worked out by hand, and "on the surface" measured through `inside` (a tiny ball around a surface point
holds points both inside and outside the solid).
"""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.data.shapes3d import (SHAPE_NAMES, inside, make_point_clouds, make_voxel_grids, random_rotations,
                                    render_spheres, rotation_matrix, sample_surface, voxel_centres)

VOLUMES = {"sphere": 4 / 3 * np.pi, "cube": (2 / np.sqrt(3)) ** 3, "cylinder": np.pi * 0.6 ** 2 * 1.6,
           "cone": np.pi * 0.8 ** 2 * 1.4 / 3, "torus": 2 * np.pi ** 2 * 0.7 * 0.3 ** 2, "pyramid": 1.2 ** 2 * 1.3 / 3}


def on_surface(shape, points, radius=2e-3):
    """(P,) bool: a small ball around each point holds points both inside and outside the solid."""
    directions = np.random.default_rng(0).normal(size=(64, 3))
    offsets = radius * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    occupied = inside(shape, points[:, None, :] + offsets[None])
    return occupied.any(axis=1) & ~occupied.all(axis=1)


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_surface_samples_lie_on_the_surface_in_the_unit_ball(shape):
    points = sample_surface(shape, 500, np.random.default_rng(1))
    assert points.shape == (500, 3) and points.dtype == np.float64
    assert on_surface(shape, points).all()
    assert np.linalg.norm(points, axis=1).max() <= 1 + 1e-9
    assert np.array_equal(points, sample_surface(shape, 500, np.random.default_rng(1)))


@pytest.mark.parametrize("shape", SHAPE_NAMES)
def test_inside_has_the_closed_form_volume(shape):
    box = np.random.default_rng(2).uniform(-1, 1, (200_000, 3))          # volume 8; standard error < 0.01
    occupied = inside(shape, box)
    assert occupied.dtype == bool and occupied.shape == (200_000,)
    assert 8 * occupied.mean() == pytest.approx(VOLUMES[shape], rel=0.03)
    assert inside(shape, box.reshape(400, 500, 3)).shape == (400, 500)   # any leading shape


def test_inside_at_hand_picked_points():
    assert all(inside(shape, np.zeros(3)) for shape in SHAPE_NAMES if shape != "torus")
    assert not inside("torus", np.zeros(3)) and inside("torus", np.array([0.7, 0.0, 0.0]))
    assert not any(inside(shape, np.array([0.0, 0.0, 1.01])) for shape in SHAPE_NAMES)
    assert inside("cone", np.array([0.79, 0.0, -0.6])) and not inside("cone", np.array([0.79, 0.0, 0.7]))


def test_surface_samples_are_uniform_by_area():
    rng = np.random.default_rng(3)
    cube = sample_surface("cube", 60_000, rng)
    faces = np.argmax(np.abs(cube), axis=1) * 2 + (cube[np.arange(len(cube)), np.argmax(np.abs(cube), axis=1)] > 0)
    assert np.bincount(faces, minlength=6) / 60_000 == pytest.approx(np.full(6, 1 / 6), abs=0.01)
    cylinder = sample_surface("cylinder", 60_000, rng)
    lateral, caps = 2 * np.pi * 0.6 * 1.6, 2 * np.pi * 0.6 ** 2
    assert (np.abs(cylinder[:, 2]) < 0.8 - 1e-9).mean() == pytest.approx(lateral / (lateral + caps), abs=0.01)
    cone = sample_surface("cone", 60_000, rng)
    side = cone[cone[:, 2] > -0.6 + 1e-9]
    radius = np.hypot(side[:, 0], side[:, 1])
    assert (radius < 0.4).mean() == pytest.approx(0.25, abs=0.01)          # lateral area grows as radius^2
    torus = sample_surface("torus", 60_000, rng)
    outer = np.hypot(torus[:, 0], torus[:, 1]) > 0.7                       # area element (R + r cos phi): 1/2 + 1/pi
    assert outer.mean() == pytest.approx(0.5 + 0.3 / (0.7 * np.pi), abs=0.01)


def test_rotation_matrix_spins_about_z_then_tilts_about_x():
    spin = rotation_matrix(90.0, 0.0)
    np.testing.assert_allclose(spin @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    tilt = rotation_matrix(0.0, 90.0)
    np.testing.assert_allclose(tilt @ [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], atol=1e-12)
    both = rotation_matrix(30.0, -50.0)
    np.testing.assert_allclose(both, rotation_matrix(0.0, -50.0) @ rotation_matrix(30.0, 0.0), atol=1e-12)
    np.testing.assert_allclose(both @ both.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(both) == pytest.approx(1.0)


def test_random_rotations_of_each_kind():
    rng = np.random.default_rng(4)
    for kind in ("z", "any", "none"):
        rotations = random_rotations(3000, rng, kind)
        assert rotations.shape == (3000, 3, 3)
        np.testing.assert_allclose(rotations @ np.swapaxes(rotations, 1, 2), np.broadcast_to(np.eye(3), (3000, 3, 3)),
                                   atol=1e-10)
        np.testing.assert_allclose(np.linalg.det(rotations), 1.0, atol=1e-10)
    assert np.array_equal(random_rotations(2, rng, "none"), np.stack([np.eye(3)] * 2))
    spins = random_rotations(3000, rng, "z")
    np.testing.assert_allclose(spins[:, :, 2], np.broadcast_to([0.0, 0.0, 1.0], (3000, 3)), atol=1e-12)
    uniform = random_rotations(3000, rng, "any")
    assert np.abs(uniform.mean(axis=0)).max() < 0.05                       # Haar measure: E[R] = 0
    assert np.abs((uniform @ [0.0, 0.0, 1.0])[:, 2]).mean() == pytest.approx(0.5, abs=0.02)  # uniform direction
    with pytest.raises(ValueError, match="kind must be"):
        random_rotations(1, rng, "x")


def test_point_clouds_data_set():
    points, labels = make_point_clouds(num_per_class=7, num_points=33, seed=5)
    assert points.shape == (42, 33, 3) and points.dtype == np.float32
    assert labels.dtype == np.int64 and np.bincount(labels).tolist() == [7] * 6
    assert not np.all(np.diff(labels) >= 0)                                # examples shuffled
    assert np.linalg.norm(points, axis=2).max() < 1.05                     # unit ball, plus a little noise
    again, _ = make_point_clouds(num_per_class=7, num_points=33, seed=5)
    assert np.array_equal(points, again)
    shapes = ("torus", "cube")
    plain, plain_labels = make_point_clouds(num_per_class=3, num_points=50, shapes=shapes, rotation="none",
                                            scale=(1.0, 1.0), stretch=0.0, noise=0.0, seed=6)
    assert plain_labels.max() == 1
    for cloud, label in zip(plain, plain_labels):                          # untransformed: on the primitive
        assert on_surface(shapes[label], cloud.astype(np.float64), radius=1e-5).all()
    with pytest.raises(ValueError, match="scale must be a range"):
        make_point_clouds(num_per_class=1, scale=(0.5, 1.5))
    with pytest.raises(ValueError, match="shape must be one of"):
        make_point_clouds(num_per_class=1, shapes=("sphere", "teapot"))


def test_voxel_centres():
    centres = voxel_centres(4, low=-2.0, high=2.0)
    assert centres.shape == (4, 4, 4, 3) and centres.dtype == np.float64
    np.testing.assert_allclose(centres[0, 0, 0], [-1.5, -1.5, -1.5])
    np.testing.assert_allclose(centres[3, 1, 2], [1.5, -0.5, 0.5])          # i along x, j along y, k along z


def test_voxel_grids_data_set():
    grids, labels = make_voxel_grids(num_per_class=2, resolution=12, seed=7)
    assert grids.shape == (12, 12, 12, 12) and grids.dtype == bool and np.bincount(labels).tolist() == [2] * 6
    assert np.array_equal(grids, make_voxel_grids(num_per_class=2, resolution=12, seed=7)[0])
    plain, plain_labels = make_voxel_grids(num_per_class=1, resolution=10, rotation="none", scale=(1.0, 1.0),
                                           stretch=0.0, seed=8)
    for grid, label in zip(plain, plain_labels):
        assert np.array_equal(grid, inside(SHAPE_NAMES[label], voxel_centres(10)))
    half, _ = make_voxel_grids(num_per_class=1, resolution=24, shapes=("cube",), rotation="none", scale=(0.5, 0.5),
                               stretch=0.0, seed=9)
    assert np.array_equal(half[0], inside("cube", voxel_centres(24) / 0.5))  # half the size
    assert 0 < half[0].sum() < inside("cube", voxel_centres(24)).sum() / 4


def test_render_spheres_by_hand_and_its_scale_ambiguity():
    image, depth = render_spheres([[0.0, 0.0, 5.0]], [1.0], image_size=65, wall=9.0)
    assert image.shape == depth.shape == (65, 65) and image.dtype == depth.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert depth[32, 32] == pytest.approx(4.0)                             # the ray along the optical axis
    assert depth[0, 0] == pytest.approx(9.0)                               # the corner sees the wall
    assert image[32, 32] == pytest.approx(0.1 + 0.9 * 1 / np.linalg.norm([-0.5, 0.6, -1.0]), abs=1e-6)
    empty_image, empty_depth = render_spheres([[0.0, 0.0, 5.0]], [1.0], image_size=65)
    assert empty_depth[0, 0] == 0.0 and empty_image[0, 0] == 0.0           # no wall: nothing hit, depth 0
    top_image, _ = render_spheres([[0.0, 1.5, 5.0]], [1.0], image_size=64)
    assert top_image[:32].sum() > top_image[32:].sum()                     # y up: row 0 is the top
    centres, radii = np.array([[-0.5, 0.2, 3.0], [0.6, -0.4, 4.5]]), np.array([0.5, 0.9])
    image_a, depth_a = render_spheres(centres, radii, image_size=48, wall=7.0)
    image_b, depth_b = render_spheres(3 * centres, 3 * radii, image_size=48, wall=21.0)
    np.testing.assert_allclose(image_b, image_a, atol=1e-5)
    np.testing.assert_allclose(depth_b, 3 * depth_a, rtol=1e-5)
