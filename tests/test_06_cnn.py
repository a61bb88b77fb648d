"""Notebook 06_cnn: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is written the way a student writes it (NumPy, loops where the
exercise allows them) with one classic mistake; its grade cell (visible and hidden checks) must
fail with a message that names it. Valid alternatives (einsum, sliding windows, np.add.at,
another loop order, another route to the same number) must pass. Mistakes in an earlier
function must not cost a later cell: each later cell is run with the earlier function broken.
Conventions: cross-correlation (no flip), ties in max pooling go to the FIRST maximum (row-major,
as np.argmax and torch), batch norm's momentum is torch's (0.1 = weight of the new value, running
variance from the unbiased batch variance), one multiply-add = one FLOP, memory in bytes.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from gradecells import grade_cell_fails, graded_ids, run_grade_cell

NOTEBOOK = "06_cnn"
GRADE_IDS = ["check_conv_output_size", "check_conv_forward", "check_conv_backward", "check_max_pool_forward",
             "check_max_pool_backward", "check_im2col", "check_receptive_field", "check_bilinear_resize",
             "check_spatial_batchnorm_forward", "check_spatial_batchnorm_backward", "check_group_norm",
             "check_count_conv", "check_small_cnn", "check_residual_block"]


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


def fails(grade_id, match, **overrides):
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


def output_size(n, kernel, padding=0, stride=1):    # as the notebook's given helper
    return (n + 2 * padding - kernel) // stride + 1


def pad(x, p):
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))


# ------------------------------------------------------------------------ the notebook itself
@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)


# ------------------------------------------------------------------------ output sizes
def test_output_size_without_plus_one_is_named():
    fails("check_conv_output_size", r"forget the \+ 1", conv_output_size=lambda n, k, p=0, s=1: (n + 2 * p - k) // s)


def test_output_size_rounded_up_is_named():
    fails("check_conv_output_size", "ceil instead of floor",
          conv_output_size=lambda n, k, p=0, s=1: -(-(n + 2 * p - k) // s) + 1)


def test_output_size_as_float_is_named():
    fails("check_conv_output_size", "floor division", conv_output_size=lambda n, k, p=0, s=1: (n + 2 * p - k) / s + 1)


def test_output_size_with_padding_on_one_side_is_named():
    fails("check_conv_output_size", "BOTH sides", conv_output_size=lambda n, k, p=0, s=1: (n + p - k) // s + 1)


def test_output_size_calling_the_given_helper_is_named():
    fails("check_conv_output_size", "calls output_size",
          conv_output_size=lambda n, k, p=0, s=1: output_size(n, k, p, s))


def test_transposed_size_without_output_padding_is_named():
    fails("check_conv_output_size", "output_padding is missing",
          conv_transpose_output_size=lambda n, k, p=0, s=1, op=0: (n - 1) * s - 2 * p + k)


def test_transposed_size_adding_the_padding_is_named():
    fails("check_conv_output_size", "CROPS the padding",
          conv_transpose_output_size=lambda n, k, p=0, s=1, op=0: (n - 1) * s + 2 * p + k + op)


@pytest.mark.parametrize("size", [
    lambda n, k, p=0, s=1: len(range(-p, n + p - k + 1, s)),                       # count the window starts
    lambda n, k, p=0, s=1: math.floor((n + 2 * p - k) / s) + 1,
    lambda n, k, p=0, s=1: np.int64(n + 2 * p - k) // np.int64(s) + np.int64(1),  # numpy integers
])
def test_output_size_written_another_way_passes(size):
    run("check_conv_output_size", conv_output_size=size)


# ------------------------------------------------------------------------ convolution forward
def conv_forward(x, w, b, conv_param, flip=False, start=None, zeros=None, swap=False, cache_pad=False):
    """A student's loop, with one switchable mistake."""
    stride, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    H_out, W_out = output_size(H, HH, p, stride), output_size(W, WW, p, stride)
    x_pad = pad(x, p)
    kernel = w[:, :, ::-1, ::-1] if flip else w
    shape = (N, F_, W_out, H_out) if swap else (N, F_, H_out, W_out)
    out = np.zeros(shape, dtype=x.dtype) if zeros is None else zeros(shape)     # zeros=np.zeros: float64
    step = stride if start is None else start
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * step:i * step + HH, j * step:j * step + WW]
            value = np.einsum("nchw,fchw->nf", window, kernel) + b
            if swap:
                out[:, :, j, i] = value
            else:
                out[:, :, i, j] = value
    return out, ((x_pad if cache_pad else x), w, b, conv_param)


@pytest.mark.parametrize("mistake, match", [
    (dict(flip=True), "flipped kernel"),
    (dict(start=1), r"starts at \(i, j\) instead of \(i \* stride"),
    (dict(zeros=np.zeros), "has dtype float64, expected float32"),
    (dict(swap=True), "height and width are swapped"),
    (dict(cache_pad=True), "cache's x is not the x"),
])
def test_conv_forward_mistake_is_named(mistake, match):
    fails("check_conv_forward", match,
          conv_forward_naive=lambda x, w, b, param: conv_forward(x, w, b, param, **mistake))


def test_conv_forward_without_bias_is_named():
    fails("check_conv_forward", "bias b is missing",
          conv_forward_naive=lambda x, w, b, param: (conv_forward(x, w, np.zeros_like(b), param)[0], (x, w, b, param)))


def test_conv_forward_ignoring_the_stride_in_the_size_is_named():
    def wrong(x, w, b, conv_param):
        return conv_forward(x, w, b, {"stride": 1, "pad": conv_param["pad"]})[0], (x, w, b, conv_param)
    fails("check_conv_forward", "stride is ignored", conv_forward_naive=wrong)


def test_conv_forward_calling_torch_is_named():
    def with_torch(x, w, b, conv_param):
        out = F.conv2d(*(torch.from_numpy(a) for a in (x, w, b)), stride=conv_param["stride"],
                       padding=conv_param["pad"])
        return out.numpy(), (x, w, b, conv_param)
    fails("check_conv_forward", "must be written by hand with NumPy", conv_forward_naive=with_torch)


