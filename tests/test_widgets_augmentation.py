"""The augmentation explorer (11_fewer_labels): the copies and targets it shows, and the widget headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pytest

from dlcourse.widgets.augmentation import EXPLORER_FIGSIZE, augmentation_explorer, augmented_copies, draw_augmented_copies

RNG = np.random.default_rng(0)
IMAGES = RNG.uniform(0.05, 0.95, (12, 1, 6, 5)).astype(np.float32)
LABELS = np.arange(12) % 4
NAMES = ["a", "b", "c", "d"]


def identity(x, t, rng, strength):
    return x, t


def blend_with_next(x, t, rng, strength):
    """A deterministic Mixup with the next image of the batch: lam = 1 - strength / 2."""
    lam = 1 - strength / 2
    return lam * x + (1 - lam) * np.roll(x, -1, axis=0), lam * t + (1 - lam) * np.roll(t, -1, axis=0)


def test_identity_gives_copies_of_the_chosen_image_and_its_one_hot_target():
    copies, targets = augmented_copies(identity, IMAGES, LABELS, 5, 0.5, num_classes=4, copies=6)
    assert copies.shape == (6, 1, 6, 5) and copies.dtype == np.float32
    np.testing.assert_array_equal(copies, np.repeat(IMAGES[5:6], 6, axis=0))
    np.testing.assert_array_equal(targets, np.repeat(np.eye(4, dtype=np.float32)[[LABELS[5]]], 6, axis=0))


def test_each_copy_gets_other_partners_and_a_mixed_target_that_sums_to_one():
    copies, targets = augmented_copies(blend_with_next, IMAGES, LABELS, 2, 1.0, num_classes=4, copies=8, seed=3)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)
    assert (targets[:, LABELS[2]] >= 0.5 - 1e-6).all()                   # the chosen image keeps weight lam = 0.5
    partners = (copies - 0.5 * IMAGES[2]) / 0.5                           # recover each copy's partner image
    found = [int(np.argmin(np.abs(IMAGES - p).reshape(12, -1).sum(axis=1))) for p in partners]
    assert 2 not in found and len(set(found)) > 1                         # partners are other images, and they vary


def test_copies_are_reproducible_for_a_seed_and_change_with_it():
    def noisy(x, t, rng, strength):
        return x + strength * rng.standard_normal(x.shape).astype(np.float32), t

    first = augmented_copies(noisy, IMAGES, LABELS, 0, 0.3, 4, seed=1)[0]
    np.testing.assert_array_equal(first, augmented_copies(noisy, IMAGES, LABELS, 0, 0.3, 4, seed=1)[0])
    assert not np.array_equal(first, augmented_copies(noisy, IMAGES, LABELS, 0, 0.3, 4, seed=2)[0])
    assert not np.array_equal(first[0], first[1])                           # every copy is a new draw


@pytest.mark.parametrize("images, index", [(IMAGES[0], 0), (IMAGES, 12), (IMAGES, -1)])
def test_bad_input_is_refused_with_a_message(images, index):
    with pytest.raises(ValueError, match="expected images|outside"):
        augmented_copies(identity, images, LABELS, index, 0.5, 4)


def test_drawing_puts_every_copy_in_grey_at_one_scale_with_its_bars():
    copies, targets = augmented_copies(blend_with_next, IMAGES, LABELS, 1, 0.6, num_classes=4, copies=8)
    fig = plt.figure(figsize=EXPLORER_FIGSIZE)
    draw_augmented_copies(fig, copies, targets, NAMES, title="t")
    images, bars = fig.axes[0::2], fig.axes[1::2]
    assert len(images) == len(bars) == 8
    for ax in images:
        picture = ax.images[0]
        assert picture.get_cmap().name == "gray" and picture.get_clim() == (0, 1)
        assert picture.get_array().shape == (6, 5)
    widths = {round(ax.get_window_extent().width, 3) for ax in images}
    assert len(widths) == 1                                                 # every copy drawn the same size
    heights = [patch.get_height() for patch in bars[0].patches]
    np.testing.assert_allclose(heights, targets[0], rtol=1e-6)
    assert bars[0].get_ylim() == (0, 1)
    plt.close(fig)


def test_colour_images_are_shown_in_colour():
    colour = RNG.uniform(0, 1, (4, 3, 5, 5)).astype(np.float32)
    copies, targets = augmented_copies(identity, colour, np.arange(4) % 2, 0, 0.5, num_classes=2, copies=2)
    fig = plt.figure()
    draw_augmented_copies(fig, copies, targets, ["x", "y"])
    assert fig.axes[0].images[0].get_array().shape == (5, 5, 3)
    plt.close(fig)


def test_explorer_redraws_for_every_augmentation_and_says_when_one_is_not_written():
    def stub(x, t, rng, strength):
        raise NotImplementedError("cutout")

    widget = augmentation_explorer({"identity": identity, "blend": blend_with_next, "stub": stub},
                                   IMAGES, LABELS, NAMES, copies=4)
    assert len(widget.figure.axes) == 8
    widget.controls["augmentation"].value = "blend"
    widget.controls["strength"].value = 1.0
    widget.controls["image"].value = 11
    assert "blend" in widget.figure.texts[0].get_text()
    widget.controls["augmentation"].value = "stub"
    texts = [t.get_text() for ax in widget.figure.axes for t in ax.texts]
    assert any("Not implemented yet" in t and "cutout" in t for t in texts)
    assert widget.controls["image"].max == 11
