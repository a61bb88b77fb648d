"""A graph whose node colours show a GCN's predictions, with a slider for its number of layers k.

Notebook 14_graphs_3d. The notebook trains one network per k (k graph convolutions; k = 0 is the
same network without the graph, an MLP) and hands their predictions in; the widget draws them.
The pure functions compute what is shown and are tested without a browser:

- `graph_layout(adjacency, groups, seed)`: 2-D positions of the nodes (networkx's force-directed layout,
  each group, e.g. a true community, laid out on its own);
- `hop_distances(adjacency, sources)`: the number of edges from every node to the nearest source;
- `layer_summary(predictions, labels, train_mask, hops, k)`: the accuracies shown for one k.

A node more than k edges away from every labelled node is drawn faded: after k layers no label
has reached it through the graph, only the shared weights have.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.collections import LineCollection
from scipy.sparse.csgraph import shortest_path

CLASS_COLOURS = ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink",
                 "tab:olive", "tab:cyan", "tab:gray")


def _check_adjacency(adjacency: np.ndarray) -> np.ndarray:
    adjacency = np.asarray(adjacency, dtype=np.float64)
    if adjacency.ndim != 2 or adjacency.shape[0] != adjacency.shape[1]:
        raise ValueError(f"expected a square adjacency matrix (N, N), got shape {adjacency.shape}")
    return adjacency


def graph_layout(adjacency: np.ndarray, groups: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """(N, 2) float64 node positions from a force-directed (Fruchterman-Reingold) layout: joined nodes
    attract, all nodes repel. With groups ((N,) ints, e.g. the true communities) each group is laid out
    on its own around a point of a circle, so that a group's nodes sit together. Deterministic per seed."""
    import networkx as nx

    adjacency = _check_adjacency(adjacency)
    if groups is None:
        spacing = 2 / np.sqrt(max(len(adjacency), 1))                  # twice networkx's default: less crowded
        positions = nx.spring_layout(nx.from_numpy_array(adjacency), k=spacing, seed=seed, iterations=100)
        return np.array([positions[node] for node in range(len(adjacency))], dtype=np.float64)
    groups = np.asarray(groups)
    if groups.shape != (len(adjacency),):
        raise ValueError(f"expected groups of shape ({len(adjacency)},), got {groups.shape}")
    names = np.unique(groups)
    layout = np.zeros((len(adjacency), 2))
    for number, name in enumerate(names):
        members = np.flatnonzero(groups == name)
        angle = 2 * np.pi * number / len(names) + np.pi / 4
        centre = np.array([np.cos(angle), np.sin(angle)]) * (len(names) > 1)
        inner = graph_layout(adjacency[np.ix_(members, members)], seed=seed) if members.size > 1 else np.zeros((1, 2))
        layout[members] = centre + 0.5 * _spread_in_disc(inner)
    return layout


def _spread_in_disc(positions: np.ndarray) -> np.ndarray:
    """The same directions from the centroid, radii replaced by their rank: points spread evenly over a unit disc
    (a force layout crowds a group in its middle and flings its loosely joined nodes far out)."""
    offsets = positions - positions.mean(axis=0)
    radius = np.linalg.norm(offsets, axis=1)
    even = np.sqrt((np.argsort(np.argsort(radius)) + 0.5) / len(radius))
    return offsets / np.maximum(radius, 1e-12)[:, None] * even[:, None]


def hop_distances(adjacency: np.ndarray, sources: np.ndarray) -> np.ndarray:
    """(N,) float64: the fewest edges from each node to any node where `sources` ((N,) bool) is True;
    0 at the sources, inf where no source can be reached."""
    adjacency, sources = _check_adjacency(adjacency), np.asarray(sources, dtype=bool)
    if sources.shape != (len(adjacency),):
        raise ValueError(f"expected sources of shape ({len(adjacency)},), got {sources.shape}")
    if not sources.any():
        return np.full(len(adjacency), np.inf)
    hops = shortest_path(adjacency != 0, unweighted=True, directed=False, indices=np.flatnonzero(sources))
    return hops.reshape(-1, len(adjacency)).min(axis=0)


def layer_summary(predictions: np.ndarray, labels: np.ndarray, train_mask: np.ndarray, hops: np.ndarray,
                  k: int) -> dict[str, float]:
    """What the widget reports for k layers, on the unlabelled nodes (where train_mask is False).

    predictions, labels: (N,) int classes; train_mask: (N,) bool; hops: (N,) from `hop_distances`.
    Returns {"accuracy": accuracy on the unlabelled nodes, "reached": the fraction of them within k
    hops of a labelled node, "accuracy_reached" / "accuracy_unreached": the accuracy on those within
    / beyond k hops (NaN when there are none)}.
    """
    unlabelled = ~np.asarray(train_mask, dtype=bool)
    correct = (np.asarray(predictions) == np.asarray(labels))[unlabelled]
    reached = (np.asarray(hops) <= k)[unlabelled]

    def mean(values: np.ndarray) -> float:
        return float(values.mean()) if values.size else float("nan")

    return {"accuracy": mean(correct), "reached": mean(reached), "accuracy_reached": mean(correct[reached]),
            "accuracy_unreached": mean(correct[~reached])}