@pytest.mark.parametrize("grade_id", GRADE_IDS[1:])
def test_later_cells_pass_with_a_broken_conv_output_size(grade_id):      # each mistake costs its own cell
    run(grade_id, conv_output_size=lambda n, k, p=0, s=1: (n + 2 * p - k) // s,
        conv_transpose_output_size=lambda n, k, p=0, s=1, op=0: 0)


def conv_forward_sliding(x, w, b, conv_param):
    stride, p = conv_param["stride"], conv_param["pad"]
    windows = np.lib.stride_tricks.sliding_window_view(pad(x, p), w.shape[2:], axis=(2, 3))[:, :, ::stride, ::stride]
    return np.einsum("nchwuv,fcuv->nfhw", windows, w) + b[:, None, None], (x, w, b, conv_param)


def conv_forward_four_loops(x, w, b, conv_param):
    stride, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    F_, _, HH, WW = w.shape
    x_pad = pad(x, p)
    out = np.empty((N, F_, output_size(H, HH, p, stride), output_size(W, WW, p, stride)), dtype=x.dtype)
    for n in range(N):
        for f in range(F_):
            for j in range(out.shape[3]):                          # columns first: another loop order
                for i in range(out.shape[2]):
                    out[n, f, i, j] = np.sum(x_pad[n, :, i * stride:i * stride + HH, j * stride:j * stride + WW]
                                             * w[f]) + b[f]
    return out, (x, w, b, conv_param)


@pytest.mark.parametrize("valid", [conv_forward_sliding, conv_forward_four_loops])
def test_conv_forward_written_another_way_passes(valid):
    run("check_conv_forward", conv_forward_naive=valid)


# ------------------------------------------------------------------------ convolution backward
def conv_backward(dout, cache, accumulate=True, crop=True, flip=False, zeros_like=np.zeros_like, db_axes=(0, 2, 3)):
    x, w, b, conv_param = cache
    stride, p = conv_param["stride"], conv_param["pad"]
    _, _, HH, WW = w.shape
    x_pad = pad(x, p)
    dx_pad, dw = zeros_like(x_pad), zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows, cols = slice(i * stride, i * stride + HH), slice(j * stride, j * stride + WW)
            dw += np.einsum("nf,nchw->fchw", dout[:, :, i, j], x_pad[:, :, rows, cols])
            window_grad = np.einsum("nf,fchw->nchw", dout[:, :, i, j], w)
            if accumulate:
                dx_pad[:, :, rows, cols] += window_grad
            else:
                dx_pad[:, :, rows, cols] = window_grad
    dx = dx_pad[:, :, p:p + x.shape[2], p:p + x.shape[3]] if crop else dx_pad
    return dx, (dw[:, :, ::-1, ::-1] if flip else dw), dout.sum(axis=db_axes)


@pytest.mark.parametrize("mistake, match", [
    (dict(accumulate=False), r"accumulate into dx_pad with \+="),
    (dict(crop=False), "crop the padding"),
    (dict(flip=True), "FLIPPED kernel"),
    (dict(db_axes=0), r"db .*wrong shape.*\n.*batch AND both spatial axes"),
    (dict(zeros_like=lambda a: np.zeros(a.shape)), "has dtype float64, expected float32"),
])
def test_conv_backward_mistake_is_named(mistake, match):
    fails("check_conv_backward", match, conv_backward_naive=lambda dout, cache: conv_backward(dout, cache, **mistake))


def test_conv_backward_averaging_db_over_space_is_named():
    def wrong(dout, cache):
        dx, dw, _ = conv_backward(dout, cache)
        return dx, dw, dout.sum(axis=0).mean(axis=(1, 2))
    fails("check_conv_backward", "db averages dout over space", conv_backward_naive=wrong)


def test_conv_backward_with_autograd_is_named():
    def with_autograd(dout, cache):
        x, w, b, conv_param = cache
        X, W_t, B = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        F.conv2d(X, W_t, B, stride=conv_param["stride"], padding=conv_param["pad"]).backward(torch.from_numpy(dout))
        return X.grad.numpy(), W_t.grad.numpy(), B.grad.numpy()
    fails("check_conv_backward", "must be written by hand with NumPy", conv_backward_naive=with_autograd)


def test_conv_backward_passes_with_a_broken_forward_pass():
    run("check_conv_backward", conv_forward_naive=lambda x, w, b, param: conv_forward(x, w, b, param, flip=True))


def conv_backward_add_at(dout, cache):
    """np.add.at scatters every window's gradient at once (no Python loop)."""
    x, w, b, conv_param = cache
    stride, p = conv_param["stride"], conv_param["pad"]
    N, C, H, W = x.shape
    _, _, HH, WW = w.shape
    _, _, H_out, W_out = dout.shape
    windows = np.lib.stride_tricks.sliding_window_view(pad(x, p), (HH, WW), axis=(2, 3))[:, :, ::stride, ::stride]
    windows = windows[:, :, :H_out, :W_out]
    dw = np.einsum("nfij,ncijuv->fcuv", dout, windows)
    rows = (np.arange(H_out) * stride)[:, None, None, None] + np.arange(HH)[None, None, :, None]
    cols = (np.arange(W_out) * stride)[None, :, None, None] + np.arange(WW)[None, None, None, :]
    dx_pad = np.zeros((N, C) + pad(x, p).shape[2:], dtype=x.dtype)
    grads = np.einsum("nfij,fcuv->ncijuv", dout, w)
    np.add.at(dx_pad, (slice(None), slice(None), np.broadcast_to(rows, grads.shape[2:]),
                       np.broadcast_to(cols, grads.shape[2:])), grads)
    return dx_pad[:, :, p:p + H, p:p + W], dw.astype(w.dtype), dout.sum(axis=(0, 2, 3)).astype(b.dtype)


@pytest.mark.parametrize("valid", [conv_backward_add_at, lambda dout, cache: conv_backward(dout, cache)])
def test_conv_backward_written_another_way_passes(valid):
    run("check_conv_backward", conv_backward_naive=valid)


