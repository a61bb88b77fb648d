"""Notebook 06_cnn: the solution passes every grade cell; classic mistakes fail with a named message.

Each test builds a wrong version of one student function, runs that function's grade cell
(visible and hidden checks) with it, and asserts that the failure message names the mistake.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradecells import notebook_namespace, run_grade_cell, solution_notebook

NOTEBOOK = "06_cnn"
GRADE_IDS = ["check_conv_output_size", "check_conv_forward", "check_conv_backward", "check_max_pool",
             "check_im2col", "check_receptive_field", "check_bilinear_resize", "check_spatial_batchnorm",
             "check_count_conv", "check_small_cnn", "check_residual_block"]


def given_batchnorm():
    """The notebook's read-only reference batch norm (a given, locked cell)."""
    return notebook_namespace(NOTEBOOK)["batchnorm_forward_reference"]


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


def test_every_grade_cell_has_points_and_a_unique_id():
    cells = json.loads(solution_notebook(NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    meta = [c["metadata"]["nbgrader"] for c in cells if "nbgrader" in c.get("metadata", {})]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids))
    graded = [m for m in meta if m.get("grade")]
    assert all(m.get("points", 0) >= 1 for m in graded)
    assert set(GRADE_IDS) <= {m["grade_id"] for m in graded}


# ------------------------------------------------------------------------ sizes
def test_output_size_without_plus_one_is_named():
    def wrong(n, kernel, padding=0, stride=1):
        return (n + 2 * padding - kernel) // stride
    with pytest.raises(AssertionError, match="off-by-one"):
        run("check_conv_output_size", conv_output_size=wrong)