def draw_gcn_layers(fig, adjacency: np.ndarray, labels: np.ndarray, train_mask: np.ndarray,
                    predictions: Mapping[int, np.ndarray], k: int, positions: np.ndarray | None = None,
                    hops: np.ndarray | None = None) -> dict[str, float]:
    """The graph with node colours = the k-layer network's predicted classes, and accuracy against k.

    predictions: k -> (N,) predicted classes of every node; positions: (N, 2), by default each true
    community laid out on its own (`graph_layout(adjacency, labels)`), so that a wrong colour stands
    out in its group. Edges inside a community are darker than those between.
    Correct nodes are dots, wrong ones crosses,
    labelled nodes large with a black rim; nodes beyond k hops of every labelled node are faded.
    Raises NotImplementedError when there is no prediction for k yet. Returns `layer_summary`'s dict.
    """
    if k not in predictions:
        raise NotImplementedError(f"no predictions for k = {k} yet: write GraphConv and run the training cells")
    adjacency = _check_adjacency(adjacency)
    labels, train_mask = np.asarray(labels), np.asarray(train_mask, dtype=bool)
    positions = graph_layout(adjacency, labels) if positions is None else positions
    hops = hop_distances(adjacency, train_mask) if hops is None else hops
    predicted = np.asarray(predictions[k])
    summary = layer_summary(predicted, labels, train_mask, hops, k)

    graph_ax, curve_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.6, 1]})
    i, j = np.nonzero(np.triu(adjacency, k=1))
    within = labels[i] == labels[j]
    for chosen, grey, width in [(~within, "0.88", 0.3), (within, "0.6", 0.6)]:     # edges between groups: lighter
        segments = np.stack([positions[i[chosen]], positions[j[chosen]]], axis=1)
        graph_ax.add_collection(LineCollection(segments, colors=grey, linewidths=width, zorder=0))
    colours = np.array(CLASS_COLOURS)[predicted % len(CLASS_COLOURS)]
    near, correct = hops <= k, predicted == labels
    for where, marker, size in [(correct & ~train_mask, "o", 22), (~correct & ~train_mask, "X", 34)]:
        for faded in (False, True):
            chosen = where & (near != faded)
            graph_ax.scatter(*positions[chosen].T, c=colours[chosen], marker=marker, s=size,
                             alpha=0.3 if faded else 1.0, linewidths=0)
    graph_ax.scatter(*positions[train_mask].T, c=colours[train_mask], s=70, edgecolors="black", linewidths=1.2)
    graph_ax.set(xticks=[], yticks=[], aspect="equal",
                 title=f"k = {k}: predicted class of each node, grouped by true community\n(large: labelled; x: wrong; "
                       f"faded: more than {k} hops from every label)")
    graph_ax.title.set_fontsize(9)

    ks = sorted(predictions)
    accuracy = [layer_summary(np.asarray(predictions[d]), labels, train_mask, hops, d)["accuracy"] for d in ks]
    reached = [layer_summary(np.asarray(predictions[d]), labels, train_mask, hops, d)["reached"] for d in ks]
    curve_ax.plot(ks, accuracy, "o-", label="accuracy (unlabelled nodes)")
    curve_ax.plot(ks, reached, "s--", color="gray", label="within k hops of a label")
    curve_ax.axvline(k, color="black", linewidth=0.8)
    curve_ax.set(xlabel="k (graph convolutions)", ylabel="fraction of unlabelled nodes", ylim=(0, 1.02),
                 xticks=ks, title=f"accuracy {summary['accuracy']:.1%} at k = {k}")
    curve_ax.title.set_fontsize(9)
    curve_ax.legend(fontsize=7, loc="lower right")
    return summary


def gcn_layers_explorer(adjacency: np.ndarray, labels: np.ndarray, train_mask: np.ndarray,
                        predictions: Mapping[int, np.ndarray], depths: Sequence[int] = range(0, 7), k: int = 2):
    """A slider for k beside the graph coloured by the k-layer network's predictions.

    adjacency (N, N); labels (N,) true classes; train_mask (N,) bool labelled nodes; predictions:
    k -> (N,) predicted classes (the widget says "not implemented yet" for a k it does not hold);
    depths: the values of k the slider offers (consecutive integers). Returns the ipywidgets box.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    depths = list(depths)
    positions = graph_layout(adjacency, labels)
    hops = hop_distances(adjacency, train_mask)

    def draw(fig, k):
        draw_gcn_layers(fig, adjacency, labels, train_mask, predictions, k, positions, hops)

    slider = widgets.IntSlider(value=k, min=min(depths), max=max(depths), step=1, description="k layers")
    return interactive_figure(draw, {"k": slider}, figsize=(8.8, 4.6))