# ------------------------------------------------------------------------ max pooling forward
def pool_forward(x, pool_param, reduce=np.max, step=None, size=None, swap=False, dtype=None, cache=None):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    if swap:
        ph, pw = pw, ph
    N, C, H, W = x.shape
    H_out, W_out = size(H, W, ph, pw, s) if size else (output_size(H, ph, 0, s), output_size(W, pw, 0, s))
    out = np.zeros((N, C, H_out, W_out), dtype=dtype or x.dtype)
    step = s if step is None else step
    for i in range(H_out):
        for j in range(W_out):
            out[:, :, i, j] = reduce(x[:, :, i * step:i * step + ph, j * step:j * step + pw], axis=(2, 3))
    return out, (cache or (lambda: (x, pool_param)))()


@pytest.mark.parametrize("mistake, match", [
    (dict(reduce=np.mean), "AVERAGE pooling"),
    (dict(step=1, size=lambda H, W, ph, pw, s: (H - ph + 1, W - pw + 1)), "stride is ignored"),
    (dict(size=lambda H, W, ph, pw, s: (H // s, W // s)), r"H // stride is the size only"),
    (dict(swap=True), "pool_height and pool_width are swapped"),
    (dict(dtype=np.float64), "has dtype float64, expected float32"),
])
def test_max_pool_forward_mistake_is_named(mistake, match):
    fails("check_max_pool_forward", match, max_pool_forward_naive=lambda x, p: pool_forward(x, p, **mistake))


def test_max_pool_forward_with_another_cache_is_named():
    def wrong(x, p):
        return pool_forward(x, p)[0], (x, p["pool_height"], p["pool_width"], p["stride"])
    fails("check_max_pool_forward", r"should return the cache \(x, pool_param\)", max_pool_forward_naive=wrong)


def test_max_pool_forward_calling_torch_is_named():
    def with_torch(x, p):
        out = F.max_pool2d(torch.from_numpy(x), (p["pool_height"], p["pool_width"]), p["stride"])
        return out.numpy(), (x, p)
    fails("check_max_pool_forward", "must be written by hand", max_pool_forward_naive=with_torch)


def pool_forward_sliding(x, p):
    windows = np.lib.stride_tricks.sliding_window_view(x, (p["pool_height"], p["pool_width"]), axis=(2, 3))
    return windows[:, :, ::p["stride"], ::p["stride"]].max(axis=(4, 5)), (x, p)


def pool_forward_per_channel(x, p):
    out, _ = pool_forward(x[:1], p)
    out = np.zeros((x.shape[0], x.shape[1]) + out.shape[2:], dtype=x.dtype)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            out[n, c] = pool_forward(x[n:n + 1, c:c + 1], p)[0][0, 0]
    return out, (x, p)


@pytest.mark.parametrize("valid", [pool_forward_sliding, pool_forward_per_channel])
def test_max_pool_forward_written_another_way_passes(valid):
    run("check_max_pool_forward", max_pool_forward_naive=valid)


# ------------------------------------------------------------------------ max pooling backward
def pool_backward(dout, cache, route="first", accumulate=True, zeros_like=np.zeros_like):
    """route: which elements of a window get dout: "first" / "last" maximum, "ties", "all", "mean"."""
    x, p = cache
    ph, pw, s = p["pool_height"], p["pool_width"], p["stride"]
    dx = zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            flat = window.reshape(*window.shape[:2], -1)
            if route in ("first", "last"):
                index = flat.argmax(axis=2) if route == "first" else flat.shape[2] - 1 - flat[:, :, ::-1].argmax(axis=2)
                mask = np.eye(flat.shape[2], dtype=bool)[index].reshape(window.shape)
            elif route == "ties":
                mask = window == window.max(axis=(2, 3), keepdims=True)
            else:
                mask = np.full(window.shape, 1.0 / (ph * pw) if route == "mean" else 1.0)
            grad = mask * dout[:, :, i, j][:, :, None, None]
            if accumulate:
                dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += grad
            else:
                dx[:, :, i * s:i * s + ph, j * s:j * s + pw][mask.astype(bool)] = grad[mask.astype(bool)]
    return dx


@pytest.mark.parametrize("mistake, match", [
    (dict(route="all"), "routes the gradient to EVERY element"),
    (dict(route="mean"), "spreads dout evenly"),
    (dict(route="ties"), "every tied maximum of a window receives dout"),
    (dict(route="last"), "the LAST of tied maxima"),
    (dict(accumulate=False), r"when windows overlap, add \(\+=\)"),
    (dict(zeros_like=lambda a: np.zeros(a.shape)), "has dtype float64, expected float32"),
])
def test_max_pool_backward_mistake_is_named(mistake, match):
    fails("check_max_pool_backward", match,
          max_pool_backward_naive=lambda dout, cache: pool_backward(dout, cache, **mistake))


def test_max_pool_backward_with_autograd_is_named():
    def with_autograd(dout, cache):
        x, p = cache
        X = torch.tensor(x, requires_grad=True)
        F.max_pool2d(X, (p["pool_height"], p["pool_width"]), p["stride"]).backward(torch.from_numpy(dout))
        return X.grad.numpy()
    fails("check_max_pool_backward", "must be written by hand", max_pool_backward_naive=with_autograd)


def test_max_pool_backward_passes_with_a_broken_forward_pass():
    run("check_max_pool_backward", max_pool_forward_naive=lambda x, p: pool_forward(x, p, reduce=np.mean))


def pool_backward_add_at(dout, cache):
    """Every window's first argmax at once, scattered with np.add.at."""
    x, p = cache
    ph, pw, s = p["pool_height"], p["pool_width"], p["stride"]
    windows = np.lib.stride_tricks.sliding_window_view(x, (ph, pw), axis=(2, 3))[:, :, ::s, ::s]
    windows = windows[:, :, :dout.shape[2], :dout.shape[3]]
    u, v = np.unravel_index(windows.reshape(*windows.shape[:4], -1).argmax(axis=4), (ph, pw))
    n, c, i, j = np.indices(dout.shape)
    dx = np.zeros_like(x)
    np.add.at(dx, (n, c, i * s + u, j * s + v), dout)
    return dx


@pytest.mark.parametrize("valid", [pool_backward_add_at, lambda dout, cache: pool_backward(dout, cache)])
def test_max_pool_backward_written_another_way_passes(valid):
    run("check_max_pool_backward", max_pool_backward_naive=valid)


# ------------------------------------------------------------------------ im2col
def im2col_offsets(x, kh, kw, p, stride):
    """A loop over the kernel offsets (u, v): each is one strided slice of the padded input."""
    N, C, H, W = x.shape
    H_out, W_out = output_size(H, kh, p, stride), output_size(W, kw, p, stride)
    x_pad = pad(x, p)
    cols = np.stack([x_pad[:, :, u:u + stride * H_out:stride, v:v + stride * W_out:stride]
                     for u in range(kh) for v in range(kw)], axis=2)             # (N, C, kh * kw, H', W')
    return cols.reshape(N, C * kh * kw, H_out * W_out)


def im2col_channels_last(x, kh, kw, p, stride):
    N, C = x.shape[:2]
    cols = im2col_offsets(x, kh, kw, p, stride)
    return cols.reshape(N, C, kh * kw, -1).transpose(0, 2, 1, 3).reshape(N, C * kh * kw, -1)


def im2col_column_major(x, kh, kw, p, stride):
    N, C, H, W = x.shape
    cols = im2col_offsets(x, kh, kw, p, stride)
    H_out, W_out = output_size(H, kh, p, stride), output_size(W, kw, p, stride)
    return cols.reshape(N, -1, H_out, W_out).transpose(0, 1, 3, 2).reshape(N, C * kh * kw, -1)


def im2col_rows(x, kh, kw, p, stride):
    return im2col_offsets(x, kh, kw, p, stride).transpose(0, 2, 1)


def im2col_loop_over_positions(x, kh, kw, p, stride):
    N, C, H, W = x.shape
    H_out, W_out = output_size(H, kh, p, stride), output_size(W, kw, p, stride)
    x_pad = pad(x, p)
    cols = np.empty((N, C * kh * kw, H_out * W_out), dtype=x.dtype)
    for i in range(H_out):
        for j in range(W_out):
            window = x_pad[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            cols[:, :, i * W_out + j] = window.reshape(N, -1)
    return cols


def im2col_torch(x, kh, kw, p, stride):
    return F.unfold(torch.from_numpy(x), (kh, kw), padding=p, stride=stride).numpy()


@pytest.mark.parametrize("wrong, match", [
    (im2col_channels_last, r"ordered \(kernel row, kernel column, channel\)"),
    (im2col_column_major, r"j \* H' \+ i"),
    (im2col_rows, "one COLUMN per output position"),
    (im2col_loop_over_positions, "must not loop in Python over the data"),
    (im2col_torch, "must be written by hand"),
])
def test_im2col_mistake_is_named(wrong, match):
    fails("check_im2col", match, im2col=wrong)


def conv_im2col(x, w, b, conv_param, bias=True, swap=False):
    stride, p = conv_param["stride"], conv_param["pad"]
    N, _, H, W = x.shape
    F_, _, HH, WW = w.shape
    out = w.reshape(F_, -1) @ im2col_offsets(x, HH, WW, p, stride) + (b[:, None] if bias else 0)
    sizes = (output_size(H, HH, p, stride), output_size(W, WW, p, stride))
    return out.reshape(N, F_, *(sizes[::-1] if swap else sizes))


def test_im2col_returning_a_view_of_its_input_is_named():
    def shortcut(x, kh, kw, p, stride):             # a 1x1 kernel: "the columns are just the pixels"
        if (kh, kw, p, stride) == (1, 1, 0, 1):
            return x.reshape(x.shape[0], x.shape[1], -1)
        return im2col_offsets(x, kh, kw, p, stride)
    fails("check_im2col", "returns a view of its argument", im2col=shortcut)


@pytest.mark.parametrize("mistake, match", [(dict(bias=False), "bias b is missing"),
                                            (dict(swap=True), "height and width are swapped in the final reshape")])
def test_conv_forward_im2col_mistake_is_named(mistake, match):
    fails("check_im2col", match, conv_forward_im2col=lambda x, w, b, param: conv_im2col(x, w, b, param, **mistake))


def test_im2col_passes_with_a_broken_naive_convolution():
    run("check_im2col", conv_forward_naive=lambda x, w, b, param: conv_forward(x, w, b, param, flip=True))


def im2col_sliding(x, kh, kw, p, stride):
    windows = np.lib.stride_tricks.sliding_window_view(pad(x, p), (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    N, C, H_out, W_out = windows.shape[:4]
    return np.ascontiguousarray(windows.transpose(0, 1, 4, 5, 2, 3)).reshape(N, C * kh * kw, H_out * W_out)


def im2col_fancy_indexing(x, kh, kw, p, stride):
    """CS231n's get_im2col_indices, adapted to the (N, C*kh*kw, L) layout."""
    N, C, H, W = x.shape
    H_out, W_out = output_size(H, kh, p, stride), output_size(W, kw, p, stride)
    i0 = np.tile(np.repeat(np.arange(kh), kw), C)
    i1 = stride * np.repeat(np.arange(H_out), W_out)
    j0 = np.tile(np.arange(kw), kh * C)
    j1 = stride * np.tile(np.arange(W_out), H_out)
    k = np.repeat(np.arange(C), kh * kw)[:, None]
    return pad(x, p)[:, k, i0[:, None] + i1[None, :], j0[:, None] + j1[None, :]]


@pytest.mark.parametrize("valid", [im2col_sliding, im2col_fancy_indexing])
def test_im2col_written_another_way_passes(valid):
    run("check_im2col", im2col=valid)


# ------------------------------------------------------------------------ receptive field
@pytest.mark.parametrize("wrong, match", [
    (lambda layers: 1 + sum((k - 1) * s for k, s in layers), "OWN stride"),
    (lambda layers: 1 + sum((k - 1) * math.prod(s for _, s in layers[:l + 1]) for l, (k, _) in enumerate(layers)),
     "product of ALL the strides"),
    (lambda layers: sum((k - 1) * math.prod(s for _, s in layers[:l]) for l, (k, _) in enumerate(layers)),
     r"the \+ 1 is missing"),
])
def test_receptive_field_mistake_is_named(wrong, match):
    fails("check_receptive_field", match, receptive_field=wrong)


def receptive_field_top_down(layers):
    field = 1
    for kernel, stride in reversed(layers):
        field = (field - 1) * stride + kernel
    return field


def test_receptive_field_walked_top_down_passes():
    run("check_receptive_field", receptive_field=receptive_field_top_down)


# ------------------------------------------------------------------------ bilinear resize
def bilinear(image, out_h, out_w, align_corners, clamp=True, dtype=True):
    """A student's fancy-indexing version; clamp=False forgets to clamp negative positions."""
    C, H, W = image.shape

    def positions(n_out, n_in):
        index = np.arange(n_out, dtype=np.float64)
        if align_corners:
            pos = index * ((n_in - 1) / (n_out - 1)) if n_out > 1 else np.zeros(n_out)
        else:
            pos = (index + 0.5) * (n_in / n_out) - 0.5
            pos = np.maximum(pos, 0.0) if clamp else pos
        low = np.clip(np.floor(pos).astype(int), 0, n_in - 1)
        return low, np.minimum(low + 1, n_in - 1), pos - np.floor(pos)

    y0, y1, a = positions(out_h, H)
    x0, x1, b = positions(out_w, W)
    top = image[:, y0][:, :, x0] * (1 - b) + image[:, y0][:, :, x1] * b
    bottom = image[:, y1][:, :, x0] * (1 - b) + image[:, y1][:, :, x1] * b
    out = top * (1 - a)[:, None] + bottom * a[:, None]
    return out.astype(image.dtype) if dtype else out


@pytest.mark.parametrize("wrong, match", [
    (lambda img, h, w, ac: bilinear(img, h, w, not ac), "follows the align_corners=(True|False) convention"),
    (lambda img, h, w, ac: bilinear(img, h, w, ac, clamp=False), "clamp negative source positions to 0"),
    (lambda img, h, w, ac: bilinear(img, h, w, ac, dtype=False), "has dtype float64, expected float32"),
    (lambda img, h, w, ac: bilinear(img, w, h, ac), "out_h and out_w are swapped"),
    (lambda img, h, w, ac: F.interpolate(torch.from_numpy(img)[None], size=(h, w), mode="bilinear",
                                         align_corners=ac)[0].numpy(), "must be written by hand"),
])
def test_bilinear_mistake_is_named(wrong, match):
    fails("check_bilinear_resize", match, bilinear_resize=wrong)


def test_bilinear_returning_its_input_when_the_size_is_kept_is_named():
    def shortcut(image, out_h, out_w, align_corners):
        return image if image.shape[1:] == (out_h, out_w) else bilinear(image, out_h, out_w, align_corners)
    fails("check_bilinear_resize", "returns a view of its argument", bilinear_resize=shortcut)


def interpolation_matrix(n_out, n_in, align_corners):
    """(n_out, n_in): column k is what a unit impulse at source position k becomes."""
    impulses = np.eye(n_in)[:, :, None]                       # (C = n_in, n_in, 1): one impulse per channel
    return bilinear(impulses, n_out, 1, align_corners)[:, :, 0].T


def bilinear_by_matrices(image, out_h, out_w, align_corners):
    """Separable: out = R_y @ image @ R_x.T, with the 1-D interpolation matrices."""
    rows = interpolation_matrix(out_h, image.shape[1], align_corners)
    cols = interpolation_matrix(out_w, image.shape[2], align_corners)
    return np.einsum("ih,chw,jw->cij", rows, image, cols).astype(image.dtype)


def bilinear_per_channel(image, out_h, out_w, align_corners):
    return np.stack([bilinear(channel[None], out_h, out_w, align_corners)[0] for channel in image])


@pytest.mark.parametrize("valid", [bilinear_by_matrices, bilinear_per_channel])
def test_bilinear_written_another_way_passes(valid):
    run("check_bilinear_resize", bilinear_resize=valid)


# ------------------------------------------------------------------------ spatial batch norm forward
def batchnorm(x, gamma, beta, bn_param, stats="channel", var_ddof=0, eps_used=None, momentum_rule="torch",
              running_ddof=1, store=True, test_stats="running", update_in_test=False, in_place=False, cache=None):
    """A student's spatial batch norm with switchable mistakes."""
    mode, eps, m = bn_param["mode"], bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.1)
    eps = eps if eps_used is None else eps_used
    N, C, H, W = x.shape
    running_mean = bn_param.get("running_mean", np.zeros(C, dtype=x.dtype))
    running_var = bn_param.get("running_var", np.ones(C, dtype=x.dtype))
    axes = {"channel": (0, 2, 3), "instance": (2, 3), "position": (0,)}.get(stats)
    if stats == "plain reshape":
        rows = x.reshape(-1, C)
        mean, var = rows.mean(0), rows.var(0, ddof=var_ddof)
        normalize = lambda: ((rows - mean) / np.sqrt(var + eps)).reshape(x.shape)  # noqa: E731
    else:
        mean, var = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True, ddof=var_ddof)
    if mode == "train" or test_stats == "batch":
        if mode == "train":
            batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3), ddof=running_ddof)
            new = ((1 - m) * running_mean + m * batch_mean, (1 - m) * running_var + m * batch_var) \
                if momentum_rule == "torch" else (m * running_mean + (1 - m) * batch_mean,
                                                  m * running_var + (1 - m) * batch_var)
            if store:
                bn_param["running_mean"], bn_param["running_var"] = new
        if in_place:
            x -= mean
            x_hat = x / np.sqrt(var + eps)
        else:
            x_hat = normalize() if stats == "plain reshape" else (x - mean) / np.sqrt(var + eps)
    else:
        if update_in_test:
            bn_param["running_mean"] = 0.9 * running_mean + 0.1 * x.mean(axis=(0, 2, 3))
        x_hat = (x - running_mean[None, :, None, None]) / np.sqrt(running_var[None, :, None, None] + eps)
    out = (gamma[None, :, None, None] * x_hat + beta[None, :, None, None]).astype(x.dtype)
    return out, (cache or (lambda: (x, gamma, eps)))() if mode == "train" else None


@pytest.mark.parametrize("mistake, match", [
    (dict(stats="plain reshape"), r"x.reshape\(-1, C\), which mixes channels"),
    (dict(stats="instance"), "that is instance norm"),
    (dict(stats="position"), "over the batch axis only"),
    (dict(var_ddof=1), "normalization uses the unbiased variance"),
    (dict(eps_used=1e-5), r"bn_param\['eps'\] is ignored"),
    (dict(momentum_rule="cs231n"), "CS231n's convention"),
    (dict(momentum_rule="cs231n", running_ddof=0), "CS231n's convention"),
    (dict(running_ddof=0), "running_var averages the BIASED batch variance"),
    (dict(store=False), "has no 'running_mean' after a train-mode call"),
    (dict(test_stats="batch"), "test mode normalizes with the batch's own statistics"),
    (dict(update_in_test=True), r"test mode changed bn_param\['running_mean'\]"),
    (dict(in_place=True), "changed its argument 1 in place"),
    (dict(cache=lambda: None), r"should return the cache \(x, gamma, eps\)"),
])
def test_spatial_batchnorm_forward_mistake_is_named(mistake, match):
    fails("check_spatial_batchnorm_forward", match,
          spatial_batchnorm_forward=lambda x, g, b, p: batchnorm(x, g, b, p, **mistake))


def test_spatial_batchnorm_keeping_stale_running_averages_is_named():
    def wrong(x, gamma, beta, bn_param):
        bn_param.setdefault("running_mean", np.zeros(x.shape[1]))
        bn_param.setdefault("running_var", np.ones(x.shape[1]))           # stored, never updated
        return batchnorm(x, gamma, beta, bn_param, store=False)
    fails("check_spatial_batchnorm_forward", "running_mean was not updated", spatial_batchnorm_forward=wrong)


def test_spatial_batchnorm_forward_calling_torch_is_named():
    def with_torch(x, gamma, beta, bn_param):
        out = F.batch_norm(torch.from_numpy(x), None, None, torch.from_numpy(gamma), torch.from_numpy(beta), True)
        return out.numpy(), (x, gamma, bn_param.get("eps", 1e-5))
    fails("check_spatial_batchnorm_forward", "must be written by hand", spatial_batchnorm_forward=with_torch)


def batchnorm_by_reshape(x, gamma, beta, bn_param):
    """Channels last, (N*H*W, C) rows, notebook 04's batch norm, and back; the variance as E[x^2] - E[x]^2."""
    N, C, H, W = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, C)
    eps, m = bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.1)
    if bn_param["mode"] == "train":
        mean = rows.mean(0)
        var = (rows ** 2).mean(0) - mean ** 2
        bn_param["running_mean"] = (1 - m) * bn_param.get("running_mean", np.zeros(C)) + m * mean
        bn_param["running_var"] = (1 - m) * bn_param.get("running_var", np.ones(C)) + m * np.var(rows, 0, ddof=1)
    else:
        mean, var = bn_param["running_mean"], bn_param["running_var"]
    out = gamma * (rows - mean) / np.sqrt(var + eps) + beta
    cache = (x, gamma, eps) if bn_param["mode"] == "train" else None
    return out.reshape(N, H, W, C).transpose(0, 3, 1, 2).astype(x.dtype), cache


