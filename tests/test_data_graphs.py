"""dlcourse.data.graphs (notebook 14): the community graphs and the few-label split."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.data.graphs import few_label_split, make_community_graph


def test_graph_has_the_documented_layout_and_is_deterministic_per_seed():
    graph = make_community_graph(num_nodes=103, num_communities=5, num_features=7, seed=3)
    A = graph.adjacency
    assert A.shape == (103, 103) and A.dtype == np.float32
    assert np.array_equal(A, A.T) and set(np.unique(A)) <= {0.0, 1.0} and not A.diagonal().any()
    assert graph.features.shape == (103, 7) and graph.features.dtype == np.float32
    assert graph.labels.shape == (103,) and graph.labels.dtype == np.int64
    assert graph.num_classes == 5 and graph.num_nodes == 103
    sizes = np.bincount(graph.labels, minlength=5)
    assert sizes.sum() == 103 and sizes.max() - sizes.min() <= 1            # sizes differ by at most one node
    assert not np.all(np.diff(graph.labels) >= 0)                           # the node order is shuffled
    again = make_community_graph(num_nodes=103, num_communities=5, num_features=7, seed=3)
    assert np.array_equal(again.adjacency, A) and np.array_equal(again.features, graph.features)
    other = make_community_graph(num_nodes=103, num_communities=5, num_features=7, seed=4)
    assert not np.array_equal(other.adjacency, A)


def test_edges_lists_each_undirected_edge_once():
    graph = make_community_graph(num_nodes=40, num_communities=2, seed=1)
    edges = graph.edges
    assert edges.dtype == np.int64 and edges.shape == (int(graph.adjacency.sum()) // 2, 2)
    assert (edges[:, 0] < edges[:, 1]).all()
    rebuilt = np.zeros_like(graph.adjacency)
    rebuilt[edges[:, 0], edges[:, 1]] = rebuilt[edges[:, 1], edges[:, 0]] = 1
    assert np.array_equal(rebuilt, graph.adjacency)


def test_expected_degrees_inside_and_between_communities():
    graph = make_community_graph(num_nodes=800, num_communities=4, degree_within=6.0, degree_between=1.5, seed=0)
    same = graph.labels[:, None] == graph.labels[None, :]
    within = (graph.adjacency * same).sum(axis=1).mean()
    between = (graph.adjacency * ~same).sum(axis=1).mean()
    # mean degree over 800 nodes: standard errors about 0.06 and 0.03
    assert within == pytest.approx(6.0, abs=0.3) and between == pytest.approx(1.5, abs=0.15)


def test_features_carry_the_community_signal_that_feature_signal_sets():
    def nearest_mean_accuracy(signal):
        graph = make_community_graph(num_nodes=600, num_communities=3, num_features=16, feature_signal=signal, seed=2)
        means = np.stack([graph.features[graph.labels == c].mean(axis=0) for c in range(3)])
        guess = ((graph.features[:, None, :] - means[None]) ** 2).sum(-1).argmin(axis=1)
        return (guess == graph.labels).mean()

    assert nearest_mean_accuracy(3.0) > 0.95           # far apart means: the features alone suffice
    assert nearest_mean_accuracy(0.0) < 0.5            # no signal: close to chance (1/3), up to overfitting the means


def test_graph_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least 2 communities"):
        make_community_graph(num_nodes=10, num_communities=1)
    with pytest.raises(ValueError, match="at least 2 communities of at least 2 nodes"):
        make_community_graph(num_nodes=5, num_communities=3)
    with pytest.raises(ValueError, match="degrees must be >= 0"):
        make_community_graph(degree_between=-1.0)


def test_few_label_split_masks():
    labels = np.random.default_rng(0).permutation(np.arange(90) % 3)
    train, val, test = few_label_split(labels, num_per_class=4, num_val=20, seed=5)
    for mask in (train, val, test):
        assert mask.shape == (90,) and mask.dtype == bool
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    assert (train | val | test).all()
    assert np.bincount(labels[train], minlength=3).tolist() == [4, 4, 4] and val.sum() == 20
    again = few_label_split(labels, num_per_class=4, num_val=20, seed=5)
    assert all(np.array_equal(a, b) for a, b in zip(again, (train, val, test)))
    assert not np.array_equal(few_label_split(labels, 4, 20, seed=6)[0], train)


def test_few_label_split_rejects_impossible_requests():
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    with pytest.raises(ValueError, match="more than num_per_class=3"):
        few_label_split(labels, num_per_class=3, num_val=1)
    with pytest.raises(ValueError, match="leaves no test nodes"):
        few_label_split(labels, num_per_class=1, num_val=5)
