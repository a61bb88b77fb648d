"""The saliency explorer of notebook 12_understanding: an image, a method and a class; the heat map over it.

The maps come from functions the notebook hands in (the student's gradient saliency, occlusion
and Grad-CAM), never from this module: the library holds no solution. What it computes:

- `occlusion_to_pixels(drops, patch, stride, height, width)`: an occlusion map (one value per
  patch position) as one value per pixel, the mean over the patches that covered the pixel;
- `heat_to_image(heat, height, width)`: a map of any size resized to the image (bilinear);
- `heat_display(heat)`: how to draw a map: from 0 up when it is non-negative, on a red-blue
  scale centred on 0 when it is signed (an occlusion map can be);
- `class_probabilities(model, image)`: the softmax of the model's scores for one image;
- `draw_saliency(fig, ...)`: the image, the map with its colour bar, the map over the image,
  and the class probabilities.

`saliency_explorer(model, images, labels, methods)` wires a slider (image), a dropdown
(method) and a dropdown (class to explain) to `draw_saliency`.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F

PREDICTED = -1  # the class dropdown's value for "the class the model predicts"
EXPLORER_FIGSIZE = (8.6, 3.6)  # beside the 300-380 px control column, it fits a 1366 x 768 screen

# A method: (model, image (1, C, H, W) float32 tensor, class index) -> map (h, w) (array or tensor).
SaliencyMethod = Callable[[torch.nn.Module, torch.Tensor, int], object]


def to_numpy(values) -> np.ndarray:
    """An array or tensor (any device, with or without grad) as a float32 numpy array."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu()
    return np.asarray(values, dtype=np.float32)


def occlusion_to_pixels(drops, patch: int, stride: int, height: int, width: int) -> np.ndarray:
    """One value per pixel from an occlusion map: the mean drop of the patches that covered it.

    drops: (H', W'), drops[i, j] for the patch whose top-left corner is (i * stride, j * stride);
    patch, stride: ints; height, width: the image's size. Pixels that no patch covered get 0.
    Returns (height, width) float32.
    """
    drops = to_numpy(drops)
    if drops.ndim != 2:
        raise ValueError(f"expected an occlusion map of shape (H', W'), got {drops.shape}")
    total = np.zeros((height, width), dtype=np.float64)
    count = np.zeros((height, width), dtype=np.int64)
    for i in range(drops.shape[0]):
        for j in range(drops.shape[1]):
            rows, cols = slice(i * stride, i * stride + patch), slice(j * stride, j * stride + patch)
            total[rows, cols] += drops[i, j]
            count[rows, cols] += 1
    return np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)


def heat_to_image(heat, height: int, width: int) -> np.ndarray:
    """A map (h, w) resized to (height, width), bilinear with align_corners=False; float32.

    A map of the image's size comes back unchanged.
    """
    heat = to_numpy(heat)
    if heat.ndim != 2:
        raise ValueError(f"a saliency method should return a map of shape (h, w), got {heat.shape}")
    if heat.shape == (height, width):
        return heat
    resized = F.interpolate(torch.from_numpy(heat)[None, None], size=(height, width), mode="bilinear",
                            align_corners=False)
    return resized[0, 0].numpy()


def heat_display(heat) -> dict:
    """How to draw a map: dict(cmap, vmin, vmax, signed) for imshow and its colour bar.

    Non-negative maps (gradient saliency, Grad-CAM): "magma" from 0 to the largest value.
    Signed maps (an occlusion map, where hiding a patch can also raise the score): "RdBu_r"
    centred on 0, symmetric. An all-zero map gets the range [0, 1].
    """
    heat = to_numpy(heat)
    largest = float(np.abs(heat).max()) if heat.size else 0.0
    limit = largest if largest > 0 else 1.0
    if heat.size and float(heat.min()) < 0:
        return {"cmap": "RdBu_r", "vmin": -limit, "vmax": limit, "signed": True}
    return {"cmap": "magma", "vmin": 0.0, "vmax": limit, "signed": False}


def class_probabilities(model: torch.nn.Module, image: torch.Tensor) -> np.ndarray:
    """Softmax of model(image[None]) in eval mode without gradients; the model's mode is restored.

    image: (C, H, W) tensor. Returns (K,) float32 probabilities.
    """
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            scores = model(image[None])
    finally:
        model.train(was_training)
    return F.softmax(scores.float(), dim=1)[0].cpu().numpy()