@pytest.mark.parametrize("valid", [batchnorm_by_reshape, lambda x, g, b, p: batchnorm(x, g, b, p)])
def test_spatial_batchnorm_forward_written_another_way_passes(valid):
    run("check_spatial_batchnorm_forward", spatial_batchnorm_forward=valid)


# ------------------------------------------------------------------------ spatial batch norm backward
def batchnorm_backward(dout, cache, dx_terms=("mean", "var"), swap=False, dgamma_with_x=False, axes=(0, 2, 3),
                       in_place=False):
    x, gamma, eps = cache
    inv_std = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + eps)
    x_hat = (x - x.mean(axis=(0, 2, 3), keepdims=True)) * inv_std
    dbeta = dout.sum(axis=axes)
    dgamma = ((x if dgamma_with_x else x_hat) * dout).sum(axis=axes)
    if in_place:
        dout *= gamma[None, :, None, None]
        g = dout
    else:
        g = dout * gamma[None, :, None, None]
    dx = g.copy()
    if "mean" in dx_terms:
        dx = dx - g.mean(axis=(0, 2, 3), keepdims=True)
    if "var" in dx_terms:
        dx = dx - x_hat * (g * x_hat).mean(axis=(0, 2, 3), keepdims=True)
    return (dx * inv_std).astype(x.dtype), *((dbeta, dgamma) if swap else (dgamma, dbeta))


