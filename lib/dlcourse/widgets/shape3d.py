"""A point cloud you rotate with azimuth and elevation sliders, beside each classifier's prediction.

Notebook 14_graphs_3d. The shape is rotated (not the camera: the view stays fixed) and the rotated
points are what the classifier sees, so the bars show whether a prediction survives a rotation
the training data never had. The classifiers are functions the notebook hands in (the library
holds no solution): points (P, 3) -> class probabilities (C,). The pure functions are tested
without a browser:

- `rotate_points(points, azimuth, elevation)`: the points after the rotation of
  `dlcourse.data.shapes3d.rotation_matrix` (degrees);
- `rotated_prediction(predict, points, azimuth, elevation)`: the probabilities for the rotated points.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from dlcourse.data.shapes3d import rotation_matrix

Predict = Callable[[np.ndarray], np.ndarray]
NONE_YET = "(none trained yet)"


def rotate_points(points: np.ndarray, azimuth: float, elevation: float) -> np.ndarray:
    """points (P, 3) -> (P, 3) float64, spun by `azimuth` degrees about z, then tilted by `elevation` about x."""
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"expected points of shape (P, 3), got {points.shape}")
    return points @ rotation_matrix(azimuth, elevation).T


def rotated_prediction(predict: Predict, points: np.ndarray, azimuth: float, elevation: float) -> np.ndarray:
    """(C,) float64 class probabilities that `predict` gives to the rotated points; checks that they are
    probabilities (non-negative, summing to 1)."""
    probabilities = np.asarray(predict(rotate_points(points, azimuth, elevation)), dtype=np.float64).reshape(-1)
    if (probabilities < -1e-6).any() or abs(probabilities.sum() - 1) > 1e-4:
        raise ValueError(f"a classifier must return class probabilities that sum to 1, got {probabilities}")
    return probabilities


def draw_shape_rotation(fig, points: np.ndarray, label: int, class_names: Sequence[str], predict: Predict | None,
                        azimuth: float, elevation: float, classifier: str = "classifier") -> np.ndarray | None:
    """Left: the rotated points in 3-D (equal axes over [-1, 1]^3, coloured by height z); right: the
    classifier's probabilities, the true class in bold. With no classifier, or one that raises
    NotImplementedError, the right panel says so. Returns the probabilities (None without them)."""
    rotated = rotate_points(points, azimuth, elevation)
    grid = fig.add_gridspec(1, 2, width_ratios=[1.35, 1], left=0.02, right=0.97, wspace=0.35)
    shape_ax = fig.add_subplot(grid[0], projection="3d")
    shape_ax.scatter(*rotated.T, c=rotated[:, 2], cmap="viridis", vmin=-1, vmax=1, s=8, depthshade=False)
    shape_ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xlabel="x", ylabel="y", zlabel="z")
    shape_ax.set_box_aspect((1, 1, 1))
    shape_ax.view_init(elev=20, azim=-60)
    shape_ax.set_title(f"a {class_names[label]}, rotated by azimuth {azimuth:.0f}°, elevation {elevation:.0f}°\n"
                       "(colour: height z; the view stays fixed)", fontsize=9)
    bars_ax = fig.add_subplot(grid[1])
    probabilities = None
    try:
        if predict is None:
            raise NotImplementedError("no classifier is trained yet\n(PointNet, section 2)")
        probabilities = rotated_prediction(predict, points, azimuth, elevation)
    except NotImplementedError as missing:
        bars_ax.text(0.5, 0.5, f"Not implemented yet:\n{missing}", ha="center", va="center", wrap=True,
                     fontsize=10, transform=bars_ax.transAxes)
        bars_ax.set(xticks=[], yticks=[], title="prediction")
        return None
    rows = np.arange(len(class_names))
    colours = ["tab:green" if row == label else "tab:gray" for row in rows]
    bars_ax.barh(rows, probabilities, color=colours)
    bars_ax.set_yticks(rows, class_names)
    for tick, row in zip(bars_ax.get_yticklabels(), rows):
        tick.set_fontweight("bold" if row == label else "normal")
    bars_ax.invert_yaxis()
    guess = class_names[int(np.argmax(probabilities))]
    bars_ax.set(xlim=(0, 1), xlabel="probability",
                title=f"{classifier}: {guess} ({probabilities.max():.0%})")
    bars_ax.title.set_fontsize(9)
    return probabilities


def shape_rotation_explorer(points: np.ndarray, labels: np.ndarray, class_names: Sequence[str],
                            classifiers: Mapping[str, Predict], example: int = 0):
    """Sliders for the example, its azimuth and elevation (degrees), and a choice of classifier.

    points: (N, P, 3) clouds; labels: (N,) their classes; classifiers: name -> predict function
    ((P, 3) -> (C,) probabilities); an empty mapping shows "not implemented yet" beside the shape.
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    points, labels = np.asarray(points), np.asarray(labels)
    names = list(classifiers) or [NONE_YET]

    def draw(fig, example, azimuth, elevation, classifier):
        draw_shape_rotation(fig, points[example], int(labels[example]), class_names, classifiers.get(classifier),
                            azimuth, elevation, classifier)

    controls = {
        "example": widgets.IntSlider(value=example, min=0, max=len(points) - 1, description="example"),
        "azimuth": widgets.FloatSlider(value=0.0, min=-180.0, max=180.0, step=15.0, description="azimuth °"),
        "elevation": widgets.FloatSlider(value=0.0, min=-90.0, max=90.0, step=15.0, description="elevation °"),
        "classifier": widgets.Dropdown(options=names, value=names[0], description="classifier"),
    }
    return interactive_figure(draw, controls, figsize=(8.6, 4.2))
