"""Graphs with community structure for node classification, generated offline.

`make_community_graph` draws a stochastic block model: nodes belong to communities (the
classes), an edge joins two nodes of one community with a higher probability than two nodes of
different communities, and every node carries a noisy feature vector whose mean depends on its
community. Features alone classify a node poorly; its neighbours (mostly of its own community)
say much more, which is what a graph network uses. `few_label_split` picks the few labelled
nodes of a semi-supervised task.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class CommunityGraph:
    """An undirected graph with node features and one community (class) per node.

    adjacency: (N, N) float32, symmetric, 0/1 entries, zeros on the diagonal (no self-loops).
    features: (N, F) float32 node features. labels: (N,) int64 community of each node, in [0, C).
    num_classes: C.
    """

    adjacency: np.ndarray
    features: np.ndarray
    labels: np.ndarray
    num_classes: int

    @property
    def num_nodes(self) -> int:
        return int(self.labels.shape[0])

    @property
    def edges(self) -> np.ndarray:
        """(E, 2) int64 node pairs (i, j) with i < j, one row per undirected edge."""
        i, j = np.nonzero(np.triu(self.adjacency, k=1))
        return np.stack([i, j], axis=1).astype(np.int64)


def make_community_graph(num_nodes: int = 300, num_communities: int = 4, degree_within: float = 6.0,
                         degree_between: float = 1.5, num_features: int = 16, feature_signal: float = 0.4,
                         seed: int = 0) -> CommunityGraph:
    """A stochastic block model with Gaussian node features, deterministic per seed.

    num_nodes: N; num_communities: C (sizes differ by at most one node);
    degree_within / degree_between: expected number of neighbours of a node inside / outside its
    own community (so an edge inside a community of size n_c has probability
    degree_within / (n_c - 1), and one between communities degree_between / (N - n_c));
    num_features: F; feature_signal: the spread of the community means, in units of the noise's
    standard deviation (features = mean of the node's community + N(0, 1) noise; the means are
    N(0, feature_signal^2) per coordinate). The node order is shuffled (labels are not sorted).
    Returns a `CommunityGraph`.
    """
    if num_communities < 2 or num_nodes < 2 * num_communities:
        raise ValueError(f"need at least 2 communities of at least 2 nodes each, got num_nodes={num_nodes}, "
                         f"num_communities={num_communities}")
    if degree_within < 0 or degree_between < 0:
        raise ValueError(f"expected degrees must be >= 0, got {degree_within} and {degree_between}")
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(num_nodes) % num_communities)
    sizes = np.bincount(labels, minlength=num_communities)
    same = labels[:, None] == labels[None, :]
    p_within = degree_within / (sizes[labels] - 1)
    p_between = degree_between / (num_nodes - sizes[labels])
    probability = np.minimum(np.where(same, p_within[:, None], p_between[:, None]), 1.0)
    upper = np.triu(rng.random((num_nodes, num_nodes)) < probability, k=1)
    adjacency = (upper | upper.T).astype(np.float32)
    means = rng.normal(0.0, feature_signal, size=(num_communities, num_features))
    features = means[labels] + rng.normal(size=(num_nodes, num_features))
    return CommunityGraph(adjacency, features.astype(np.float32), labels.astype(np.int64), num_communities)


def few_label_split(labels: np.ndarray, num_per_class: int = 5, num_val: int = 50,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Masks of a semi-supervised split: a few labelled nodes per class, a validation set, the rest for testing.

    labels: (N,) int class of each node; num_per_class: labelled (training) nodes per class;
    num_val: validation nodes, drawn from the others. Returns (train, val, test), three (N,) bool
    masks that do not overlap and together cover every node.
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    if counts.min() <= num_per_class:
        raise ValueError(f"every class needs more than num_per_class={num_per_class} nodes; the smallest has "
                         f"{counts.min()}")
    rng = np.random.default_rng(seed)
    train = np.zeros(labels.shape[0], dtype=bool)
    for c in classes:
        train[rng.choice(np.flatnonzero(labels == c), size=num_per_class, replace=False)] = True
    rest = np.flatnonzero(~train)
    if num_val >= rest.size:
        raise ValueError(f"num_val={num_val} leaves no test nodes ({rest.size} unlabelled nodes)")
    val = np.zeros_like(train)
    val[rng.choice(rest, size=num_val, replace=False)] = True
    return train, val, ~(train | val)