@pytest.mark.parametrize("mistake, match", [
    (dict(dx_terms=()), "as constants"),
    (dict(dx_terms=("mean",)), "misses the path through the variance"),
    (dict(dx_terms=("var",)), "misses the path through the mean"),
    (dict(swap=True), "are swapped"),
    (dict(dgamma_with_x=True), "uses x instead of the normalized x_hat"),
    (dict(axes=0), r"sum over N, H AND W: shape \(C,\)"),
    (dict(in_place=True), "changed its argument 1 in place"),
])
def test_spatial_batchnorm_backward_mistake_is_named(mistake, match):
    fails("check_spatial_batchnorm_backward", match,
          spatial_batchnorm_backward=lambda dout, cache: batchnorm_backward(dout, cache, **mistake))


def test_spatial_batchnorm_backward_with_autograd_is_named():
    def with_autograd(dout, cache):
        x, gamma, eps = cache
        X, G = torch.tensor(x, requires_grad=True), torch.tensor(gamma, requires_grad=True)
        B = torch.zeros_like(G, requires_grad=True)
        F.batch_norm(X, None, None, G, B, training=True, eps=eps).backward(torch.from_numpy(dout))
        return X.grad.numpy(), G.grad.numpy(), B.grad.numpy()
    fails("check_spatial_batchnorm_backward", "must be written by hand", spatial_batchnorm_backward=with_autograd)


