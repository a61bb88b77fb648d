"""The GCN layers explorer of notebook 14: its pure functions and its widget (headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcourse.widgets.gcn import draw_gcn_layers, gcn_layers_explorer, graph_layout, hop_distances, layer_summary


def path_graph(n):
    A = np.zeros((n, n))
    A[np.arange(n - 1), np.arange(1, n)] = A[np.arange(1, n), np.arange(n - 1)] = 1
    return A


def two_cliques(size=6):
    """Two cliques joined by one edge (node size - 1 to node size): labels 0 and 1."""
    A = np.zeros((2 * size, 2 * size))
    A[:size, :size] = A[size:, size:] = 1
    np.fill_diagonal(A, 0)
    A[size - 1, size] = A[size, size - 1] = 1
    return A, np.repeat([0, 1], size)


def test_hop_distances_by_hand():
    A = path_graph(5)
    np.testing.assert_array_equal(hop_distances(A, np.array([True, False, False, False, False])), [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(hop_distances(A, np.array([True, False, False, False, True])), [0, 1, 2, 1, 0])
    cut = A.copy()
    cut[1, 2] = cut[2, 1] = 0                                  # nodes 2, 3, 4 cannot reach node 0
    np.testing.assert_array_equal(hop_distances(cut, np.eye(5, dtype=bool)[0]), [0, 1, np.inf, np.inf, np.inf])
    weighted = 7.5 * A                                          # hops count edges, whatever their weights
    np.testing.assert_array_equal(hop_distances(weighted, np.eye(5, dtype=bool)[2]), [2, 1, 0, 1, 2])
    assert np.isinf(hop_distances(A, np.zeros(5, dtype=bool))).all()
    with pytest.raises(ValueError, match="sources of shape"):
        hop_distances(A, np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match="square adjacency"):
        hop_distances(np.zeros((3, 4)), np.zeros(3, dtype=bool))


def test_layer_summary_by_hand():
    labels = np.array([0, 0, 1, 1, 1, 0])
    predictions = np.array([0, 1, 1, 0, 1, 0])                  # node 0 labelled; 1 and 3 wrong
    train = np.array([True, False, False, False, False, False])
    hops = np.array([0, 1, 2, 3, 1, np.inf])
    summary = layer_summary(predictions, labels, train, hops, k=1)
    assert summary["accuracy"] == pytest.approx(3 / 5)          # over the 5 unlabelled nodes
    assert summary["reached"] == pytest.approx(2 / 5)           # nodes 1 and 4
    assert summary["accuracy_reached"] == pytest.approx(1 / 2)
    assert summary["accuracy_unreached"] == pytest.approx(2 / 3)
    everything = layer_summary(predictions, labels, train, np.zeros(6), k=0)
    assert everything["reached"] == 1.0 and np.isnan(everything["accuracy_unreached"])


def test_graph_layout_is_deterministic_and_keeps_groups_together():
    A, labels = two_cliques()
    positions = graph_layout(A, seed=3)
    assert positions.shape == (12, 2) and positions.dtype == np.float64
    np.testing.assert_array_equal(positions, graph_layout(A, seed=3))
    grouped = graph_layout(A, labels)
    centres = np.stack([grouped[labels == g].mean(axis=0) for g in (0, 1)])
    nearest = np.linalg.norm(grouped[:, None] - centres[None], axis=2).argmin(axis=1)
    np.testing.assert_array_equal(nearest, labels)
    assert graph_layout(np.zeros((1, 1)), np.array([4])).shape == (1, 2)
    with pytest.raises(ValueError, match="groups of shape"):
        graph_layout(A, labels[:5])


def test_draw_gcn_layers_colours_the_predictions_of_the_chosen_k():
    A, labels = two_cliques()
    train = np.zeros(12, dtype=bool)
    train[[0, 11]] = True
    wrong_at_0 = labels.copy()
    wrong_at_0[[1, 2, 3]] = 1
    predictions = {0: wrong_at_0, 1: labels.copy()}
    fig = plt.figure()
    summary = draw_gcn_layers(fig, A, labels, train, predictions, 0)
    assert summary["accuracy"] == pytest.approx(7 / 10) and summary["reached"] == 0.0
    graph_ax, curve_ax = fig.axes
    crosses = [c for c in graph_ax.collections if c.get_offsets().shape[0] == 3 and c.get_alpha() == 0.3]
    assert len(crosses) == 1                                    # three wrong nodes, all beyond 0 hops: faded
    np.testing.assert_allclose(curve_ax.lines[0].get_ydata(), [0.7, 1.0])
    plt.close(fig)
    with pytest.raises(NotImplementedError, match="k = 3"):
        draw_gcn_layers(plt.figure(), A, labels, train, predictions, 3)
    plt.close("all")


def test_widget_builds_headless_and_follows_its_slider(tmp_path):
    A, labels = two_cliques(8)
    train = np.zeros(16, dtype=bool)
    train[[0, 15]] = True
    predictions = {k: np.where(np.arange(16) < 3 - k, 1 - labels, labels) for k in range(4)}
    widget = gcn_layers_explorer(A, labels, train, predictions, depths=range(0, 5), k=1)
    assert set(widget.controls) == {"k"} and widget.controls["k"].max == 4
    assert "k = 1" in widget.figure.axes[0].get_title()
    widget.controls["k"].value = 3
    assert "k = 3" in widget.figure.axes[0].get_title() and "100.0%" in widget.figure.axes[1].get_title()
    if os.environ.get("DLCOURSE_SAVE_WIDGETS"):
        widget.figure.savefig(os.path.join(os.environ["DLCOURSE_SAVE_WIDGETS"], "gcn_layers_explorer.png"))
    widget.controls["k"].value = 4                              # no network with 4 layers trained
    texts = [text.get_text() for ax in widget.figure.axes for text in ax.texts]
    assert any("Not implemented yet" in text and "k = 4" in text for text in texts)
