"""The detection canvas's segmentation masks and clutter (08_detection); tests/test_data.py covers the rest."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.data import make_detection_canvas
from dlcourse.data.detection import make_segmentation_canvas


@pytest.mark.parametrize("objects", ["shapes", "digits"])
def test_segmentation_canvas_has_the_detection_images_and_masks_inside_the_boxes(objects):
    images, masks, names = make_segmentation_canvas(40, size=32, seed=5, objects=objects, clutter=2)
    same_images, boxes, labels, object_names = make_detection_canvas(40, size=32, seed=5, objects=objects, clutter=2)
    np.testing.assert_array_equal(images, same_images)
    assert names == ["background", *object_names]
    assert masks.shape == images.shape and masks.dtype == np.int64
    assert masks.min() >= 0 and masks.max() < len(names)
    for mask, image_boxes, image_labels in zip(masks, boxes, labels):
        inside = np.zeros(mask.shape, dtype=bool)
        for (x1, y1, x2, y2), label in zip(image_boxes.astype(int), image_labels):
            region = mask[y1:y2, x1:x2]
            rows, cols = np.nonzero(region == label + 1)     # the box is the tight box of the object's mask
            assert (rows.min(), cols.min(), rows.max() + 1, cols.max() + 1) == (0, 0, y2 - y1, x2 - x1)
            assert set(np.unique(region).tolist()) <= {0, label + 1}
            inside[y1:y2, x1:x2] = True
        assert (mask[~inside] == 0).all()                     # nothing outside the boxes is an object


def test_clutter_strokes_are_background_and_keep_away_from_the_boxes():
    images, boxes, _, _ = make_detection_canvas(60, size=48, seed=1, noise=0.0, clutter=3)
    _, masks, _ = make_segmentation_canvas(60, size=48, seed=1, noise=0.0, clutter=3)
    strokes = 0
    for image, mask, image_boxes in zip(images, masks, boxes):
        near_a_box = np.zeros(image.shape, dtype=bool)
        for x1, y1, x2, y2 in image_boxes.astype(int):
            near_a_box[max(y1 - 1, 0):y2 + 1, max(x1 - 1, 0):x2 + 1] = True
        outside = (image > 0) & ~near_a_box
        strokes += int(outside.sum())
        assert (mask[outside] == 0).all()
        for x1, y1, x2, y2 in image_boxes.astype(int):       # the one-pixel ring around a box stays dark
            ring = np.zeros(image.shape, dtype=bool)
            ring[max(y1 - 1, 0):y2 + 1, max(x1 - 1, 0):x2 + 1] = True
            ring[y1:y2, x1:x2] = False
            assert (image[ring] == 0).all()
    assert strokes > 60 * 5                                  # about 1.5 strokes of ~8 pixels per image


def test_no_clutter_means_nothing_bright_outside_the_boxes():
    images, boxes, _, _ = make_detection_canvas(30, size=48, seed=2, noise=0.0)
    for image, image_boxes in zip(images, boxes):
        covered = np.zeros(image.shape, dtype=bool)
        for x1, y1, x2, y2 in image_boxes.astype(int):
            covered[y1:y2, x1:x2] = True
        assert (image[~covered] == 0).all()


def test_canvases_are_deterministic_and_reject_negative_clutter():
    first = make_segmentation_canvas(5, seed=3, clutter=1)
    second = make_segmentation_canvas(5, seed=3, clutter=1)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    with pytest.raises(ValueError, match="clutter"):
        make_detection_canvas(2, clutter=-1)
