"""The moving-shapes videos of notebook 15_video: layout, motion, and why no single frame tells the class."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.data.videos import MOTION_DIRECTIONS, MOTION_NAMES, make_moving_shapes


def test_layout_dtypes_and_ranges():
    videos, labels, velocities, names = make_moving_shapes(50, num_frames=6, size=12, seed=0)
    assert videos.shape == (50, 1, 6, 12, 12) and videos.dtype == np.float32
    assert videos.min() >= 0.0 and videos.max() <= 1.0
    assert labels.shape == (50,) and labels.dtype == np.int64 and set(labels.tolist()) <= {0, 1, 2, 3}
    assert velocities.shape == (50, 2) and velocities.dtype == np.int64
    assert names == MOTION_NAMES == ["right", "left", "down", "up"]


def test_same_seed_same_videos_other_seed_other_videos():
    first, second = make_moving_shapes(20, seed=3), make_moving_shapes(20, seed=3)
    for a, b in zip(first[:3], second[:3]):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], make_moving_shapes(20, seed=4)[0])


def test_each_frame_is_the_previous_one_moved_by_the_velocity_of_the_class():
    videos, labels, velocities, _ = make_moving_shapes(200, seed=1, speeds=(1, 2, 3), noise=0.0)
    speeds = np.abs(velocities).sum(axis=1)
    assert set(speeds.tolist()) == {1, 2, 3}
    np.testing.assert_array_equal(velocities, MOTION_DIRECTIONS[labels] * speeds[:, None])
    for video, (dy, dx) in zip(videos[:, 0], velocities):
        for t in range(video.shape[0] - 1):
            np.testing.assert_array_equal(np.roll(video[t], (dy, dx), axis=(0, 1)), video[t + 1])   # wraps around
        assert 0.6 * 12 <= video[0].sum() <= 36          # one shape 4 to 6 pixels wide, brightness 0.6 to 1


def test_a_reversed_video_moves_the_opposite_way_through_the_same_frames():
    videos, _, velocities, _ = make_moving_shapes(30, seed=2, noise=0.0)
    for video, (dy, dx) in zip(videos[:, 0], velocities):
        reversed_video = video[::-1]
        for t in range(len(video) - 1):
            np.testing.assert_array_equal(np.roll(reversed_video[t], (-dy, -dx), axis=(0, 1)), reversed_video[t + 1])


def test_noise_is_fresh_in_every_frame():
    videos, _, velocities, _ = make_moving_shapes(5, seed=0, noise=0.05)
    video, (dy, dx) = videos[0, 0], velocities[0]
    assert not np.array_equal(np.roll(video[0], (dy, dx), axis=(0, 1)), video[1])
    assert 0 < (video == 0).mean() < 0.9                  # clipped noise: about half the background is 0


def test_single_frames_look_the_same_for_every_class():
    """Where the shape is in a frame does not depend on the class: each class's mean frame is flat, within
    five standard errors of the mean over all videos."""
    videos, labels, _, _ = make_moving_shapes(4000, num_frames=4, seed=5, noise=0.0)
    per_video = videos[:, 0].mean(axis=1)                                       # (N, H, W), mean over frames
    overall = per_video.mean()
    for label in range(4):
        mine = per_video[labels == label]
        standard_error = mine.std(axis=0) / np.sqrt(len(mine))
        assert (np.abs(mine.mean(axis=0) - overall) < 5 * standard_error + 1e-3).all()
    assert np.bincount(labels, minlength=4).min() > 900


@pytest.mark.parametrize("kwargs, match", [
    ({"num_videos": -1}, "num_videos"),
    ({"num_videos": 3, "num_frames": 1}, "at least 2 frames"),
    ({"num_videos": 3, "size": 6}, "at least 8 pixels"),
    ({"num_videos": 3, "speeds": (0,)}, "whole numbers of pixels per frame"),
    ({"num_videos": 3, "speeds": (1.5,)}, "whole numbers of pixels per frame"),
    ({"num_videos": 3, "speeds": (8,)}, "wraps around"),
    ({"num_videos": 3, "noise": -0.1}, "standard deviation"),
])
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_moving_shapes(**kwargs)


def test_no_videos_is_an_empty_batch():
    videos, labels, velocities, _ = make_moving_shapes(0)
    assert videos.shape == (0, 1, 8, 16, 16) and labels.shape == (0,) and velocities.shape == (0, 2)
