"""VAE latent-space explorer (notebook 09_generative).

Two sliders choose a point (z1, z2) of a 2-D latent space; the decoder turns it into an image
at once. Beside it, the encoded test set (the encoder's means) coloured by digit label shows
where each digit lives, with the chosen point marked: move across a border and watch one
digit morph into another.

The library holds no solution: the notebook passes in a decode function built on its VAE.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Decode = Callable[[np.ndarray], Any]  # (M, 2) float32 latent codes -> (M, H, W) images in [0, 1]


def decode_at(decode: Decode, z1: float, z2: float, image_shape: tuple[int, int] = (8, 8)) -> np.ndarray:
    """The image decoded from the latent point (z1, z2).

    decode: function (M, 2) float32 array -> (M, H, W) (or (M, H * W)) images in [0, 1], array or tensor.
    Returns: (H, W) float64 array, clipped to [0, 1].
    """
    image = decode(np.array([[z1, z2]], dtype=np.float32))
    if hasattr(image, "detach"):
        image = image.detach().cpu().numpy()
    image = np.asarray(image, dtype=np.float64)
    if image.size != int(np.prod(image_shape)):
        raise ValueError(f"decode must return one {image_shape[0]}x{image_shape[1]} image for one code, "
                         f"got shape {image.shape}")
    return np.clip(image.reshape(image_shape), 0.0, 1.0)


def _check_codes(codes: Any, labels: Any) -> tuple[np.ndarray, np.ndarray]:
    codes, labels = np.asarray(codes, dtype=np.float64), np.asarray(labels)
    if codes.ndim != 2 or codes.shape[1] != 2:
        raise ValueError(f"codes must be (N, 2) (a 2-D latent space), got shape {codes.shape}")
    if labels.shape != (len(codes),):
        raise ValueError(f"labels must have shape ({len(codes)},), got {labels.shape}")
    return codes, labels


def draw_latent(fig, decode: Decode, codes: np.ndarray, labels: np.ndarray, z1: float, z2: float,
                z_range: float, image_shape: tuple[int, int] = (8, 8)) -> None:
    """Draw the map of `codes` coloured by `labels` with (z1, z2) marked, and the decoded image."""
    grid = fig.add_gridspec(1, 2, width_ratios=[1.25, 1.0], wspace=0.35)
    ax_map = fig.add_subplot(grid[0])
    scatter = ax_map.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10", vmin=-0.5, vmax=9.5, s=9)
    ax_map.plot([z1], [z2], marker="X", markersize=13, color="black", markeredgecolor="white")
    ax_map.set_xlim(-z_range, z_range)
    ax_map.set_ylim(-z_range, z_range)
    ax_map.set_aspect("equal")
    ax_map.set_xlabel("$z_1$")
    ax_map.set_ylabel("$z_2$")
    ax_map.set_title("encoded test digits (means)")
    fig.colorbar(scatter, ax=ax_map, ticks=range(10), label="digit", fraction=0.046, pad=0.04)
    ax_image = fig.add_subplot(grid[1])
    ax_image.imshow(decode_at(decode, z1, z2, image_shape), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax_image.set_xticks([])
    ax_image.set_yticks([])
    ax_image.set_title(f"decoded from z = ({z1:.2f}, {z2:.2f})")


def latent_explorer(decode: Decode, codes: Any, labels: Any, z_range: float = 3.0,
                    image_shape: tuple[int, int] = (8, 8), figsize: tuple[float, float] = (9.0, 4.0)):
    """Widget: sliders over (z1, z2) decode to an image live, beside the encoded test set.

    decode: (M, 2) float32 codes -> (M, H, W) images in [0, 1]; codes: (N, 2) encoded test
    points; labels: (N,) ints 0..9; z_range: the sliders and the map span [-z_range, z_range].
    Returns the widget of `dlcourse.widgets.base.interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    codes, labels = _check_codes(codes, labels)
    step = z_range / 30
    controls = {
        "z1": w.FloatSlider(value=0.0, min=-z_range, max=z_range, step=step, description="z1"),
        "z2": w.FloatSlider(value=0.0, min=-z_range, max=z_range, step=step, description="z2"),
    }

    def draw(fig, z1, z2):
        draw_latent(fig, decode, codes, labels, z1, z2, z_range, image_shape)

    return interactive_figure(draw, controls, figsize=figsize)
