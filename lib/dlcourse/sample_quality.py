"""Numbers that say how good generated samples are, each honestly named for what it measures.

- `energy_distance`: a distance between two sets of points (two distributions), 0 when they
  come from the same law. Its estimate on two samples of the same law is about 0 (it can be
  slightly negative), so compare a model with real-vs-real on sets of the same sizes.
- `mode_coverage`: for data made of separate modes (a ring of Gaussians), how many modes the
  samples visit and what share of them lands near a mode.
- `classifier_scores`: what a fixed classifier trained on real data says about generated
  images: its mean confidence, the accuracy on requested classes (conditional models), and an
  Inception-Score-style number computed with that classifier (not the Inception network, so
  not comparable with published Inception Scores or FIDs).
- `gaussian_fit_samples`: samples of a Gaussian fitted to the data, the baseline to beat.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.distance import cdist


def _points(name: str, values: Any) -> np.ndarray:
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        array = array.reshape(len(array), -1)
    if len(array) < 2:
        raise ValueError(f"{name} needs at least 2 points, got {len(array)}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf: a model that diverged? Check its samples first.")
    return array


def energy_distance(X: Any, Y: Any) -> float:
    """Energy distance 2 E|X - Y| - E|X - X'| - E|Y - Y'| between the laws of two samples.

    X: (N, D) and Y: (M, D) arrays or tensors (images (N, H, W) are flattened); |.| is the
    Euclidean norm. The within-sample means leave out the pairs of a point with itself, so the
    estimate is unbiased: about 0 (positive or negative) when X and Y come from the same law.
    Returns: float, in the units of the data (not squared).
    """
    X, Y = _points("X", X), _points("Y", Y)
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same dimension, got {X.shape[1]} and {Y.shape[1]}")
    n, m = len(X), len(Y)
    between = cdist(X, Y).mean()
    within_x = cdist(X, X).sum() / (n * (n - 1))
    within_y = cdist(Y, Y).sum() / (m * (m - 1))
    return float(2 * between - within_x - within_y)


def mode_coverage(samples: Any, centers: Any, max_distance: float, min_share: float = 0.01) -> dict[str, float]:
    """How a sample covers separate modes (e.g. `dlcourse.data.toy2d.ring_centers`).

    samples: (N, D); centers: (K, D) the modes; max_distance: a sample within this distance
    of its nearest centre is "near" that mode (3 standard deviations is usual).
    Returns: {"modes_covered": int, modes that received at least min_share of the samples
    as near points; "share_near": float in [0, 1], the fraction of samples near some mode}.
    """
    samples, centers = _points("samples", samples), np.asarray(centers, dtype=np.float64)
    distances = cdist(samples, centers)
    near = distances.min(axis=1) <= max_distance
    counts = np.bincount(distances.argmin(axis=1)[near], minlength=len(centers))
    return {"modes_covered": int((counts >= min_share * len(samples)).sum()), "share_near": float(near.mean())}


def classifier_scores(probabilities: Any, requested: Any = None) -> dict[str, float]:
    """What a classifier trained on real data says about N generated samples.

    probabilities: (N, C) class probabilities p(y | x) of the samples (rows sum to 1);
    requested: (N,) int classes the samples were asked for (conditional models), or None.
    Returns: {"mean_confidence": mean over samples of max_y p(y | x),
    "accuracy": share of samples classified as requested (NaN without `requested`),
    "classifier_score": exp(mean KL(p(y | x) || p(y))) with p(y) the mean of p(y | x): high
    when each sample is clearly one class AND all classes appear; between 1 and C}.
    """
    p = np.asarray(probabilities.detach().cpu() if hasattr(probabilities, "detach") else probabilities,
                   dtype=np.float64)
    if p.ndim != 2 or not np.allclose(p.sum(axis=1), 1.0, atol=1e-4):
        raise ValueError(f"probabilities must be (N, C) with rows summing to 1, got shape {p.shape}")
    marginal = p.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * (np.log(p) - np.log(marginal)), 0.0).sum(axis=1)
    accuracy = float("nan")
    if requested is not None:
        requested = np.asarray(requested)
        if requested.shape != (len(p),):
            raise ValueError(f"requested must have shape ({len(p)},), got {requested.shape}")
        accuracy = float((p.argmax(axis=1) == requested).mean())
    return {"mean_confidence": float(p.max(axis=1).mean()), "accuracy": accuracy,
            "classifier_score": float(np.exp(kl.mean()))}


def gaussian_fit_samples(X: Any, num_samples: int, rng: np.random.Generator, diagonal: bool = False,
                         clip: tuple[float, float] | None = None) -> np.ndarray:
    """Samples of the Gaussian with the data's mean and covariance (the baseline to beat).

    X: (N, D) data (images are flattened); num_samples: how many to draw; rng: the generator;
    diagonal: fit each coordinate on its own (a per-pixel Gaussian) instead of the full
    covariance; clip: (low, high) to clip the samples to the data's range, or None.
    Returns: (num_samples, D) float64.
    """
    data = _points("X", X)
    mean = data.mean(axis=0)
    if diagonal:
        samples = mean + data.std(axis=0) * rng.standard_normal((num_samples, data.shape[1]))
    else:
        samples = rng.multivariate_normal(mean, np.cov(data, rowvar=False), size=num_samples)
    return np.clip(samples, *clip) if clip is not None else samples
