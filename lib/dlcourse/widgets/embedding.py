"""The embedding view (11_fewer_labels): learned features projected to 2-D by PCA, coloured by label, per epoch."""

from __future__ import annotations

from typing import Sequence

import numpy as np

EXPLORER_FIGSIZE = (6.4, 5.0)


def pca_2d(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Project features onto their first two principal components.

    features: (N, D) with N >= 2 and D >= 2. The features are centred; the components are the two leading
    right singular vectors, each signed so that its largest-magnitude entry is positive (as sklearn's PCA).
    Returns (points (N, 2) float64, explained (2,) float64: the fraction of the total variance each explains).
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] < 2 or features.shape[1] < 2:
        raise ValueError(f"expected features of shape (N, D) with N >= 2 and D >= 2, got {features.shape}")
    centred = features - features.mean(axis=0)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    components = components[:2]
    signs = np.sign(components[np.arange(2), np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    total = float((singular ** 2).sum())
    explained = singular[:2] ** 2 / total if total > 0 else np.zeros(2)
    return centred @ components.T, explained


def draw_embedding(fig, features: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                   title: str = "") -> None:
    """One scatter of the PCA projection of `features` (N, D), coloured by `labels` (N,), drawn to scale."""
    points, explained = pca_2d(features)
    ax = fig.add_subplot()
    colours = [f"C{c % 10}" for c in range(len(class_names))]
    for c, name in enumerate(class_names):
        chosen = np.asarray(labels) == c
        ax.scatter(points[chosen, 0], points[chosen, 1], s=12, color=colours[c], label=name, alpha=0.8)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel(f"PC 1 ({explained[0]:.0%} of the variance)")
    ax.set_ylabel(f"PC 2 ({explained[1]:.0%} of the variance)")
    ax.legend(title="label", fontsize=8, loc="best", markerscale=1.5)
    ax.set_title(title or "features projected on their first two principal components", fontsize=10)


def embedding_explorer(snapshots: Sequence[np.ndarray], labels: np.ndarray, class_names: Sequence[str],
                       steps: Sequence[int] | None = None, scores: Sequence[float] | None = None,
                       score_name: str = "accuracy", missing: str = "the features to show (train the encoder first)"):
    """A slider over `snapshots` (a list of (N, D) feature arrays, one per recorded epoch); redraws the PCA view.

    steps: the training step of each snapshot (for the title); scores: a number per snapshot in [0, 1], shown
    in the title as a percentage after `score_name` (e.g. an accuracy of the features).
    With no snapshots, the figure says "Not implemented yet: <missing>".
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    snapshots = list(snapshots)

    def draw(fig, snapshot):
        if not snapshots:
            raise NotImplementedError(missing)
        where = f"step {steps[snapshot]}" if steps is not None else f"snapshot {snapshot}"
        score = f", {score_name} {scores[snapshot]:.1%}" if scores is not None else ""
        draw_embedding(fig, snapshots[snapshot], labels, class_names, f"features at {where}{score}")

    controls = {"snapshot": widgets.IntSlider(value=max(len(snapshots) - 1, 0), min=0, max=max(len(snapshots) - 1, 0),
                                              description="epoch")}
    return interactive_figure(draw, controls, figsize=EXPLORER_FIGSIZE)
