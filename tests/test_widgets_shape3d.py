"""The shape rotation explorer of notebook 14: its pure functions and its widget (headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcourse.data.shapes3d import rotation_matrix, sample_surface
from dlcourse.widgets.shape3d import NONE_YET, draw_shape_rotation, rotate_points, rotated_prediction, \
    shape_rotation_explorer

NAMES = ("flat", "tall", "round")


def by_extent(points):
    """A classifier that is easy to check: 'tall' when the points spread most along z, else 'flat'."""
    spread = np.ptp(points, axis=0)
    return np.array([0.1, 0.9, 0.0]) if spread[2] >= spread[:2].max() else np.array([0.9, 0.1, 0.0])


def rod():
    """(40, 3): points along the z axis, from -0.9 to 0.9."""
    return np.column_stack([np.zeros(40), np.zeros(40), np.linspace(-0.9, 0.9, 40)])


def not_written(points):
    raise NotImplementedError("PointNet")


def test_rotate_points_by_hand_and_against_the_matrix():
    x_axis = np.array([[1.0, 0.0, 0.0]])
    np.testing.assert_allclose(rotate_points(x_axis, 90.0, 0.0), [[0.0, 1.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(rotate_points(x_axis, 90.0, 90.0), [[0.0, 0.0, 1.0]], atol=1e-12)  # spin, then tilt
    points = sample_surface("torus", 50, np.random.default_rng(0)).astype(np.float32)
    rotated = rotate_points(points, 40.0, -25.0)
    assert rotated.dtype == np.float64 and rotated.shape == (50, 3)
    np.testing.assert_allclose(rotated, points @ rotation_matrix(40.0, -25.0).T, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(rotated, axis=1), np.linalg.norm(points, axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match=r"points of shape \(P, 3\)"):
        rotate_points(np.zeros((4, 2)), 0.0, 0.0)


def test_rotated_prediction_classifies_the_rotated_points():
    np.testing.assert_allclose(rotated_prediction(by_extent, rod(), 0.0, 0.0), [0.1, 0.9, 0.0])
    np.testing.assert_allclose(rotated_prediction(by_extent, rod(), 0.0, 90.0), [0.9, 0.1, 0.0])  # tilted: lies flat
    np.testing.assert_allclose(rotated_prediction(by_extent, rod(), 120.0, 0.0), [0.1, 0.9, 0.0])  # a spin keeps z
    as_row = rotated_prediction(lambda p: np.array([[0.25, 0.75]]), rod(), 0.0, 0.0)           # (1, C) is fine
    assert as_row.shape == (2,) and as_row.dtype == np.float64
    with pytest.raises(ValueError, match="probabilities that sum to 1"):
        rotated_prediction(lambda p: np.array([2.0, -1.0, 0.5]), rod(), 0.0, 0.0)
    with pytest.raises(ValueError, match="probabilities that sum to 1"):
        rotated_prediction(lambda p: np.array([0.2, 0.2, 0.2]), rod(), 0.0, 0.0)


def test_draw_shape_rotation_shows_the_rotated_cloud_and_the_bars():
    fig = plt.figure()
    probabilities = draw_shape_rotation(fig, rod(), 1, NAMES, by_extent, 0.0, 90.0, classifier="by extent")
    np.testing.assert_allclose(probabilities, [0.9, 0.1, 0.0])
    shape_ax, bars_ax = fig.axes
    x, y, z = shape_ax.collections[0]._offsets3d
    np.testing.assert_allclose(np.asarray(z), 0.0, atol=1e-12)              # the rod, tilted, lies in z = 0
    np.testing.assert_allclose(np.asarray(y), -np.linspace(-0.9, 0.9, 40), atol=1e-12)  # z -> -y
    np.testing.assert_allclose([bar.get_width() for bar in bars_ax.patches], [0.9, 0.1, 0.0])
    assert "by extent: flat (90%)" in bars_ax.get_title()
    assert [t.get_fontweight() for t in bars_ax.get_yticklabels()] == ["normal", "bold", "normal"]  # the true class
    plt.close(fig)
    for predict in (None, not_written):
        fig = plt.figure()
        assert draw_shape_rotation(fig, rod(), 0, NAMES, predict, 30.0, 0.0) is None
        assert len(fig.axes) == 2 and any("Not implemented yet" in t.get_text() for t in fig.axes[1].texts)
        plt.close(fig)


def test_widget_builds_headless_and_follows_its_controls():
    rng = np.random.default_rng(1)
    clouds = np.stack([rod(), rng.uniform(-0.5, 0.5, (40, 3)) * [1, 1, 0.1]])
    widget = shape_rotation_explorer(clouds, np.array([1, 0]), NAMES, {"by extent": by_extent, "unwritten": not_written})
    assert set(widget.controls) == {"example", "azimuth", "elevation", "classifier"}
    assert widget.controls["example"].max == 1 and widget.controls["classifier"].options == ("by extent", "unwritten")
    assert "tall" in widget.figure.axes[1].get_title()
    widget.controls["elevation"].value = 90.0
    assert "flat" in widget.figure.axes[1].get_title() and "elevation 90" in widget.figure.axes[0].get_title()
    widget.controls["example"].value = 1
    assert "a flat" in widget.figure.axes[0].get_title()
    if os.environ.get("DLCOURSE_SAVE_WIDGETS"):
        widget.figure.savefig(os.path.join(os.environ["DLCOURSE_SAVE_WIDGETS"], "shape_rotation_explorer.png"))
    widget.controls["classifier"].value = "unwritten"
    assert any("Not implemented yet" in t.get_text() for t in widget.figure.axes[1].texts)
    empty = shape_rotation_explorer(clouds, np.array([1, 0]), NAMES, {})
    assert empty.controls["classifier"].options == (NONE_YET,)
    assert any("Not implemented yet" in t.get_text() for t in empty.figure.axes[1].texts)