def show_chw_image(ax, image: np.ndarray) -> None:
    """A (C, H, W) image in [0, 1]: grey for one channel, colour for three."""
    if image.shape[0] == 1:
        ax.imshow(image[0], cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    else:
        ax.imshow(np.clip(image.transpose(1, 2, 0), 0.0, 1.0), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_saliency(fig, image, heat, probabilities: np.ndarray, explained: int, label: int, method: str,
                  class_names: Sequence[str]) -> None:
    """Four panels: the image, the map (with a colour bar), the map over the image, the probabilities.

    image: (C, H, W) in [0, 1]; heat: (h, w), drawn resized to (H, W); probabilities: (K,);
    explained: the class the map explains; label: the true class.
    Axes, in order: image, map, overlay, probabilities, colour bar.
    """
    image = to_numpy(image)
    height, width = image.shape[1:]
    heat = heat_to_image(heat, height, width)
    display = heat_display(heat)
    predicted = int(np.argmax(probabilities))
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 1.25], left=0.02, right=0.98, top=0.8, bottom=0.16,
                            wspace=0.35)
    ax_image, ax_heat, ax_overlay, ax_probs = (fig.add_subplot(grid[0, i]) for i in range(4))
    show_chw_image(ax_image, image)
    ax_image.set_title(f"image {height} x {width}\nlabel {class_names[label]}, predicted "
                       f"{class_names[predicted]}", fontsize=9)
    shown = ax_heat.imshow(heat, cmap=display["cmap"], vmin=display["vmin"], vmax=display["vmax"],
                           interpolation="nearest")
    ax_heat.set_xticks([])
    ax_heat.set_yticks([])
    ax_heat.set_title(f"{method}\nfor class {class_names[explained]}", fontsize=9)
    bar = fig.colorbar(shown, ax=ax_heat, fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("signed importance (red > 0 > blue)" if display["signed"] else "importance", fontsize=8)
    show_chw_image(ax_overlay, image)
    ax_overlay.imshow(heat, cmap=display["cmap"], vmin=display["vmin"], vmax=display["vmax"], alpha=0.55,
                      interpolation="bilinear")
    ax_overlay.set_title("map over the image", fontsize=9)
    colours = ["tab:orange" if k == explained else "tab:blue" for k in range(len(probabilities))]
    ax_probs.bar(np.arange(len(probabilities)), probabilities, color=colours)
    ax_probs.set_xticks(np.arange(len(probabilities)), [str(name) for name in class_names], fontsize=7)
    ax_probs.set_ylim(0, 1)
    ax_probs.set_xlabel("class", fontsize=8)
    ax_probs.set_ylabel("probability", fontsize=8)
    ax_probs.tick_params(labelsize=7)
    ax_probs.set_title("softmax (orange: explained)", fontsize=9)
    fig.suptitle(f"{method}: which pixels matter for class {class_names[explained]}", fontsize=10)


def saliency_explorer(model: torch.nn.Module, images, labels, methods: Mapping[str, SaliencyMethod],
                      class_names: Sequence[str] | None = None, index: int = 0):
    """Controls: an image (slider), a method and a class (dropdowns); redraws `draw_saliency`.

    images: (N, C, H, W) in [0, 1] (array or tensor); labels: (N,) ints; methods: name ->
    function(model, image (1, C, H, W) float32 tensor, class) returning a map (h, w). The class
    dropdown offers "predicted" (the model's top class) and every class. A method that still
    raises NotImplementedError shows "not implemented yet" in the figure.
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    images = torch.as_tensor(to_numpy(images))
    labels = [int(v) for v in np.asarray(labels)]
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"expected images (N, C, H, W) and labels (N,), got {tuple(images.shape)} and {len(labels)}")
    if not methods:
        raise ValueError("give at least one saliency method, e.g. {'gradient': ...}")
    device = next(model.parameters()).device
    num_classes = len(class_probabilities(model, images[0].to(device)))
    class_names = [str(k) for k in range(num_classes)] if class_names is None else list(class_names)

    def draw(fig, index, method, explain):
        image = images[index].to(device)
        probabilities = class_probabilities(model, image)
        explained = int(np.argmax(probabilities)) if explain == PREDICTED else int(explain)
        heat = methods[method](model, image[None], explained)
        draw_saliency(fig, images[index], heat, probabilities, explained, labels[index], method, class_names)

    controls = {
        "index": widgets.IntSlider(value=index, min=0, max=len(images) - 1, description="image"),
        "method": widgets.Dropdown(options=list(methods), value=next(iter(methods)), description="method"),
        "explain": widgets.Dropdown(options=[("predicted", PREDICTED)] + [(name, k) for k, name in
                                                                         enumerate(class_names)],
                                    value=PREDICTED, description="class"),
    }
    return interactive_figure(draw, controls, figsize=EXPLORER_FIGSIZE)