def test_spatial_batchnorm_backward_passes_with_a_broken_forward_pass():
    run("check_spatial_batchnorm_backward",
        spatial_batchnorm_forward=lambda x, g, b, p: batchnorm(x, g, b, p, stats="plain reshape"))


def batchnorm_backward_by_graph(dout, cache):
    """The long way, node by node through the computational graph, on (N*H*W, C) rows."""
    x, gamma, eps = cache
    N, C, H, W = x.shape
    rows = x.transpose(0, 2, 3, 1).reshape(-1, C)
    g = dout.transpose(0, 2, 3, 1).reshape(-1, C)
    M = rows.shape[0]
    mean = rows.mean(0)
    centred = rows - mean
    var = (centred ** 2).mean(0)
    std = np.sqrt(var + eps)
    x_hat = centred / std
    dx_hat = g * gamma
    dvar = (dx_hat * centred).sum(0) * -0.5 * std ** -3
    dmean = -(dx_hat / std).sum(0) + dvar * (-2 * centred).mean(0)
    dx = dx_hat / std + dvar * 2 * centred / M + dmean / M
    return (dx.reshape(N, H, W, C).transpose(0, 3, 1, 2).astype(x.dtype), (g * x_hat).sum(0), g.sum(0))


@pytest.mark.parametrize("valid", [batchnorm_backward_by_graph, lambda dout, cache: batchnorm_backward(dout, cache)])
def test_spatial_batchnorm_backward_written_another_way_passes(valid):
    run("check_spatial_batchnorm_backward", spatial_batchnorm_backward=valid)


