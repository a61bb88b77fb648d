"""The embedding view (11_fewer_labels): PCA against scikit-learn, the drawing, the widget headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest
from sklearn.decomposition import PCA

from dlcourse.widgets.embedding import draw_embedding, embedding_explorer, pca_2d

RNG = np.random.default_rng(0)


def blobs(n=60, d=9, classes=3):
    labels = np.arange(n) % classes
    centres = 4 * RNG.standard_normal((classes, d))
    return centres[labels] + RNG.standard_normal((n, d)) * np.linspace(0.2, 2, d), labels


def test_pca_matches_sklearn_up_to_the_sign_of_each_component():
    features, _ = blobs()
    points, explained = pca_2d(features)
    reference = PCA(n_components=2).fit(features)
    expected = reference.transform(features)
    for k in range(2):
        sign = np.sign(points[:, k] @ expected[:, k])
        np.testing.assert_allclose(points[:, k], sign * expected[:, k], rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(explained, reference.explained_variance_ratio_, rtol=1e-9)


def test_pca_signs_are_fixed_so_snapshots_do_not_flip():
    features, _ = blobs()
    points, _ = pca_2d(features)
    negated, _ = pca_2d(-features)              # the same components (largest loading positive): mirrored points
    np.testing.assert_allclose(negated, -points, atol=1e-9)
    shifted, _ = pca_2d(features + 100.0)                                 # centring removes any offset
    np.testing.assert_allclose(points, shifted, atol=1e-7)


def test_pca_of_constant_features_is_zero_and_does_not_divide_by_zero():
    points, explained = pca_2d(np.ones((5, 3)))
    np.testing.assert_array_equal(points, 0)
    np.testing.assert_array_equal(explained, 0)


@pytest.mark.parametrize("shape", [(5,), (1, 4), (6, 1), (2, 3, 4)])
def test_pca_refuses_what_it_cannot_project(shape):
    with pytest.raises(ValueError, match="expected features of shape"):
        pca_2d(np.zeros(shape))


def test_drawing_colours_each_class_and_keeps_the_aspect_ratio():
    features, labels = blobs()
    fig = plt.figure()
    draw_embedding(fig, features, labels, ["a", "b", "c"], title="step 3")
    ax = fig.axes[0]
    assert len(ax.collections) == 3
    assert [len(c.get_offsets()) for c in ax.collections] == [20, 20, 20]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a", "b", "c"]
    assert ax.get_aspect() == 1.0 and "PC 1" in ax.get_xlabel() and "%" in ax.get_ylabel()
    points, _ = pca_2d(features)
    np.testing.assert_allclose(ax.collections[1].get_offsets(), points[labels == 1])
    plt.close(fig)


def test_explorer_moves_between_snapshots_and_says_when_there_are_none():
    snapshots = [blobs()[0] for _ in range(3)]
    labels = np.arange(60) % 3
    widget = embedding_explorer(snapshots, labels, ["a", "b", "c"], steps=[0, 10, 20], scores=[0.3, 0.6, 0.9],
                                score_name="probe accuracy")
    assert widget.controls["snapshot"].value == 2 and "step 20" in widget.figure.axes[0].get_title()
    widget.controls["snapshot"].value = 0
    assert "step 0" in widget.figure.axes[0].get_title() and "probe accuracy 30.0%" in widget.figure.axes[0].get_title()
    empty = embedding_explorer([], labels, ["a", "b", "c"], missing="nt_xent_loss")
    texts = [t.get_text() for ax in empty.figure.axes for t in ax.texts]
    assert any("Not implemented yet" in t and "nt_xent_loss" in t for t in texts)
