"""k-nearest-neighbour decision regions on a 2-D toy set, with k and the distance as controls.

Notebook 01_knn. The pure functions compute what is drawn and are tested without a browser:

- `knn_decision_regions(X, y, k, metric)`: the label kNN predicts on a grid of points,
  plus the training and leave-one-out accuracies;
- `nearest_neighbours(X, query, k, metric)`: the k training points nearest to one query point
  and the distance to the k-th of them;
- `metric_ball(center, radius, metric)`: the outline of the set of points within `radius` of
  `center` (a circle for L2, a diamond for L1).

`draw_knn` draws them on a matplotlib figure and `knn_widget` wraps it in sliders. The
classifier is scikit-learn's brute-force `KNeighborsClassifier` (metric "manhattan" for L1,
"euclidean" for L2; vote ties go to the smallest label, as in the notebook): the library
never contains the student's solution, and the widget works before the student's code does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

from dlcourse.viz import plane_grid

METRICS = {"L1": "manhattan", "L2": "euclidean"}
DATASETS = ("moons", "blobs", "spirals")
CLASS_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


@dataclass
class KnnRegions:
    """What `knn_decision_regions` computes.

    xx, yy: float arrays of shape (G, G), the grid's coordinates (meshgrid, "xy" indexing).
    labels: int array of shape (G, G), the class kNN predicts at each grid point.
    train_accuracy: accuracy on the training points themselves (each is its own neighbour).
    loo_accuracy: leave-one-out accuracy (each point classified by the other N-1 points).
    """

    xx: np.ndarray
    yy: np.ndarray
    labels: np.ndarray
    train_accuracy: float
    loo_accuracy: float


def _sklearn_metric(metric: str) -> str:
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {sorted(METRICS)}, got {metric!r}")
    return METRICS[metric]


def _check_points(X: np.ndarray, y: np.ndarray, k: int) -> None:
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"expected X of shape (N, 2), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"expected y of shape ({X.shape[0]},), got {y.shape}")
    if not 1 <= k < X.shape[0]:
        raise ValueError(f"k must be between 1 and N-1 = {X.shape[0] - 1}, got {k}")


def knn_decision_regions(
    X: np.ndarray,
    y: np.ndarray,
    k: int = 5,
    metric: str = "L2",
    grid_size: int = 120,
    margin: float = 0.5,
) -> KnnRegions:
    """Predict with kNN on a grid covering the data.

    X: (N, 2) float training points; y: (N,) int labels; k: number of neighbours (1 <= k < N);
    metric: "L1" or "L2"; grid_size: G, points per axis; margin: how far the grid extends
    beyond the data on every side. Returns a `KnnRegions` whose arrays have shape (G, G).
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    _check_points(X, y, k)
    model = KNeighborsClassifier(n_neighbors=k, metric=_sklearn_metric(metric), algorithm="brute")
    model.fit(X, y)
    xx, yy, grid = plane_grid(X, grid_size, margin)
    labels = model.predict(grid).reshape(grid_size, grid_size)
    train_accuracy = float(np.mean(model.predict(X) == y))

    # Leave-one-out: ask for k+1 neighbours and drop each point itself (the first one).
    _, index = model.kneighbors(X, n_neighbors=k + 1)
    others = np.array([row[row != i][:k] for i, row in enumerate(index)])
    classes = np.unique(y)
    votes = (y[others][:, :, None] == classes[None, None, :]).sum(axis=1)  # (N, C)
    loo_pred = classes[np.argmax(votes, axis=1)]  # argmax: ties to the smallest label
    loo_accuracy = float(np.mean(loo_pred == y))
    return KnnRegions(xx, yy, labels, train_accuracy, loo_accuracy)


def nearest_neighbours(
    X: np.ndarray, query: np.ndarray, k: int, metric: str = "L2"
) -> tuple[np.ndarray, float]:
    """The k training points nearest to `query`.

    X: (N, 2); query: (2,). Returns (indices, radius): indices (k,) ints, nearest first;
    radius: the distance from `query` to the k-th nearest point.
    """
    X = np.asarray(X, dtype=np.float64)
    query = np.asarray(query, dtype=np.float64).reshape(1, -1)
    finder = NearestNeighbors(n_neighbors=k, metric=_sklearn_metric(metric), algorithm="brute")
    distances, index = finder.fit(X).kneighbors(query)
    return index[0], float(distances[0, -1])


