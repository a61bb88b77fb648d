"""dlcourse.viz: every plot returns a Figure with titles and labels, headless."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from dlcourse import viz  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_image_grid_layout_titles_and_wrong_predictions_in_red():
    images = np.random.default_rng(0).random((12, 8, 8))
    labels = np.arange(12) % 3
    predictions = labels.copy()
    predictions[5] = (labels[5] + 1) % 3
    fig = viz.show_image_grid(images, labels, ["a", "b", "c"], ncols=5, title="grid", predictions=predictions)
    assert isinstance(fig, Figure) and len(fig.axes) == 15 and fig._suptitle.get_text() == "grid"
    assert fig.axes[0].get_title() == "a → a" and not fig.axes[14].images
    assert fig.axes[5].title.get_color() == "red" and fig.axes[4].title.get_color() == "black"


def test_image_grid_accepts_channel_first_tensors_and_rescales():
    fig = viz.show_image_grid(torch.randn(4, 3, 16, 16) * 5, ncols=4)
    shown = fig.axes[0].images[0].get_array()
    assert shown.shape == (16, 16, 3) and 0 <= shown.min() and shown.max() <= 1


def test_decision_boundary_colours_regions_by_predict():
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-1.0, 1.0], [1.0, 1.0]], dtype=np.float32)
    y = np.array([0, 1, 0, 1])
    seen = []

    def predict(points):
        seen.append(points)
        return torch.from_numpy((points[:, 0] > 0).astype(np.int64))

    fig = viz.plot_decision_boundary(predict, X, y, title="sign of x1", resolution=50)
    assert seen[0].shape == (2500, 2) and seen[0].dtype == np.float32
    ax = fig.axes[0]
    assert ax.get_title() == "sign of x1" and ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.collections) >= 2  # filled regions and the points


def test_decision_boundary_draws_into_a_given_axis():
    fig, axes = plt.subplots(1, 2)
    X, y = np.random.default_rng(0).normal(size=(20, 2)), np.arange(20) % 2
    assert viz.plot_decision_boundary(lambda p: np.zeros(len(p), dtype=int), X, y, ax=axes[1]) is fig


def test_curves_one_line_per_name_counted_from_one():
    curves = {"train": [3.0, 2.0, 1.0], "val": torch.tensor([3.5, 2.5, 2.0])}
    fig = viz.plot_curves(curves, "epoch", "loss", "Loss", logy=True)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["train", "val"]
    assert ax.lines[0].get_xdata().tolist() == [1, 2, 3] and ax.get_yscale() == "log"
    assert (ax.get_title(), ax.get_xlabel(), ax.get_ylabel()) == ("Loss", "epoch", "loss")


def test_boxes_drawn_with_names_and_scores():
    image = np.zeros((32, 32))
    boxes = np.array([[2, 3, 10, 12], [15, 15, 30, 31]], dtype=np.float32)
    fig = viz.draw_boxes(image, boxes, labels=[1, 0], scores=[0.9, 0.25], class_names=["cat", "dog"])
    ax = fig.axes[0]
    rectangles = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(rectangles) == 2 and rectangles[0].get_width() == 8 and rectangles[0].get_height() == 9
    assert [t.get_text() for t in ax.texts] == ["dog 0.90", "cat 0.25"]
    assert ax.get_title() and ax.get_xlabel()


def test_heatmap_labels_annotations_and_colorbar():
    matrix = np.array([[0.1, 0.9], [0.5, 0.5]])
    fig = viz.plot_heatmap(matrix, ["k1", "k2"], ["q1", "q2"], title="attention", xlabel="key", ylabel="query")
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the colour bar
    assert [t.get_text() for t in ax.get_xticklabels()] == ["k1", "k2"]
    assert sorted(t.get_text() for t in ax.texts) == ["0.10", "0.50", "0.50", "0.90"]
    assert ax.get_title() == "attention" and ax.get_ylabel() == "query"
    counts = viz.plot_heatmap(np.array([[3, 1], [0, 4]]), title="confusion")
    assert sorted(t.get_text() for t in counts.axes[0].texts) == ["0", "1", "3", "4"]
    assert not viz.plot_heatmap(np.zeros((20, 20))).axes[0].texts


def test_every_plot_saves_as_png(tmp_path):
    fig = viz.plot_curves({"a": [1, 2]})
    fig.savefig(tmp_path / "a.png")
    assert (tmp_path / "a.png").stat().st_size > 1000


def test_plane_grid_covers_the_points_with_the_margin():
    from dlcourse.viz import plane_grid

    X = np.array([[0.0, -1.0], [2.0, 3.0]])
    xx, yy, points = plane_grid(X, grid_size=5, margin=0.5)
    assert xx.shape == yy.shape == (5, 5) and points.shape == (25, 2)
    assert (xx.min(), xx.max(), yy.min(), yy.max()) == (-0.5, 2.5, -1.5, 3.5)
    assert np.array_equal(points[:, 0], xx.ravel()) and np.array_equal(points[:, 1], yy.ravel())
    assert np.allclose(xx[0], np.linspace(-0.5, 2.5, 5)) and np.allclose(yy[:, 0], np.linspace(-1.5, 3.5, 5))
