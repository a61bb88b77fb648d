"""The convolution explorer (06_cnn): pure functions against scipy, widgets headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from scipy.signal import correlate2d

from dlcourse.widgets.convolution import (
    CUSTOM,
    EXPLORER_FIGSIZE,
    PRESET_KERNELS,
    apply_kernel,
    convolution_explorer,
    draw_convolution,
    feature_map_explorer,
    feature_maps,
    output_display,
    panel_scale,
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
    assert len(widget.figure.axes) == 1 + 2 * 10 + 1                 # input, filter and map each, colour bar
    np.testing.assert_allclose(widget.figure.axes[0].images[0].get_array(), images[0])
    widget.controls["index"].value = 3
    np.testing.assert_allclose(widget.figure.axes[0].images[0].get_array(), images[3])
    assert "label d" in widget.figure.axes[0].get_title()


@pytest.mark.parametrize("name", ["identity", "box blur", "sharpen"])
def test_kernels_that_keep_brightness_draw_a_gray_picture_on_the_input_scale(name):
    out, _ = apply_kernel(np.random.default_rng(3).random((9, 9)), PRESET_KERNELS[name], 1, 1)
    display = output_display(PRESET_KERNELS[name], out)
    assert (display["kind"], display["cmap"], display["vmin"], display["vmax"]) == ("image", "gray", 0.0, 1.0)


@pytest.mark.parametrize("kernel", [PRESET_KERNELS["Sobel x"], PRESET_KERNELS["Sobel y"], PRESET_KERNELS["Laplacian"],
                                    -PRESET_KERNELS["identity"]])
def test_kernels_that_sum_to_zero_or_less_draw_a_signed_map_centred_on_zero(kernel):
    out, _ = apply_kernel(np.random.default_rng(4).random((9, 9)), kernel, 1, 1)
    display = output_display(kernel, out)
    assert display["kind"] == "signed" and display["cmap"] == "RdBu_r"
    assert display["vmin"] == -display["vmax"] > -np.abs(out).max() - 1e-9


def axes_size_in_pixels(ax):
    box = ax.get_window_extent()
    return box.width, box.height


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 0), (3, 2), (8, 10)])
def test_input_and_output_are_drawn_to_one_scale(stride, padding):
    import matplotlib.pyplot as plt

    image = np.random.default_rng(5).random((60, 44)).astype(np.float32)
    fig = plt.figure(figsize=EXPLORER_FIGSIZE)
    draw_convolution(fig, image, PRESET_KERNELS["Sobel x"], stride, padding)
    ax_in, _, ax_out, ax_bar = fig.axes
    (in_w, in_h), (out_w, out_h) = axes_size_in_pixels(ax_in), axes_size_in_pixels(ax_out)
    out, (H_out, W_out) = apply_kernel(image, PRESET_KERNELS["Sobel x"], stride, padding)
    per_pixel = in_w / (44 + 2 * padding)                             # screen pixels per image pixel
    np.testing.assert_allclose([in_h / (60 + 2 * padding), out_w / W_out, out_h / H_out], per_pixel, rtol=1e-6)
    assert ax_bar.get_ylabel().startswith("response")                 # a colour bar for the signed output
    for ax in fig.axes:                                                # nothing sticks out of the figure
        box = ax.get_window_extent()
        assert box.x0 >= 0 and box.y0 >= 0 and box.x1 <= fig.bbox.width + 1e-6 and box.y1 <= fig.bbox.height
    plt.close(fig)


def test_a_stride_two_output_is_drawn_half_as_large():
    widget = convolution_explorer(stride=1, padding=1)
    ax_in, _, ax_out, _ = widget.figure.axes
    full = axes_size_in_pixels(ax_out)
    widget.controls["stride"].value = 2
    ax_in_2, _, ax_out_2, _ = widget.figure.axes
    half = axes_size_in_pixels(ax_out_2)
    assert axes_size_in_pixels(ax_in) == axes_size_in_pixels(ax_in_2)
    np.testing.assert_allclose(np.array(half) / np.array(full), 0.5, atol=0.01)


def test_the_explorer_fits_beside_its_controls_on_a_1366_pixel_screen():
    widget = convolution_explorer()
    width_px = widget.figure.get_size_inches()[0] * widget.figure.dpi
    assert width_px + 380 <= 1366 - 100                                # controls column, lab side bar and margins
    assert panel_scale(EXPLORER_FIGSIZE, (302, 258), (300, 256)) > 0


def test_feature_maps_are_drawn_at_the_input_scale_and_filters_share_one_centred_scale():
    rng = np.random.default_rng(6)
    weight = rng.standard_normal((4, 1, 3, 3))
    widget = feature_map_explorer(weight, np.zeros(4), rng.random((2, 8, 8)).astype(np.float32))
    ax_input, *panels, ax_bar = widget.figure.axes
    filters, maps = panels[0::2], panels[1::2]
    for ax in maps:
        np.testing.assert_allclose(axes_size_in_pixels(ax), axes_size_in_pixels(ax_input), rtol=1e-6)
        assert ax.images[0].get_cmap().name == "gray"
    limits = {ax.images[0].get_clim() for ax in filters}
    assert len(limits) == 1 and limits.pop() == pytest.approx((-np.abs(weight.mean(axis=1)).max(),
                                                              np.abs(weight.mean(axis=1)).max()))
    assert ax_bar.get_ylabel() == "weight"
