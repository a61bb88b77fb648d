"""Short synthetic videos of a moving shape whose class is the direction of its motion (15_video).

Each video shows one bright shape (a square, a circle or a triangle, 4 to 6 pixels wide) that
moves by a constant whole number of pixels per frame, to the right, left, down or up, on a
dark noisy background. The frame wraps around (a torus): what leaves on the right comes back
on the left. With a start position drawn uniformly over the frame, every single frame is then
the same shape at a uniformly random position, whatever the class: **no model that looks at
one frame at a time can beat chance (25 %)**, by construction. Reversing a video swaps right
with left and down with up and keeps its set of frames, so a model that pools its frames
without their order (late fusion by averaging) cannot beat 50 % either. Only the motion,
the change from one frame to the next, tells the classes apart.

Videos are (N, C, T, H, W) float32 in [0, 1] with C = 1: the layout of torch's conv3d.
"""

from __future__ import annotations

import numpy as np

from dlcourse.data.detection import SHAPE_NAMES, _shape_mask

MOTION_NAMES = ["right", "left", "down", "up"]
# (rows, columns) moved per frame, per unit of speed, for each class of MOTION_NAMES.
MOTION_DIRECTIONS = np.array([[0, 1], [0, -1], [1, 0], [-1, 0]], dtype=np.int64)


def _check_arguments(num_videos: int, num_frames: int, size: int, speeds: tuple[int, ...], noise: float) -> None:
    if num_videos < 0:
        raise ValueError(f"num_videos must be >= 0, got {num_videos}")
    if num_frames < 2:
        raise ValueError(f"a video needs at least 2 frames to show motion, got num_frames={num_frames}")
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels (shapes are 4 to 6 pixels wide), got {size}")
    if not speeds or any(int(s) != s or not 1 <= s < size // 2 for s in speeds):
        raise ValueError(f"speeds must be whole numbers of pixels per frame in [1, {size // 2 - 1}] "
                         f"(a frame of {size} pixels wraps around), got {speeds}")
    if noise < 0:
        raise ValueError(f"noise is a standard deviation (>= 0), got {noise}")


def make_moving_shapes(
    num_videos: int,
    num_frames: int = 8,
    size: int = 16,
    seed: int = 0,
    speeds: tuple[int, ...] = (1, 2),
    noise: float = 0.05,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Videos of one shape moving right, left, down or up, deterministic per seed.

    Per video, drawn independently of each other: the class (uniform over MOTION_NAMES), the
    shape (square, circle or triangle), its side (4 to 6 pixels), its brightness (0.6 to 1),
    its start position (uniform over the size x size frame) and its speed (uniform over
    `speeds`, pixels per frame). The frame wraps around; the background is Gaussian noise of
    std `noise` (drawn afresh for every frame), and pixels are clipped to [0, 1].

    Returns videos (N, 1, T, H, W) float32 in [0, 1] (T = num_frames, H = W = size);
    labels (N,) int64 in [0, 4), the index into MOTION_NAMES; velocities (N, 2) int64, the
    (rows, columns) the shape moves per frame (down and right are positive); the class names.
    """
    _check_arguments(num_videos, num_frames, size, tuple(speeds), noise)
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(MOTION_NAMES), size=num_videos)
    velocities = MOTION_DIRECTIONS[labels] * rng.choice(np.asarray(speeds, dtype=np.int64), size=num_videos)[:, None]
    starts = rng.integers(0, size, size=(num_videos, 2))
    sprites = np.zeros((num_videos, size, size))               # each video's shape at the top-left corner
    for sprite in sprites:
        side = int(rng.integers(4, 7))
        sprite[:side, :side] = _shape_mask(int(rng.integers(len(SHAPE_NAMES))), side) * rng.uniform(0.6, 1.0)
    time = np.arange(num_frames)
    offsets = starts[:, None, :] + velocities[:, None, :] * time[None, :, None]       # (N, T, 2) top-left corners
    grid = np.arange(size)
    rows = (grid[None, None, :] - offsets[:, :, 0, None]) % size                       # (N, T, H)
    cols = (grid[None, None, :] - offsets[:, :, 1, None]) % size                       # (N, T, W)
    video_index = np.arange(num_videos)[:, None, None, None]
    frames = sprites[video_index, rows[:, :, :, None], cols[:, :, None, :]]             # (N, T, H, W)
    frames = frames + rng.normal(0.0, noise, size=frames.shape)
    videos = np.clip(frames, 0.0, 1.0).astype(np.float32)[:, None]
    return videos, labels.astype(np.int64), velocities, list(MOTION_NAMES)
