"""Offline image-like datasets: sklearn's digits, MNIST-1D and the photo matplotlib ships."""

from __future__ import annotations

import random

import numpy as np
from sklearn import datasets
from sklearn.model_selection import train_test_split

from dlcourse.data.cache import Splits, cache_dir, save_npz_atomic

DIGIT_NAMES = [str(digit) for digit in range(10)]
MNIST1D_FILE = "mnist1d_v1.npz"


def load_digits() -> Splits:
    """sklearn's 1797 handwritten 8x8 digits, split 1197/300/300 (stratified, fixed seed).

    X: (N, 8, 8) float32 in [0, 1]; y: (N,) int64 in 0..9; class_names "0".."9".
    """
    digits = datasets.load_digits()
    X = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=300, stratify=y, random_state=0)
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=300, stratify=y_rest, random_state=0
    )
    return Splits(X_train, y_train, X_val, y_val, X_test, y_test, list(DIGIT_NAMES))


def _build_mnist1d() -> dict[str, np.ndarray]:
    """Generate MNIST-1D with the package's default arguments (never its download)."""
    from mnist1d.data import get_dataset_args, make_dataset  # slow import (scipy, pyplot)

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:  # make_dataset reseeds the global generators: keep the caller's streams intact
        data = make_dataset(get_dataset_args())
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
    return {
        "x": data["x"].astype(np.float32),
        "y": data["y"].astype(np.int64),
        "x_test": data["x_test"].astype(np.float32),
        "y_test": data["y_test"].astype(np.int64),
    }


def mnist1d_cached() -> bool:
    """True when MNIST-1D has been generated and cached already."""
    return (cache_dir() / MNIST1D_FILE).exists()


def load_mnist1d() -> Splits:
    """MNIST-1D: 1-D signals of length 40 drawn from 10 digit templates (train 3500 / val 500 / test 1000).

    Built by the `mnist1d` package on first use (about a second), then read from the cache.
    X: (N, 40) float32 (standardized); y: (N,) int64 in 0..9; the test set is the package's own.
    """
    path = cache_dir() / MNIST1D_FILE
    if not path.exists():
        save_npz_atomic(path, **_build_mnist1d())
    with np.load(path) as data:
        x, y = data["x"], data["y"]
        return Splits(x[:3500], y[:3500], x[3500:], y[3500:], data["x_test"], data["y_test"], list(DIGIT_NAMES))


def load_photo(gray: bool = False, downscale: int = 1) -> np.ndarray:
    """The portrait of Grace Hopper that matplotlib ships (600 x 512 pixels, H x W).

    gray: average the channels with luminance weights (0.299, 0.587, 0.114).
    downscale: an integer factor; each output pixel is the mean of a downscale x downscale block.
    Returns (H, W, 3) or, with gray, (H, W) float32 in [0, 1].
    """
    import matplotlib.cbook
    import matplotlib.image

    if downscale < 1:
        raise ValueError(f"downscale must be a positive integer, got {downscale}")
    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as file:
        image = matplotlib.image.imread(file, format="jpg").astype(np.float32) / 255.0
    if gray:
        image = image @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    height, width = (image.shape[0] // downscale) * downscale, (image.shape[1] // downscale) * downscale
    blocks = image[:height, :width].reshape(
        height // downscale, downscale, width // downscale, downscale, *image.shape[2:]
    )
    return blocks.mean(axis=(1, 3)).astype(np.float32)
