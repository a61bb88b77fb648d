"""The video player of notebook 15_video: its pure function and its widget (headless)."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
import torch

from dlcourse.data.videos import MOTION_NAMES, make_moving_shapes
from dlcourse.widgets.video import frame_summary, video_player


def frame_differences(videos):            # the notebook's function, written here for the test
    return videos[:, :, 1:] - videos[:, :, :-1]


def _data(num_videos=3, num_frames=5):
    videos, labels, _, _ = make_moving_shapes(num_videos, num_frames=num_frames, seed=0)
    return torch.from_numpy(videos), labels


def _probabilities(num_frames, label, seed=0):
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(4), size=num_frames)
    sure = np.eye(4)[[label] * num_frames]
    motion = np.vstack([np.full((1, 4), np.nan), sure[1:]])
    return {"guess": probs, "sure": sure, "motion": motion}


def test_summary_shows_the_frame_its_difference_and_each_models_answer():
    videos, labels = _data()
    probs = _probabilities(5, int(labels[1]))
    summary = frame_summary(videos[1], int(labels[1]), probs, MOTION_NAMES, 3, frame_differences)
    np.testing.assert_array_equal(summary["image"], videos[1, 0, 3].double().numpy())
    np.testing.assert_allclose(summary["difference"], (videos[1, 0, 3] - videos[1, 0, 2]).double().numpy(), atol=1e-6)
    assert summary["true"] == MOTION_NAMES[labels[1]]
    np.testing.assert_array_equal(summary["curves"]["guess"], probs["guess"][:, labels[1]])
    assert summary["guesses"]["sure"] == (MOTION_NAMES[labels[1]], 1.0)
    name, probability = summary["guesses"]["guess"]
    assert name == MOTION_NAMES[int(np.argmax(probs["guess"][3]))] and probability == pytest.approx(probs["guess"][3].max())
    first = frame_summary(videos[1], int(labels[1]), probs, MOTION_NAMES, 0, frame_differences)
    assert first["guesses"]["motion"] is None and not first["difference"].any()


def test_summary_of_a_colour_video_is_an_rgb_image():
    video = torch.rand(3, 4, 6, 5)
    summary = frame_summary(video, 0, {"m": np.full((4, 4), 0.25)}, MOTION_NAMES, 2, frame_differences)
    assert summary["image"].shape == (6, 5, 3)
    np.testing.assert_allclose(summary["difference"], (video[:, 2] - video[:, 1]).mean(0).double().numpy(), atol=1e-6)


def test_summary_explains_bad_arguments():
    videos, labels = _data()
    probs = _probabilities(5, 0)
    with pytest.raises(ValueError, match=r"frame must be in \[0, 4\]"):
        frame_summary(videos[0], 0, probs, MOTION_NAMES, 5, frame_differences)
    with pytest.raises(ValueError, match=r"\(C, T, H, W\)"):
        frame_summary(videos[0, 0], 0, probs, MOTION_NAMES, 1, frame_differences)
    with pytest.raises(ValueError, match=r"must be \(T, K\) = \(5, 4\)"):
        frame_summary(videos[0], 0, {"m": np.zeros((4, 4))}, MOTION_NAMES, 1, frame_differences)


def _widget(difference_fn=frame_differences, calls=None):
    videos, labels = _data()

    def predict(video):
        if calls is not None:
            calls.append(tuple(video.shape))
        return _probabilities(video.shape[2], int(labels[0]))

    return video_player(videos, labels, MOTION_NAMES, predict, difference_fn)


def test_widget_builds_headless_and_redraws_when_the_frame_moves():
    calls = []
    widget = _widget(calls=calls)
    assert list(widget.controls) == ["frame", "video"] and widget.figure is not None
    assert "frame 0" in widget.figure.axes[0].get_title()
    widget.controls["frame"].value = 4
    assert "frame 4" in widget.figure.axes[0].get_title()
    assert widget.figure.axes[1].images[0].get_array().any()          # a difference is shown from frame 1 on
    assert calls == [(1, 1, 5, 16, 16)]                                # one prediction per video, kept
    widget.controls["video"].value = 2
    assert "video 2" in widget.figure.axes[0].get_title() and len(calls) == 2
    legend = [text.get_text() for text in widget.figure.axes[-1].get_legend().get_texts()]
    assert any(text.startswith("sure: ") for text in legend)
    if os.environ.get("DLCOURSE_SAVE_WIDGETS"):
        widget.figure.savefig(os.path.join(os.environ["DLCOURSE_SAVE_WIDGETS"], "video_player.png"))


def test_widget_reports_an_unwritten_function_on_the_figure():
    def not_written(videos):
        raise NotImplementedError("frame_differences")

    widget = _widget(difference_fn=not_written)
    widget.controls["frame"].value = 2
    texts = [text.get_text() for ax in widget.figure.axes for text in ax.texts]
    assert any("Not implemented yet" in text and "frame_differences" in text for text in texts)


def test_widget_needs_videos_and_labels_that_match():
    videos, labels = _data()
    with pytest.raises(ValueError, match=r"videos \(N, C, T, H, W\) and labels \(N,\)"):
        video_player(videos, labels[:2], MOTION_NAMES, lambda video: {}, frame_differences)
