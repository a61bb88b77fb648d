"""The adversarial slider of notebook 12_understanding: eps and PGD steps; image, perturbation, probabilities.

The attack is the function the notebook hands in (the student's PGD), never this module's:
the library holds no solution. What it computes and draws:

- `adversarial_example(model, image, label, attack, eps, steps)`: the attacked image, the
  perturbation, and the class probabilities before and after;
- `draw_adversarial(fig, ...)`: the clean image, the perturbation divided by eps (on a red-blue
  scale centred on 0, with a colour bar), the adversarial image, and both sets of probabilities.

`adversarial_explorer(model, images, labels, attack)` wires an image slider, an eps slider and
a steps slider to them.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

from dlcourse.widgets.saliency import to_numpy, show_chw_image, class_probabilities

EXPLORER_FIGSIZE = (8.6, 3.6)  # beside the 300-380 px control column, it fits a 1366 x 768 screen

# An attack: (model, x (1, C, H, W), labels (1,) int64, eps, steps) -> x_adv (1, C, H, W).
Attack = Callable[[torch.nn.Module, torch.Tensor, torch.Tensor, float, int], torch.Tensor]


def adversarial_example(model: torch.nn.Module, image, label: int, attack: Attack, eps: float,
                        steps: int) -> dict:
    """Attack one image and measure what changed.

    image: (C, H, W) in [0, 1] (array or tensor, on the model's device when a tensor); label: its class.
    Returns dict with "adversarial" (C, H, W) float32, "perturbation" (C, H, W) float32
    (adversarial - image), "clean" and "attacked": (K,) float32 softmax probabilities
    (model in eval mode, no gradients), and "linf": the largest |perturbation|.
    """
    device = next(model.parameters()).device
    x = torch.as_tensor(to_numpy(image)).to(device)
    x_adv = attack(model, x[None], torch.tensor([int(label)], device=device), float(eps), int(steps))
    x_adv = torch.as_tensor(to_numpy(x_adv)).reshape(x.shape).to(device)
    perturbation = (x_adv - x).cpu().numpy()
    return {"adversarial": x_adv.cpu().numpy(), "perturbation": perturbation,
            "clean": class_probabilities(model, x), "attacked": class_probabilities(model, x_adv),
            "linf": float(np.abs(perturbation).max()) if perturbation.size else 0.0}


def draw_adversarial(fig, image, result: dict, label: int, eps: float, steps: int,
                     class_names: Sequence[str]) -> None:
    """Four panels: clean image, perturbation / eps, adversarial image, probabilities before and after.

    image: (C, H, W); result: from `adversarial_example`. The perturbation is shown divided by
    eps, so +-1 is the edge of the L-infinity ball (a single channel's; for colour, the mean of
    the channels). Axes, in order: clean, perturbation, adversarial, probabilities, colour bar.
    """
    image = to_numpy(image)
    clean, attacked = result["clean"], result["attacked"]
    grid = fig.add_gridspec(1, 4, width_ratios=[1, 1, 1, 1.3], left=0.02, right=0.98, top=0.78, bottom=0.16,
                            wspace=0.35)
    ax_clean, ax_delta, ax_adv, ax_probs = (fig.add_subplot(grid[0, i]) for i in range(4))
    show_chw_image(ax_clean, image)
    ax_clean.set_title(f"clean (label {class_names[label]})\npredicted {class_names[int(np.argmax(clean))]} "
                       f"p={clean.max():.2f}", fontsize=9)
    scaled = result["perturbation"].mean(axis=0) / eps if eps > 0 else np.zeros(image.shape[1:])
    shown = ax_delta.imshow(scaled, cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    ax_delta.set_xticks([])
    ax_delta.set_yticks([])
    ax_delta.set_title(f"perturbation / eps\nmax |delta| = {result['linf']:.3f}", fontsize=9)
    bar = fig.colorbar(shown, ax=ax_delta, fraction=0.046, pad=0.04)
    bar.ax.tick_params(labelsize=7)
    bar.set_label("delta / eps", fontsize=8)
    show_chw_image(ax_adv, result["adversarial"])
    predicted = int(np.argmax(attacked))
    ax_adv.set_title(f"adversarial\npredicted {class_names[predicted]} p={attacked.max():.2f}", fontsize=9,
                     color="tab:red" if predicted != label else "black")
    positions = np.arange(len(clean))
    ax_probs.bar(positions - 0.2, clean, width=0.4, label="clean", color="tab:blue")
    ax_probs.bar(positions + 0.2, attacked, width=0.4, label="adversarial", color="tab:red")
    ax_probs.set_xticks(positions, [str(name) for name in class_names], fontsize=7)
    ax_probs.set_ylim(0, 1)
    ax_probs.set_xlabel("class", fontsize=8)
    ax_probs.set_ylabel("probability", fontsize=8)
    ax_probs.tick_params(labelsize=7)
    ax_probs.legend(fontsize=7, loc="upper right")
    ax_probs.set_title("softmax", fontsize=9)
    fig.suptitle(f"PGD with eps = {eps:.3f} (pixel values in [0, 1]), {steps} steps", fontsize=10)


def adversarial_explorer(model: torch.nn.Module, images, labels, attack: Attack,
                         class_names: Sequence[str] | None = None, eps: float = 0.1, steps: int = 10,
                         max_eps: float = 0.4):
    """Controls: an image, eps (0 to max_eps) and the number of steps; redraws `draw_adversarial`.

    images: (N, C, H, W) in [0, 1]; labels: (N,) ints; attack(model, x, labels, eps, steps) -> x_adv.
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    images = to_numpy(images)
    labels = [int(v) for v in np.asarray(labels)]
    if images.ndim != 4 or len(images) != len(labels):
        raise ValueError(f"expected images (N, C, H, W) and labels (N,), got {images.shape} and {len(labels)}")
    device = next(model.parameters()).device
    num_classes = len(class_probabilities(model, torch.as_tensor(images[0]).to(device)))
    class_names = [str(k) for k in range(num_classes)] if class_names is None else list(class_names)

    def draw(fig, index, eps, steps):
        result = adversarial_example(model, images[index], labels[index], attack, eps, steps)
        draw_adversarial(fig, images[index], result, labels[index], eps, steps, class_names)

    controls = {
        "index": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image"),
        "eps": widgets.FloatSlider(value=eps, min=0.0, max=max_eps, step=0.01, description="eps",
                                   readout_format=".2f"),
        "steps": widgets.IntSlider(value=steps, min=1, max=40, description="PGD steps"),
    }
    return interactive_figure(draw, controls, figsize=EXPLORER_FIGSIZE)
