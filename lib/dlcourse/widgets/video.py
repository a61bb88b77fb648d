"""Video player of notebook 15_video: a frame slider over test videos, with each model's prediction per frame.

The notebook computes, for each trained model, the class probabilities it gives after each
frame (what a model would answer if the video stopped there: a per-frame model looks at frame
t alone, a recurrent one at frames 0..t, a clip model gives one answer for the whole clip).
The player shows frame t, its signed difference from frame t - 1 (the motion stream's input)
and, per model, the probability of the true class over time with each model's guess at t.

`frame_summary` computes what is shown (tested without a browser); `video_player` is the widget. The
library holds no solution: the notebook passes in its models and the student's `frame_differences`.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch


def _numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    return np.asarray(value)


def frame_summary(video: Any, label: int, probabilities: Mapping[str, Any], class_names: Sequence[str], frame: int,
                  difference_fn: Callable[[torch.Tensor], torch.Tensor]) -> dict[str, Any]:
    """What the player shows at frame `frame` of one video, computed without drawing.

    video: (C, T, H, W) array or tensor in [0, 1], C = 1 (grey) or 3 (colour); label: its class;
    probabilities: model name -> (T, K) array, row t = the model's class probabilities having seen the
    video up to frame t (a NaN row where it has no answer yet, e.g. a motion stream at t = 0);
    class_names: the K names; difference_fn: videos (1, C, T, H, W) -> (1, C, T - 1, H, W), entry t the
    change from frame t to frame t + 1 (the notebook's frame_differences).
    Returns {"image": (H, W) or (H, W, 3) float64 array, frame t; "difference": (H, W) float64 array, the
    change from frame t - 1 to frame t (channel mean; zeros at t = 0); "true": the true class name;
    "curves": name -> (T,) probability of the true class at each frame; "guesses": name -> (class name,
    probability) of the model's most likely class at frame t, or None where the row is NaN}.
    """
    clip = torch.as_tensor(_numpy(video), dtype=torch.float64)
    if clip.ndim != 4 or clip.shape[0] not in (1, 3):
        raise ValueError(f"video must be (C, T, H, W) with C = 1 (grey) or 3 (colour), got shape {tuple(clip.shape)}")
    num_frames = clip.shape[1]
    if not 0 <= frame < num_frames:
        raise ValueError(f"frame must be in [0, {num_frames - 1}], got {frame}")
    probabilities = {name: _numpy(probs).astype(np.float64) for name, probs in probabilities.items()}
    for name, probs in probabilities.items():
        if probs.shape != (num_frames, len(class_names)):
            raise ValueError(f"probabilities[{name!r}] must be (T, K) = ({num_frames}, {len(class_names)}), "
                             f"got shape {probs.shape}")
    image = clip[0, frame] if clip.shape[0] == 1 else clip[:, frame].permute(1, 2, 0)
    difference = np.zeros(tuple(clip.shape[2:]))
    if frame:
        difference = _numpy(difference_fn(clip[None]))[0, :, frame - 1].mean(axis=0).astype(np.float64)
    guesses = {}
    for name, probs in probabilities.items():
        row = probs[frame]
        guesses[name] = None if np.isnan(row).any() else (class_names[int(np.argmax(row))], float(row.max()))
    return {"image": image.numpy(), "difference": difference, "true": class_names[int(label)],
            "curves": {name: probs[:, int(label)] for name, probs in probabilities.items()}, "guesses": guesses}


def draw_frame(fig, summary: dict[str, Any], video: int, frame: int, num_classes: int) -> None:
    """Frame t, its signed difference from frame t - 1, and each model's P(true class) over the frames."""
    grid = fig.add_gridspec(1, 3, width_ratios=[1.0, 1.25, 2.0], wspace=0.7, left=0.05, right=0.76, bottom=0.17,
                            top=0.85)
    ax = fig.add_subplot(grid[0])
    ax.imshow(summary["image"], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_title(f"video {video}, frame {frame}\ntrue motion: {summary['true']}", fontsize=9)
    ax.set(xlabel="x (pixels)", ylabel="y (pixels)")
    ax = fig.add_subplot(grid[1])
    picture = ax.imshow(summary["difference"], cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
    ax.set_title("frame t minus frame t - 1\n(red: brighter now)", fontsize=9)
    ax.set(xlabel="x (pixels)")
    fig.colorbar(picture, ax=ax, fraction=0.046, pad=0.04).set_label("change in brightness", fontsize=8)
    ax = fig.add_subplot(grid[2])
    for name, curve in summary["curves"].items():
        guess = summary["guesses"][name]
        label = f"{name}: {guess[0]} ({guess[1]:.2f})" if guess else f"{name}: no answer yet"
        ax.plot(np.arange(len(curve)), curve, marker="o", markersize=3, label=label)
    num_frames = len(next(iter(summary["curves"].values())))
    ax.axvline(frame, color="black", linewidth=1)
    ax.axhline(1 / num_classes, color="gray", linestyle=":", linewidth=1)
    ax.set_xlim(-0.3, num_frames - 0.7)
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel("frame t (each model has seen frames 0..t)", fontsize=8)
    ax.set_ylabel("P(true class)", fontsize=8)
    ax.set_title("each model's answer at frame t (dotted: chance)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="guess at frame t", title_fontsize=7)


def video_player(videos: Any, labels: Any, class_names: Sequence[str],
                 predict: Callable[[torch.Tensor], Mapping[str, Any]],
                 difference_fn: Callable[[torch.Tensor], torch.Tensor], figsize: tuple[float, float] = (12.0, 3.4)):
    """Widget: sliders for the frame and the video; redraws the frame and each model's prediction at it.

    videos: (N, C, T, H, W) tensor in [0, 1]; labels: (N,) ints; class_names: K names;
    predict: one video (1, C, T, H, W) -> {model name: (T, K) probabilities per frame} (called once per
    video shown, then kept); difference_fn: as in `frame_summary`.
    Returns the widget of `dlcourse.widgets.base.interactive_figure` (`.redraw()`, `.figure`, `.controls`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    videos = torch.as_tensor(_numpy(videos))
    labels = _numpy(labels)
    if videos.ndim != 5 or labels.shape != (len(videos),):
        raise ValueError(f"expected videos (N, C, T, H, W) and labels (N,), got shapes {tuple(videos.shape)} "
                         f"and {labels.shape}")
    predictions: dict[int, Mapping[str, Any]] = {}
    controls = {
        "frame": w.IntSlider(value=0, min=0, max=videos.shape[2] - 1, description="frame t"),
        "video": w.IntSlider(value=0, min=0, max=len(videos) - 1, description="video"),
    }

    def draw(fig, frame, video):
        if video not in predictions:
            predictions[video] = predict(videos[video:video + 1])
        summary = frame_summary(videos[video], int(labels[video]), predictions[video], class_names, frame,
                                difference_fn)
        draw_frame(fig, summary, video, frame, len(class_names))

    return interactive_figure(draw, controls, figsize=figsize)