# ------------------------------------------------------------------------ group norm
def group_norm(x, gamma, beta, G, eps=1e-5, grouping="consecutive", ddof=0, eps_outside=False, in_place=False,
               dtype=True):
    N, C, H, W = x.shape
    if grouping == "strided":                        # channel c in group c % G
        order = np.argsort(np.arange(C) % G, kind="stable")
        x_hat = group_norm(x[:, order], np.ones(C), np.zeros(C), G, eps)[:, np.argsort(order)]
    else:
        groups = {"consecutive": G, "instance": C, "layer": 1}[grouping] if grouping != "batch" else G
        if grouping == "batch":
            grouped = x.transpose(1, 0, 2, 3).reshape(groups, -1)
            mean, var = grouped.mean(1, keepdims=True), grouped.var(1, keepdims=True)
            x_hat = ((grouped - mean) / np.sqrt(var + eps)).reshape(C, N, H, W).transpose(1, 0, 2, 3)
        else:
            grouped = x.reshape(N, groups, -1)
            mean, var = grouped.mean(2, keepdims=True), grouped.var(2, keepdims=True, ddof=ddof)
            if in_place:
                grouped -= mean
                centred = grouped
            else:
                centred = grouped - mean
            scale = (np.sqrt(var) + eps) if eps_outside else np.sqrt(var + eps)
            x_hat = (centred / scale).reshape(x.shape)
    out = gamma[None, :, None, None] * x_hat + beta[None, :, None, None]
    return out.astype(x.dtype) if dtype else out.astype(np.float64)


@pytest.mark.parametrize("mistake, match", [
    (dict(grouping="strided"), "the groups are strided"),
    (dict(grouping="batch"), "the statistics include the whole batch"),
    (dict(grouping="instance"), "normalized on its own whatever num_groups"),
    (dict(grouping="layer"), "normalized as a whole whatever num_groups"),
    (dict(ddof=1), "the variance is the unbiased one"),
    (dict(eps_outside=True), "eps is added to the standard deviation"),
    (dict(in_place=True), "changed its argument 1 in place"),
    (dict(dtype=False), "has dtype float64, expected float32"),
])
def test_group_norm_mistake_is_named(mistake, match):
    fails("check_group_norm", match,
          group_norm_forward=lambda x, g, b, G, eps=1e-5: group_norm(x, g, b, G, eps, **mistake))


def test_group_norm_calling_torch_is_named():
    def with_torch(x, gamma, beta, G, eps=1e-5):
        return F.group_norm(*[torch.from_numpy(a) for a in (x,)], G, torch.from_numpy(gamma), torch.from_numpy(beta),
                            eps).numpy()
    fails("check_group_norm", "must be written by hand", group_norm_forward=with_torch)


