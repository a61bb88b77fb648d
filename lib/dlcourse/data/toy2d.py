"""2-D distributions for generative models: a ring of Gaussians (many separate modes).

The classic test of mode collapse: a generator that covers only some of the modes still
makes points that look right one by one, and a single Gaussian fitted to the data covers
them all badly. `ring_centers` gives the modes, so that coverage can be counted.
"""

from __future__ import annotations

import numpy as np


def ring_centers(num_modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The means of the ring's Gaussians, evenly spaced on a circle, the first on the +x axis.

    Returns: (num_modes, 2) float32, centre k at radius * (cos(2 pi k / num_modes), sin(...)).
    """
    if num_modes < 1:
        raise ValueError(f"num_modes must be >= 1, got {num_modes}")
    if radius <= 0:
        raise ValueError(f"radius must be > 0, got {radius}")
    angles = 2 * np.pi * np.arange(num_modes) / num_modes
    return (radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)).astype(np.float32)


def make_ring_of_gaussians(num_samples: int = 2000, num_modes: int = 8, radius: float = 2.0,
                           std: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points from an equal mixture of isotropic Gaussians centred on a circle.

    num_samples: number of points; num_modes: Gaussians on the circle; radius: of the circle;
    std: standard deviation of each Gaussian (per coordinate); seed: of the generator.
    Returns X: (num_samples, 2) float32, mode: (num_samples,) int64 in [0, num_modes), the
    Gaussian each point came from.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if std <= 0:
        raise ValueError(f"std must be > 0, got {std}")
    centers = ring_centers(num_modes, radius)
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, num_modes, size=num_samples)
    X = centers[mode] + std * rng.standard_normal((num_samples, 2))
    return X.astype(np.float32), mode.astype(np.int64)
