"""The convolution explorer (06_cnn): pure functions against scipy, widgets headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy.signal import correlate2d

from dlcourse.widgets.convolution import (
    CUSTOM,
    PRESET_KERNELS,
    apply_kernel,
    convolution_explorer,
    feature_map_explorer,
    feature_maps,
    parse_kernel,
)


def correlate_oracle(image, kernel, stride, padding):
    """Zero-pad, cross-correlate (no flip) with scipy, keep every stride-th output."""
    padded = np.pad(image.astype(np.float64), padding)
    return correlate2d(padded, kernel.astype(np.float64), mode="valid")[::stride, ::stride]


def test_parse_kernel_reads_rows_and_fractions():
    np.testing.assert_array_equal(parse_kernel("-1 0 1; -2 0 2; -1 0 1"), PRESET_KERNELS["Sobel x"])
    np.testing.assert_allclose(parse_kernel("1/9, 1/9\n1/9 1/9"), np.full((2, 2), 1 / 9), rtol=1e-6)
    assert parse_kernel("1 2 3").shape == (1, 3)


@pytest.mark.parametrize("text", ["", "1 2; 3", "1 x", "1/0"])
def test_parse_kernel_rejects_bad_text(text):
    with pytest.raises(ValueError):
        parse_kernel(text)


@pytest.mark.parametrize("stride, padding", [(1, 0), (1, 1), (2, 1), (3, 2), (4, 0)])
@pytest.mark.parametrize("name", ["Sobel x", "Laplacian", "sharpen"])
def test_apply_kernel_matches_scipy_cross_correlation(name, stride, padding):
    rng = np.random.default_rng(0)
    image = rng.random((13, 10)).astype(np.float32)
    out, shape = apply_kernel(image, PRESET_KERNELS[name], stride, padding)
    expected = correlate_oracle(image, PRESET_KERNELS[name], stride, padding)
    assert shape == expected.shape == out.shape
    assert shape == ((13 + 2 * padding - 3) // stride + 1, (10 + 2 * padding - 3) // stride + 1)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_apply_kernel_does_not_flip_and_identity_keeps_the_image():
    image = np.arange(20, dtype=np.float32).reshape(4, 5)
    out, _ = apply_kernel(image, PRESET_KERNELS["identity"], 1, 1)
    np.testing.assert_array_equal(out, image)
    shift = np.array([[0, 0, 0], [0, 0, 1], [0, 0, 0]], dtype=np.float32)   # picks the right neighbour
    out, _ = apply_kernel(image, shift, 1, 0)
    np.testing.assert_array_equal(out, image[1:-1, 2:])


def test_apply_kernel_rejects_a_kernel_that_does_not_fit():
    with pytest.raises(ValueError):
        apply_kernel(np.zeros((2, 2)), np.ones((5, 5)), 1, 1)


def test_feature_maps_sum_over_channels_plus_bias():
    rng = np.random.default_rng(1)
    weight, bias, image = rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4), rng.standard_normal((2, 6, 7))
    maps = feature_maps(weight, bias, image)
    assert maps.shape == (4, 6, 7)
    for f in range(4):
        expected = sum(correlate_oracle(image[c], weight[f, c], 1, 1) for c in range(2)) + bias[f]
        np.testing.assert_allclose(maps[f], expected, rtol=1e-4, atol=1e-5)
    single = feature_maps(weight[:, :1], None, image[0])            # (H, W) image, no bias
    np.testing.assert_allclose(single[2], correlate_oracle(image[0], weight[2, 0], 1, 1), rtol=1e-4, atol=1e-5)


def output_image(widget):
    return widget.figure.axes[2].images[0].get_array()


def test_explorer_builds_headless_and_follows_its_controls():
    widget = convolution_explorer()
    assert set(widget.values()) == {"kernel", "custom", "stride", "padding"}
    first = np.array(output_image(widget))
    height, width = first.shape
    widget.controls["stride"].value = 2                              # redraws
    assert output_image(widget).shape == ((height - 1) // 2 + 1, (width - 1) // 2 + 1)
    assert "stride 2" in widget.figure.axes[2].get_title()
    widget.controls["stride"].value = 1
    widget.controls["kernel"].value = "box blur"
    assert "box blur" in widget.figure.axes[1].get_title()
    assert not np.allclose(np.array(output_image(widget)), first)


def test_explorer_uses_the_typed_kernel_and_survives_a_bad_one():
    widget = convolution_explorer()
    widget.controls["kernel"].value = CUSTOM
    widget.controls["custom"].value = "0 0 0; 0 2 0; 0 0 0"
    np.testing.assert_allclose(widget.figure.axes[1].images[0].get_array(), parse_kernel("0 0 0; 0 2 0; 0 0 0"))
    widget.controls["custom"].value = "1 2; 3"                       # half typed: a message, no exception
    texts = " ".join(t.get_text() for ax in widget.figure.axes for t in ax.texts)
    assert "cannot use this kernel" in texts


def test_feature_map_explorer_shows_the_chosen_image():
    rng = np.random.default_rng(2)
    images = rng.random((5, 8, 8)).astype(np.float32)
    widget = feature_map_explorer(rng.standard_normal((10, 1, 3, 3)), np.zeros(10), images, labels=list("abcde"))
    assert len(widget.figure.axes) == 1 + 2 * 10
    np.testing.assert_allclose(widget.figure.axes[0].images[0].get_array(), images[0])
    widget.controls["index"].value = 3
    np.testing.assert_allclose(widget.figure.axes[0].images[0].get_array(), images[3])
    assert "label d" in widget.figure.axes[0].get_title()