def group_norm_five_axes(x, gamma, beta, G, eps=1e-5):
    N, C, H, W = x.shape
    grouped = x.reshape(N, G, C // G, H, W)
    mean, var = grouped.mean(axis=(2, 3, 4), keepdims=True), grouped.var(axis=(2, 3, 4), keepdims=True)
    return (((grouped - mean) / np.sqrt(var + eps)).reshape(x.shape) * gamma[:, None, None]
            + beta[:, None, None]).astype(x.dtype)


def group_norm_loops(x, gamma, beta, G, eps=1e-5):
    out, size = np.empty_like(x), x.shape[1] // G
    for n in range(x.shape[0]):
        for g in range(G):
            block = x[n, g * size:(g + 1) * size]
            out[n, g * size:(g + 1) * size] = (block - block.mean()) / np.sqrt(block.var() + eps)
    return out * gamma[:, None, None] + beta[:, None, None]


@pytest.mark.parametrize("valid", [group_norm_five_axes, group_norm_loops])
def test_group_norm_written_another_way_passes(valid):
    run("check_group_norm", group_norm_forward=valid)


# ------------------------------------------------------------------------ counting
@pytest.mark.parametrize("wrong, match", [
    (lambda c_in, c_out, k, bias=True, groups=1: c_out * (c_in // groups) * k * k, "biases are missing"),
    (lambda c_in, c_out, k, bias=True, groups=1: c_out * c_in * k * k + bias * c_out, "divide by groups"),
    (lambda c_in, c_out, k, bias=True, groups=1: c_out * (c_in // groups) * k * k + c_out,
     "counted although bias=False"),
])
def test_param_count_mistake_is_named(wrong, match):
    fails("check_count_conv", match, count_conv_params=wrong)


@pytest.mark.parametrize("wrong, match", [
    (lambda c_in, c_out, k, h, w, groups=1: 2 * c_out * h * w * (c_in // groups) * k * k,
     "multiply and the add separately"),
    (lambda c_in, c_out, k, h, w, groups=1: c_out * h * h * (c_in // groups) * k * k, "out_h is used for both"),
    (lambda c_in, c_out, k, h, w, groups=1: c_out * h * w * c_in * k * k, "divide by groups"),
])
def test_flop_count_mistake_is_named(wrong, match):
    fails("check_count_conv", match, count_conv_flops=wrong)


@pytest.mark.parametrize("wrong, match", [
    (lambda c, h, w, size=4: 8 * c * h * w * size, "in bits"),
    (lambda c, h, w, size=4: c * h * w * size / 1024, "in kilobytes"),
    (lambda c, h, w, size=4: c * h * w * 4, "bytes_per_element is ignored"),
    (lambda c, h, w, size=4: c * h * w, "this counts elements"),
    (lambda c, h, w, size=4: c * h * h * size, "out_h is used for both"),
])
def test_activation_memory_mistake_is_named(wrong, match):
    fails("check_count_conv", match, conv_activation_bytes=wrong)


def test_counts_written_another_way_pass():
    run("check_count_conv", count_conv_params=lambda c_in, c_out, k, bias=True, groups=1:
        math.prod((c_out, c_in // groups, k, k)) + int(bias) * c_out,
        conv_activation_bytes=lambda c, h, w, size=4: int(np.prod([c, h, w])) * size)


# ------------------------------------------------------------------------ SmallCNN
def small_cnn(pool=F.max_pool2d, relu=F.relu, fc_features=None, pool_first=False):
    class Net(nn.Module):
        def __init__(self, in_channels=1, num_classes=10, width=16, image_size=8):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
            self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
            self.fc = nn.Linear(fc_features or 2 * width * (image_size // 4) ** 2, num_classes)

        def forward(self, x):
            for conv in (self.conv1, self.conv2):
                x = relu(pool(conv(x), 2)) if pool_first else pool(relu(conv(x)), 2)
            return self.fc(x.flatten(1))
    return Net


@pytest.mark.parametrize("wrong, match", [
    (small_cnn(pool=F.avg_pool2d), "AVERAGE pooling"),
    (small_cnn(relu=lambda h: h), "the ReLUs are missing"),
    (small_cnn(fc_features=2 * 16 * 2 * 2), "do not hard-code them"),
])
def test_small_cnn_mistake_is_named(wrong, match):
    fails("check_small_cnn", match, SmallCNN=wrong)


def test_small_cnn_with_ten_classes_hard_coded_is_named():
    class TenClasses(small_cnn()):
        def __init__(self, in_channels=1, num_classes=10, width=16, image_size=8):
            super().__init__(in_channels, 10, width, image_size)
    fails("check_small_cnn", "do not hard-code them", SmallCNN=TenClasses)


def test_small_cnn_without_pooling_fails():
    class NoPool(nn.Module):
        def __init__(self, in_channels=1, num_classes=10, width=16, image_size=8):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
            self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
            self.fc = nn.Linear(2 * width * image_size ** 2, num_classes)

        def forward(self, x):
            return self.fc(F.relu(self.conv2(F.relu(self.conv1(x)))).flatten(1))
    fails("check_small_cnn", "fc.weight has the wrong shape", SmallCNN=NoPool)


def test_small_cnn_pooling_before_the_relu_passes():     # max pooling and ReLU commute
    run("check_small_cnn", SmallCNN=small_cnn(pool_first=True))


def test_small_cnn_with_module_layers_passes():
    class WithModules(nn.Module):
        def __init__(self, in_channels=1, num_classes=10, width=16, image_size=8):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, width, 3, padding=1)
            self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
            self.fc = nn.Linear(2 * width * (image_size // 4) ** 2, num_classes)
            self.pool, self.relu = nn.MaxPool2d(2), nn.ReLU(inplace=True)

        def forward(self, x):
            return self.fc(self.pool(self.relu(self.conv2(self.pool(self.relu(self.conv1(x)))))).flatten(1))
    run("check_small_cnn", SmallCNN=WithModules)


# ------------------------------------------------------------------------ ResidualBlock
def residual_block(mode="right", bias=False, shortcut_bn=True,
                   projection_if=lambda s, c_in, c_out: s != 1 or c_in != c_out):
    class Block(nn.Module):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__()
            first, second = (1, stride) if mode == "stride in conv2" else (stride, 1)
            self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=first, padding=1, bias=bias)
            self.bn1 = nn.BatchNorm2d(out_channels)
            self.conv2 = nn.Conv2d(out_channels, out_channels, 3, stride=second, padding=1, bias=bias)
            self.bn2 = nn.BatchNorm2d(out_channels)
            if projection_if(stride, in_channels, out_channels):
                layers = [nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)]
                self.shortcut = nn.Sequential(*layers, *([nn.BatchNorm2d(out_channels)] if shortcut_bn else []))
            else:
                self.shortcut = nn.Identity()

        def forward(self, x):
            h = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            if mode == "no skip":
                return F.relu(h)
            if mode == "relu before add":
                return F.relu(h) + self.shortcut(x)
            h += self.shortcut(x)                                          # in place: fine
            return F.relu(h)
    return Block


@pytest.mark.parametrize("wrong, match", [
    (residual_block("no skip"), "the skip connection is missing"),
    (residual_block("relu before add"), "add the shortcut BEFORE the final ReLU"),
    (residual_block("stride in conv2"), "the stride is in conv2"),
    (residual_block(bias=True), "bias=False in every conv"),
    (residual_block(shortcut_bn=False), "a 1x1 conv \\+ BN projection shortcut"),
    (residual_block(projection_if=lambda s, c_in, c_out: s != 1), "projection shortcut"),
])
def test_residual_block_mistake_is_named(wrong, match):
    fails("check_residual_block", match, ResidualBlock=wrong)


def test_residual_block_whose_shortcut_ignores_the_stride_is_named():
    class NoStrideInShortcut(residual_block()):
        def __init__(self, in_channels, out_channels, stride=1):
            super().__init__(in_channels, out_channels, stride)
            if not isinstance(self.shortcut, nn.Identity):
                self.shortcut[0].stride = (1, 1)
    fails("check_residual_block", "the shortcut's 1x1 conv takes the block's stride", ResidualBlock=NoStrideInShortcut)


def test_residual_block_with_an_in_place_add_passes():
    run("check_residual_block", ResidualBlock=residual_block())