def metric_ball(
    center: np.ndarray, radius: float, metric: str = "L2", num_points: int = 201
) -> tuple[np.ndarray, np.ndarray]:
    """Outline of {p : d(p, center) = radius}: a circle for L2, a diamond for L1.

    Returns (xs, ys), each of shape (num_points,), a closed curve (first point == last).
    """
    _sklearn_metric(metric)
    t = np.linspace(0.0, 2.0 * np.pi, num_points)
    u, v = np.cos(t), np.sin(t)
    if metric == "L1":  # rescale each direction so that |u| + |v| = 1
        norm = np.abs(u) + np.abs(v)
        u, v = u / norm, v / norm
    return center[0] + radius * u, center[1] + radius * v


def draw_knn(
    fig,
    X: np.ndarray,
    y: np.ndarray,
    k: int = 5,
    metric: str = "L2",
    query: tuple[float, float] | None = (0.0, 0.0),
    grid_size: int = 120,
) -> None:
    """Draw decision regions, the training points and (optionally) one query point's neighbourhood.

    fig: a (cleared) matplotlib Figure; X (N, 2), y (N,) as in `knn_decision_regions`;
    query: (x, y) of a point whose k nearest neighbours are circled, with the L1 diamond or
    L2 circle that reaches the k-th of them; None draws no query point.
    """
    from matplotlib.colors import ListedColormap

    regions = knn_decision_regions(X, y, k=k, metric=metric, grid_size=grid_size)
    num_classes = int(max(np.max(y), np.max(regions.labels))) + 1
    colors = ListedColormap(CLASS_COLORS[:num_classes])
    ax = fig.add_subplot(1, 1, 1)
    ax.pcolormesh(regions.xx, regions.yy, regions.labels, cmap=colors, alpha=0.25,
                  vmin=-0.5, vmax=num_classes - 0.5, shading="auto")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap=colors, vmin=-0.5, vmax=num_classes - 0.5,
               s=18, edgecolors="k", linewidths=0.4)
    if query is not None:
        query = np.asarray(query, dtype=np.float64)
        index, radius = nearest_neighbours(X, query, k, metric)
        ax.scatter(X[index, 0], X[index, 1], s=90, facecolors="none", edgecolors="k", linewidths=1.5)
        xs, ys = metric_ball(query, radius, metric)
        ax.plot(xs, ys, "k--", linewidth=1)
        ax.plot(*query, marker="*", color="k", markersize=14, linestyle="none")
    ax.set_xlim(regions.xx.min(), regions.xx.max())
    ax.set_ylim(regions.yy.min(), regions.yy.max())
    ax.set_aspect("equal")
    ax.set_xlabel("feature 1")
    ax.set_ylabel("feature 2")
    ax.set_title(
        f"k = {k}, {metric} distance\ntraining accuracy {regions.train_accuracy:.0%}, "
        f"leave-one-out accuracy {regions.loo_accuracy:.0%}",
        fontsize=10,
    )


def toy_dataset(name: str = "moons") -> tuple[np.ndarray, np.ndarray]:
    """One of the 2-D toy sets of `dlcourse.data`, standardised (each feature mean 0, std 1).

    Returns X (N, 2) float64 and y (N,) int64; noisy enough for the choice of k to matter.
    """
    from dlcourse import data

    if name == "moons":
        X, y = data.make_moons(num_samples=200, noise=0.25, seed=0)
    elif name == "blobs":
        X, y = data.make_blobs(num_samples=200, num_classes=3, std=1.5, seed=0)
    elif name == "spirals":
        X, y = data.make_spirals(num_per_class=70, num_classes=3, noise=0.2, seed=0)
    else:
        raise ValueError(f"dataset must be one of {DATASETS}, got {name!r}")
    X = np.asarray(X, dtype=np.float64)
    return (X - X.mean(axis=0)) / X.std(axis=0), np.asarray(y, dtype=np.int64)


def knn_widget(dataset: str = "moons", k: int = 5, metric: str = "L2"):
    """Sliders for k, the distance (L1/L2), the toy dataset and a query point; redraws the regions.

    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    cache: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def draw(fig, dataset, k, metric, query_x, query_y):
        if dataset not in cache:
            cache[dataset] = toy_dataset(dataset)
        X, y = cache[dataset]
        draw_knn(fig, X, y, k=k, metric=metric, query=(query_x, query_y))

    controls = {
        "dataset": widgets.Dropdown(options=list(DATASETS), value=dataset, description="data"),
        "k": widgets.IntSlider(value=k, min=1, max=51, step=1, description="k"),
        "metric": widgets.ToggleButtons(options=list(METRICS), value=metric, description="distance"),
        "query_x": widgets.FloatSlider(value=0.0, min=-2.5, max=2.5, step=0.05, description="query x"),
        "query_y": widgets.FloatSlider(value=0.0, min=-2.5, max=2.5, step=0.05, description="query y"),
    }
    return interactive_figure(draw, controls, figsize=(6, 5.5))
