"""The augmentation explorer (11_fewer_labels): augmented copies of one image, and their (mixed) targets.

The augmentations are the notebook's own functions, handed in as `augment(x, targets, rng, strength)`
with x (B, C, H, W) float in [0, 1] and targets (B, K) one-hot or soft: the library holds none of them.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

Augment = Callable[[np.ndarray, np.ndarray, np.random.Generator, float], tuple[np.ndarray, np.ndarray]]

EXPLORER_FIGSIZE = (8.2, 4.6)


def augmented_copies(augment: Augment, images: np.ndarray, labels: np.ndarray, index: int, strength: float,
                     num_classes: int, copies: int = 8, batch_size: int = 16, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """`copies` augmented versions of images[index] and their targets.

    images: (N, C, H, W) float in [0, 1]; labels: (N,) ints in 0..num_classes-1; index: the chosen image.
    Copy j is the first output of `augment` on a batch of `batch_size` images: the chosen one first, then
    others drawn at random (without it), so that Mixup and CutMix have partners to mix it with.
    Every draw comes from np.random.default_rng(seed): the same seed gives the same copies.
    Returns (copies (copies, C, H, W) float32, targets (copies, num_classes) float32).
    """
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim != 4:
        raise ValueError(f"expected images of shape (N, C, H, W), got {images.shape}")
    if not 0 <= index < len(images):
        raise ValueError(f"index {index} is outside 0..{len(images) - 1}")
    rng = np.random.default_rng(seed)
    others = np.delete(np.arange(len(images)), index)
    outputs, targets = [], []
    for _ in range(copies):
        chosen = np.concatenate([[index], rng.choice(others, min(batch_size - 1, len(others)), replace=False)])
        one_hot = np.eye(num_classes, dtype=np.float32)[labels[chosen]]
        x_aug, t_aug = augment(images[chosen].astype(np.float32), one_hot, rng, strength)
        outputs.append(np.asarray(x_aug, dtype=np.float32)[0])
        targets.append(np.asarray(t_aug, dtype=np.float32)[0])
    return np.stack(outputs), np.stack(targets)


def draw_augmented_copies(fig, copies: np.ndarray, targets: np.ndarray, class_names: Sequence[str],
                          title: str = "", columns: int = 4) -> None:
    """The copies in grey (one scale: black 0, white 1, all drawn the same size), each with its target as bars.

    copies: (M, C, H, W) (a colour image when C == 3, else the mean over the channels); targets: (M, K).
    Axes, in order: image 0, bars 0, image 1, bars 1, ...
    """
    count = len(copies)
    rows = -(-count // columns)
    grid = fig.add_gridspec(2 * rows, columns, height_ratios=[3, 1] * rows, hspace=0.55, wspace=0.35,
                            left=0.04, right=0.98, top=0.86, bottom=0.06)
    positions = np.arange(len(class_names))
    for k, (image, target) in enumerate(zip(copies, targets)):
        row, col = divmod(k, columns)
        ax = fig.add_subplot(grid[2 * row, col])
        shown = image.transpose(1, 2, 0) if image.shape[0] == 3 else image.mean(axis=0)
        ax.imshow(np.clip(shown, 0, 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"copy {k}: " + ", ".join(f"{class_names[c]} {target[c]:.2f}"
                                              for c in np.argsort(-target)[:2] if target[c] > 0.005), fontsize=8)
        bars = fig.add_subplot(grid[2 * row + 1, col])
        bars.bar(positions, target, color="tab:blue")
        bars.set_ylim(0, 1)
        bars.set_xticks(positions, class_names, fontsize=7)
        bars.set_yticks([0, 1])
        bars.tick_params(labelsize=7)
        bars.set_ylabel("target", fontsize=7)
    fig.suptitle(title or "augmented copies of one image (grey 0 to 1) and their targets", fontsize=10)


def augmentation_explorer(augmentations: Mapping[str, Augment], images: np.ndarray, labels: np.ndarray,
                          class_names: Sequence[str], copies: int = 8):
    """Controls: an augmentation, its strength (0..1), the image and a seed; redraws the augmented copies.

    augmentations: name -> augment(x (B, C, H, W), targets (B, K), rng, strength) -> (x, targets); the name
    should say what the strength means (e.g. "random crop, padding = 3 x strength").
    Returns the ipywidgets box of `dlcourse.widgets.base.interactive_figure`.
    """
    import ipywidgets as widgets

    from dlcourse.widgets.base import interactive_figure

    names = list(augmentations)

    def draw(fig, augmentation, strength, image, seed):
        shown, targets = augmented_copies(augmentations[augmentation], images, labels, image, strength,
                                          len(class_names), copies=copies, seed=seed)
        draw_augmented_copies(fig, shown, targets, class_names,
                              f"{augmentation} (strength {strength:.2f}): {copies} copies of image {image} "
                              f"(label {class_names[int(labels[image])]})")

    controls = {
        "augmentation": widgets.Dropdown(options=names, value=names[0], description="augment"),
        "strength": widgets.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="strength"),
        "image": widgets.IntSlider(value=0, min=0, max=len(images) - 1, description="image"),
        "seed": widgets.IntSlider(value=0, min=0, max=20, description="seed"),
    }
    return interactive_figure(draw, controls, figsize=EXPLORER_FIGSIZE)