def test_output_size_rounded_up_is_named():
    def wrong(n, kernel, padding=0, stride=1):
        return -(-(n + 2 * padding - kernel) // stride) + 1
    with pytest.raises(AssertionError, match="off-by-one"):
        run("check_conv_output_size", conv_output_size=wrong)


def test_output_size_as_float_is_named():
    def wrong(n, kernel, padding=0, stride=1):
        return (n + 2 * padding - kernel) / stride + 1
    with pytest.raises(AssertionError, match="floor division"):
        run("check_conv_output_size", conv_output_size=wrong)


def test_transposed_size_without_output_padding_fails():
    def wrong(n, kernel, padding=0, stride=1, output_padding=0):
        return (n - 1) * stride - 2 * padding + kernel
    with pytest.raises(AssertionError, match="output_padding"):
        run("check_conv_output_size", conv_transpose_output_size=wrong)


def test_off_by_one_size_inside_the_convolution_is_named():
    def wrong(n, kernel, padding=0, stride=1):
        return (n + 2 * padding - kernel) // stride
    with pytest.raises(AssertionError, match="off-by-one"):
        run("check_conv_forward", conv_output_size=wrong)


# ------------------------------------------------------------------------ convolution
def torch_tensor(a):
    return torch.from_numpy(np.ascontiguousarray(a))


def true_convolution(x, w, b, conv_param):
    """The classic mistake: the kernel flipped (signal-processing convolution)."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    out = F.conv2d(*(torch_tensor(a) for a in (x, w[:, :, ::-1, ::-1].copy(), b)), stride=stride, padding=pad)
    return out.numpy(), (x, w, b, conv_param)


def test_flipped_kernel_is_named():
    with pytest.raises(AssertionError, match="flipped kernel"):
        run("check_conv_forward", conv_forward_naive=true_convolution)


def test_missing_bias_is_named():
    def wrong(x, w, b, conv_param):
        out = F.conv2d(torch_tensor(x), torch_tensor(w), stride=conv_param["stride"], padding=conv_param["pad"])
        return out.numpy(), None
    with pytest.raises(AssertionError, match="bias b is missing"):
        run("check_conv_forward", conv_forward_naive=wrong)


def test_backward_without_accumulation_is_named():
    def wrong(dout, cache):
        x, w, b, conv_param = cache
        stride, pad = conv_param["stride"], conv_param["pad"]
        _, _, HH, WW = w.shape
        x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
                dw += np.tensordot(dout[:, :, i, j], x_pad[:, :, rows, cols], axes=([0], [0]))
                dx_pad[:, :, rows, cols] = np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))  # = not +=
        return dx_pad[:, :, pad:pad + x.shape[2], pad:pad + x.shape[3]], dw, dout.sum(axis=(0, 2, 3))
    with pytest.raises(AssertionError, match=r"accumulate into dx_pad with \+="):
        run("check_conv_backward", conv_backward_naive=wrong)


def test_backward_with_db_summed_over_batch_only_is_named():
    namespace = run("check_conv_backward")
    right = namespace["conv_backward_naive"]

    def wrong(dout, cache):
        dx, dw, _ = right(dout, cache)
        return dx, dw, dout.sum(axis=0).sum(axis=(1, 2)) / dout.shape[2]
    with pytest.raises(AssertionError, match="both spatial axes"):
        run("check_conv_backward", conv_backward_naive=wrong)


# ------------------------------------------------------------------------ pooling
def test_pool_backward_to_every_element_is_named():
    def wrong(dout, cache):
        x, p = cache
        ph, pw, s = p["pool_height"], p["pool_width"], p["stride"]
        dx = np.zeros_like(x)
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += dout[:, :, i, j][:, :, None, None]
        return dx
    with pytest.raises(AssertionError, match="routes gradient to every element"):
        run("check_max_pool", max_pool_backward_naive=wrong)


def test_pool_backward_overwriting_overlaps_fails():
    def wrong(dout, cache):
        x, p = cache
        ph, pw, s = p["pool_height"], p["pool_width"], p["stride"]
        N, C = dout.shape[:2]
        dx = np.zeros_like(x)
        n, c = np.meshgrid(np.arange(N), np.arange(C), indexing="ij")
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                window = x[:, :, i * s:i * s + ph, j * s:j * s + pw].reshape(N, C, -1)
                u, v = np.unravel_index(window.argmax(axis=2), (ph, pw))
                dx[n, c, i * s + u, j * s + v] = dout[:, :, i, j]               # = instead of +=
        return dx
    with pytest.raises(AssertionError, match=r"add \(\+=\)"):
        run("check_max_pool", max_pool_backward_naive=wrong)


# ------------------------------------------------------------------------ im2col
def test_im2col_with_channels_last_order_is_named():
    def wrong(x, kernel_h, kernel_w, pad, stride):
        cols = F.unfold(torch_tensor(x), (kernel_h, kernel_w), padding=pad, stride=stride).numpy()
        N, _, L = cols.shape
        C = x.shape[1]
        return cols.reshape(N, C, kernel_h * kernel_w, L).transpose(0, 2, 1, 3).reshape(N, -1, L)
    with pytest.raises(AssertionError, match="channel first"):
        run("check_im2col", im2col=wrong)


# ------------------------------------------------------------------------ receptive field
def test_receptive_field_with_own_stride_is_named():
    def wrong(layers):
        return 1 + sum((k - 1) * s for k, s in layers)
    with pytest.raises(AssertionError, match="BELOW"):
        run("check_receptive_field", receptive_field=wrong)


# ------------------------------------------------------------------------ bilinear
def test_bilinear_with_the_other_convention_is_named():
    def wrong(image, out_h, out_w, align_corners):
        return F.interpolate(torch_tensor(image)[None], size=(out_h, out_w), mode="bilinear",
                             align_corners=not align_corners)[0].numpy()
    with pytest.raises(AssertionError, match="convention"):
        run("check_bilinear_resize", bilinear_resize=wrong)


def test_bilinear_without_clamping_at_zero_is_named():
    namespace = run("check_bilinear_resize")

    def wrong(image, out_h, out_w, align_corners):
        if align_corners:
            return namespace["bilinear_resize"](image, out_h, out_w, True)
        C, H, W = image.shape

        def positions(n_out, n_in):
            pos = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5      # negative near the border: not clamped
            low = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
            return low, np.minimum(low + 1, n_in - 1), pos - np.floor(pos)
        y0, y1, a = positions(out_h, H)
        x0, x1, b = positions(out_w, W)
        top = image[:, y0][:, :, x0] * (1 - b) + image[:, y0][:, :, x1] * b
        bottom = image[:, y1][:, :, x0] * (1 - b) + image[:, y1][:, :, x1] * b
        return top * (1 - a)[:, None] + bottom * a[:, None]
    with pytest.raises(AssertionError, match="clamp negative source positions"):
        run("check_bilinear_resize", bilinear_resize=wrong)


# ------------------------------------------------------------------------ spatial batch norm
def test_spatial_batchnorm_with_plain_reshape_is_named():
    reference = given_batchnorm()

    def wrong(x, gamma, beta, eps=1e-5):
        return reference(x.reshape(-1, x.shape[1]), gamma, beta, eps).reshape(x.shape)
    with pytest.raises(AssertionError, match="move the channel axis last"):
        run("check_spatial_batchnorm", spatial_batchnorm_forward=wrong)


# ------------------------------------------------------------------------ counting
def test_params_without_bias_is_named():
    def wrong(in_channels, out_channels, kernel, bias=True, groups=1):
        return out_channels * (in_channels // groups) * kernel * kernel
    with pytest.raises(AssertionError, match="forget the biases"):
        run("check_count_conv", count_conv_params=wrong)


def test_params_ignoring_groups_is_named():
    def wrong(in_channels, out_channels, kernel, bias=True, groups=1):
        return out_channels * in_channels * kernel * kernel + (out_channels if bias else 0)
    with pytest.raises(AssertionError, match="in_channels // groups"):
        run("check_count_conv", count_conv_params=wrong)


def test_flops_counting_multiply_and_add_twice_fails():
    def wrong(in_channels, out_channels, kernel, out_h, out_w, groups=1):
        return 2 * out_channels * out_h * out_w * (in_channels // groups) * kernel * kernel
    with pytest.raises(AssertionError, match="FLOPs"):
        run("check_count_conv", count_conv_flops=wrong)


# ------------------------------------------------------------------------ torch modules
def test_small_cnn_without_pooling_fails():
    class NoPool(nn.Module):
        def __init__(self, in_channels=1, num_classes=10, width=16, image_size=8):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
            self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
            self.fc = nn.Linear(2 * width * image_size ** 2, num_classes)

        def forward(self, x):
            return self.fc(F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1))
    with pytest.raises(AssertionError, match="parameters"):
        run("check_small_cnn", SmallCNN=NoPool)


def residual_block(mode):
    class Block(nn.Module):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(out_channels)
            self.shortcut = (nn.Identity() if stride == 1 and in_channels == out_channels else
                             nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                           nn.BatchNorm2d(out_channels)))

        def forward(self, x):
            h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            if mode == "no skip":
                return F.relu(h)
            return F.relu(h) + self.shortcut(x)          # "relu before add"
    return Block


def test_residual_block_without_skip_is_named():
    with pytest.raises(AssertionError, match="skip connection is missing"):
        run("check_residual_block", ResidualBlock=residual_block("no skip"))


def test_residual_block_with_relu_before_the_add_is_named():
    with pytest.raises(AssertionError, match="BEFORE the final ReLU"):
        run("check_residual_block", ResidualBlock=residual_block("relu before add"))
