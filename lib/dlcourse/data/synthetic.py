"""Small 2-D classification sets for pictures of decision boundaries."""

from __future__ import annotations

import numpy as np
from sklearn import datasets


def make_spirals(
    num_per_class: int = 100, num_classes: int = 3, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Interleaved spiral arms, one per class, not linearly separable.

    Returns X: (num_per_class * num_classes, 2) float32 within about [-1, 1],
    y: (num_per_class * num_classes,) int64 in [0, num_classes).
    """
    rng = np.random.default_rng(seed)
    radius = np.tile(np.linspace(0.0, 1.0, num_per_class), num_classes)
    y = np.repeat(np.arange(num_classes), num_per_class)
    angle = np.linspace(0.0, 4.0, num_per_class)[None, :] + 4.0 * np.arange(num_classes)[:, None]
    angle = angle.ravel() + rng.normal(scale=noise, size=radius.shape)
    X = np.stack([radius * np.sin(angle), radius * np.cos(angle)], axis=1)
    return X.astype(np.float32), y.astype(np.int64)


def make_moons(num_samples: int = 200, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles. Returns X: (num_samples, 2) float32, y: (num_samples,) int64 in {0, 1}."""
    X, y = datasets.make_moons(n_samples=num_samples, noise=noise, random_state=seed)
    return X.astype(np.float32), y.astype(np.int64)


def make_blobs(
    num_samples: int = 300, num_classes: int = 3, std: float = 1.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian clusters, one per class. Returns X: (num_samples, 2) float32, y: (num_samples,) int64."""
    X, y = datasets.make_blobs(
        n_samples=num_samples, centers=num_classes, cluster_std=std, random_state=seed
    )
    return X.astype(np.float32), y.astype(np.int64)
