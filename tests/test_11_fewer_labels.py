"""Notebook 11_fewer_labels: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is written the way a student writes it, with one classic mistake; the VISIBLE part
of its grade cell (what the student runs) must fail with a message that names it (only the overflowing softmax
of TTA is left to a hidden case). Valid alternatives (another order of the
random draws, a loop instead of fancy indexing, torch instead of NumPy where the exercise allows it, another
way to mask the diagonal, ...) must pass. Later cells do not depend on earlier answers: the mean teacher's
loss is checked with a broken consistency_loss in place.
Conventions: images (N, C, H, W) float32 in [0, 1]; every random draw from the rng argument; flips reverse W;
crops pad with zeros and draw offsets 0..2P; random resized crops sample the nearest pixel centre
floor((2i + 1) h / (2H)); brightness multiplies, contrast blends toward the image's mean over all channels
and pixels; Cutout fills 0 and its centre is anywhere in the image; Mixup and CutMix draw one lambda and one
permutation per batch and mix one-hot targets, CutMix by the pasted area; TTA averages probabilities;
NT-Xent averages 2N cross-entropies over cosine similarities / tau with the diagonal excluded;
EMA: teacher <- m teacher + (1 - m) student; pseudo-labels: max softmax >= c, first of tied maxima;
consistency: sum over classes of squared probability differences, mean over the batch, teacher detached;
mu(t) = mu_max exp(-5 (1 - min(t, T) / T)^2).
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradecells import grade_cell_fails, graded_ids, run_grade_cell
from visible_checks import visible_part_fails

NOTEBOOK = "11_fewer_labels"
GRADE_IDS = ["check_horizontal_flip", "check_random_crop", "check_random_resized_crop", "check_color_jitter",
             "check_cutout", "check_mixup", "check_cutmix", "check_tta", "check_parameter_groups", "check_nt_xent",
             "check_ema_update", "check_pseudo_labels", "check_consistency_loss", "check_unsup_weight",
             "check_mean_teacher_loss"]


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


def fails(grade_id, match, **overrides):
    visible_part_fails(NOTEBOOK, grade_id, match, **overrides)


def gather(x, rows, cols):
    """x (N, C, H, W) sampled at per-image row indices (N, H') and column indices (N, W')."""
    N, C = x.shape[:2]
    return x[np.arange(N)[:, None, None, None], np.arange(C)[None, :, None, None], rows[:, None, :, None],
             cols[:, None, None, :]]


# ------------------------------------------------------------------------ the notebook itself
@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)
    assert len(graded_ids(NOTEBOOK, "markdown")) == 3


# ------------------------------------------------------------------------ horizontal flip
def flip(x, rng, p=0.5, axis=3, batch=False, keep=False, generator=None, in_place=False, view=False, dtype=None):
    """A student's flip with one switchable mistake."""
    draws = (generator or rng).random(1 if batch else len(x))
    chosen = np.broadcast_to((draws >= p) if keep else (draws < p), (len(x),))
    if view and not chosen.any():
        return x
    out = x if in_place else x.copy()
    out[chosen] = np.flip(x[chosen], axis=axis)
    return out if dtype is None else out.astype(dtype)


@pytest.mark.parametrize("mistake, match", [
    (dict(axis=2), "upside down"),
    (dict(axis=1), "channels reversed"),
    (dict(batch=True), "ONE decision for the whole batch"),
    (dict(keep=True), "probability of FLIPPING"),
    (dict(view=True), "returns a view"),
    (dict(in_place=True), "changed its argument 1 in place"),
    (dict(dtype=np.float64), "has dtype float64, expected float32"),
])
def test_flip_mistake_is_named(mistake, match):
    fails("check_horizontal_flip", match, horizontal_flip=lambda x, rng, p=0.5: flip(x, rng, p, **mistake))


def test_flip_with_global_random_state_is_named():
    fails("check_horizontal_flip", "same seed", horizontal_flip=lambda x, rng, p=0.5: flip(x, np.random, p))


def test_flip_with_a_generator_of_its_own_is_named():
    fails("check_horizontal_flip", "two different seeds",
          horizontal_flip=lambda x, rng, p=0.5: flip(x, rng, p, generator=np.random.default_rng(0)))


@pytest.mark.parametrize("valid", [
    lambda x, rng, p=0.5: np.where((rng.uniform(size=len(x)) < p)[:, None, None, None], x[..., ::-1], x),
    lambda x, rng, p=0.5: np.stack([image[..., ::-1] if rng.random() < p else image.copy() for image in x]),
    lambda x, rng, p=0.5: np.where(rng.binomial(1, p, len(x)).astype(bool)[:, None, None, None], np.flip(x, 3), x),
])
def test_flip_written_another_way_passes(valid):
    run("check_horizontal_flip", horizontal_flip=valid)


# ------------------------------------------------------------------------ random crop
def crop(x, padding, rng, mode="constant", high=1, batch=False, same=False, per_channel=False):
    """A student's random crop with one switchable mistake."""
    N, C, H, W = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)), mode=mode)
    count = 1 if batch else N
    top = max(2 * padding + high, 1)                 # high=0: the classic exclusive upper end 2P
    draw = (lambda: rng.randint(0, top, size=count)) if rng is np.random else (lambda: rng.integers(0, top, size=count))
    dy = draw()
    dx = dy if same else draw()
    dy, dx = np.broadcast_to(dy, (N,)), np.broadcast_to(dx, (N,))
    out = np.empty_like(x)
    for n in range(N):
        if per_channel:
            for c in range(C):
                oy, ox = rng.integers(0, 2 * padding + 1, size=2)
                out[n, c] = padded[n, c, oy:oy + H, ox:ox + W]
        else:
            out[n] = padded[n, :, dy[n]:dy[n] + H, dx[n]:dx[n] + W]
    return out


@pytest.mark.parametrize("mistake, match", [
    (dict(mode="edge"), "mode 'edge' or 'reflect'"),
    (dict(mode="reflect"), "mode 'edge' or 'reflect'"),
    (dict(high=0), "never used the offset 2 \\* padding"),
    (dict(batch=True), "ONE offset for the whole batch"),
    (dict(same=True), "same offset"),
    (dict(per_channel=True), "all channels of an image share one offset"),
])
def test_random_crop_mistake_is_named(mistake, match):
    fails("check_random_crop", match, random_crop=lambda x, padding, rng: crop(x, padding, rng, **mistake))


def test_random_crop_with_global_random_state_is_named():
    fails("check_random_crop", "same seed", random_crop=lambda x, padding, rng: crop(x, padding, np.random))


def shift_with_zeros(x, padding, rng):
    """Valid: shift each image by (P - dy, P - dx) on a zero canvas, the offsets drawn per image, dx first."""
    N, C, H, W = x.shape
    out = np.zeros_like(x)
    for n in range(N):
        dx, dy = rng.integers(0, 2 * padding + 1, size=2)
        sy, sx = padding - dy, padding - dx                  # output pixel (i, j) is input pixel (i - sy, j - sx)
        rows, cols = range(max(sy, 0), min(H, H + sy)), range(max(sx, 0), min(W, W + sx))
        if len(rows) and len(cols):
            out[n, :, rows.start:rows.stop, cols.start:cols.stop] = \
                x[n, :, rows.start - sy:rows.stop - sy, cols.start - sx:cols.stop - sx]
    return out


@pytest.mark.parametrize("valid", [
    lambda x, padding, rng: crop(x, padding, rng),
    shift_with_zeros,
    lambda x, padding, rng: gather(np.pad(x, ((0, 0), (0, 0), (padding,) * 2, (padding,) * 2)),
                                   *[(o[:, None] + np.arange(s)) for o, s in
                                     zip(rng.integers(0, 2 * padding + 1, size=(2, len(x))), x.shape[2:])]),
])
def test_random_crop_written_another_way_passes(valid):
    run("check_random_crop", random_crop=valid)


# ------------------------------------------------------------------------ random resized crop
def resized_crop(x, rng, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3), nearest="exact", area_is_side=False,
                 uniform_ratio=False, high=1, batch=False):
    """A student's random resized crop with one switchable mistake."""
    N, C, H, W = x.shape
    count = 1 if batch else N
    s = rng.uniform(scale[0], scale[1], size=count)
    s = s ** 2 if area_is_side else s
    r = rng.uniform(*ratio, size=count) if uniform_ratio else np.exp(rng.uniform(*np.log(ratio), size=count))
    h = np.clip(np.round(H * np.sqrt(s / r)), 1, H).astype(int)
    w = np.clip(np.round(W * np.sqrt(s * r)), 1, W).astype(int)
    top, left = rng.integers(0, np.maximum(H - h + high, 1)), rng.integers(0, np.maximum(W - w + high, 1))
    h, w, top, left = (np.broadcast_to(v, (N,)) for v in (h, w, top, left))
    i, j = np.arange(H), np.arange(W)
    if nearest == "exact":
        rows, cols = top[:, None] + ((2 * i + 1) * h[:, None]) // (2 * H), left[:, None] + ((2 * j + 1) * w[:, None]) // (2 * W)
    else:
        rows, cols = top[:, None] + (i * h[:, None]) // H, left[:, None] + (j * w[:, None]) // W
    return gather(x, rows, cols)


@pytest.mark.parametrize("mistake, match", [
    (dict(nearest="legacy"), "mode='nearest'"),
    (dict(area_is_side=True), "AREA fraction"),
    (dict(uniform_ratio=True), "LOG uniformly"),
    (dict(high=0), "no box ever touches the bottom edge"),
    (dict(batch=True), "ONE box for the whole batch"),
])
def test_random_resized_crop_mistake_is_named(mistake, match):
    fails("check_random_resized_crop", match,
          random_resized_crop=lambda x, rng, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3):
          resized_crop(x, rng, scale, ratio, **mistake))


def resized_crop_with_torch(x, rng, scale=(0.35, 1.0), ratio=(3 / 4, 4 / 3)):
    """Valid: a loop over the images, each box drawn on its own and resized by F.interpolate('nearest-exact')."""
    N, C, H, W = x.shape
    out = np.empty_like(x)
    for n in range(N):
        s, log_r = rng.uniform(*scale), rng.uniform(np.log(ratio[0]), np.log(ratio[1]))
        h = int(min(max(round(H * np.sqrt(s / np.exp(log_r))), 1), H))
        w = int(min(max(round(W * np.sqrt(s * np.exp(log_r))), 1), W))
        top, left = rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)
        box = torch.from_numpy(np.ascontiguousarray(x[n:n + 1, :, top:top + h, left:left + w]))
        out[n] = F.interpolate(box, size=(H, W), mode="nearest-exact").numpy()[0]
    return out


def test_random_resized_crop_written_another_way_passes():
    run("check_random_resized_crop", random_resized_crop=resized_crop_with_torch)


# ------------------------------------------------------------------------ colour jitter
def jitter(x, rng, brightness=0.4, contrast=0.4, additive=False, channel_mean=False, grey=False, clip=True,
           batch=False, same=False, per_pixel=False, dtype=None):
    """A student's brightness/contrast jitter with one switchable mistake."""
    N = len(x)
    shape = (1,) * 4 if batch else (N, 1, 1, 1)
    u = rng.uniform(-1, 1, size=x.shape if per_pixel else shape)          # b = 1 + brightness u
    b = 1 + brightness * u
    c = 1 + contrast * (u if same else rng.uniform(-1, 1, size=shape))
    limit = (lambda v: np.clip(v, 0, 1)) if clip else (lambda v: v)
    y = limit(x + (b - 1) if additive else x * b)
    mean = 0.5 if grey else y.mean(axis=(2, 3) if channel_mean else (1, 2, 3), keepdims=True)
    out = limit(c * (y - mean) + mean)
    return out.astype(dtype or x.dtype)


@pytest.mark.parametrize("mistake, match", [
    (dict(additive=True), "ADDS a random brightness"),
    (dict(channel_mean=True), "each channel toward its own mean"),
    (dict(grey=True), "toward 0.5"),
    (dict(clip=False), "values outside \\[0, 1\\]"),
    (dict(batch=True), "ONE brightness factor for the whole batch"),
    (dict(same=True), "correlated"),
    (dict(per_pixel=True), "one brightness factor b per image"),
    (dict(dtype=np.float64), "has dtype float64, expected float32"),
])
def test_color_jitter_mistake_is_named(mistake, match):
    fails("check_color_jitter", match,
          color_jitter=lambda x, rng, brightness=0.4, contrast=0.4: jitter(x, rng, brightness, contrast, **mistake))


def jitter_loop(x, rng, brightness=0.4, contrast=0.4):
    """Valid: one image at a time, the contrast factor drawn first."""
    out = np.empty_like(x)
    for n, image in enumerate(x):
        c, b = rng.uniform(1 - contrast, 1 + contrast), rng.uniform(1 - brightness, 1 + brightness)
        y = np.minimum(np.maximum(image * b, 0), 1)
        out[n] = np.clip(y.mean() + c * (y - y.mean()), 0, 1)
    return out


def test_color_jitter_written_another_way_passes():
    run("check_color_jitter", color_jitter=jitter_loop)


# ------------------------------------------------------------------------ Cutout
def cut(x, size, rng, fill=0.0, inside=False, extent=None, per_channel=False, batch=False, high=0):
    """A student's Cutout with one switchable mistake."""
    N, C, H, W = x.shape
    out = x.copy()
    count = 1 if batch else N
    if inside:
        cy = rng.integers(size // 2, H - size + size // 2 + 1, size=count)
        cx = rng.integers(size // 2, W - size + size // 2 + 1, size=count)
    else:
        cy, cx = rng.integers(0, H - high, size=count), rng.integers(0, W - high, size=count)
    cy, cx = np.broadcast_to(cy, (N,)), np.broadcast_to(cx, (N,))
    for n in range(N):
        for c in range(C):
            y, x0 = (rng.integers(0, H), rng.integers(0, W)) if per_channel else (cy[n], cx[n])
            if extent is None:
                top, left, bottom, right = y - size // 2, x0 - size // 2, y - size // 2 + size, x0 - size // 2 + size
            else:
                top, left, bottom, right = y - extent, x0 - extent, y + extent + 1, x0 + extent + 1
            out[n, c, max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)] = fill
    return out


@pytest.mark.parametrize("mistake, match", [
    (dict(fill=0.5), "fills the square with"),
    (dict(inside=True), "always lies fully inside the image"),
    (dict(extent=1), "a square of 3 pixels, expected size=2"),
    (dict(per_channel=True), "differs between the channels"),
    (dict(batch=True), "ONE square for the whole batch"),
    (dict(high=1), "never occurred"),
])
def test_cutout_mistake_is_named(mistake, match):
    fails("check_cutout", match, cutout=lambda x, size, rng: cut(x, size, rng, **mistake))


def cutout_masks(x, size, rng):
    """Valid: boolean masks from the square's corners, the column centre drawn first."""
    N, C, H, W = x.shape
    cx, cy = rng.integers(0, W, N), rng.integers(0, H, N)
    rows = np.abs(np.arange(H)[None, :] - (cy - size // 2 + (size - 1) / 2)[:, None]) <= (size - 1) / 2
    cols = np.abs(np.arange(W)[None, :] - (cx - size // 2 + (size - 1) / 2)[:, None]) <= (size - 1) / 2
    return x * ~(rows[:, None, :, None] & cols[:, None, None, :])


def test_cutout_written_another_way_passes():
    run("check_cutout", cutout=cutout_masks)


# ------------------------------------------------------------------------ Mixup
def mix(x, y, alpha, rng, lam=None, targets="mixed", swap_inputs=False, uniform=False, replace=False,
        two_permutations=False, returned=None):
    """A student's Mixup with one switchable mistake."""
    if lam is None:
        lam = rng.uniform() if uniform else rng.beta(alpha, alpha)
    partner = rng.integers(0, len(x), len(x)) if replace else rng.permutation(len(x))
    other = rng.permutation(len(x)) if two_permutations else partner
    a = 1 - lam if swap_inputs else lam
    x_mix = (a * x + (1 - a) * x[partner]).astype(x.dtype)
    y_mix = {"mixed": lam * y + (1 - lam) * y[other], "kept": y.copy(),
             "swapped": (1 - lam) * y + lam * y[other]}[targets].astype(y.dtype)
    return x_mix, y_mix, float(lam if returned is None else returned(lam))


@pytest.mark.parametrize("mistake, match", [
    (dict(targets="kept"), "mixes the inputs but not the targets"),
    (dict(targets="swapped"), "the targets' weights are swapped"),
    (dict(swap_inputs=True, targets="swapped"), "the inputs' weights are swapped"),
    (dict(uniform=True), "lam is uniform"),
    (dict(replace=True), "not a permutation of the batch"),
    (dict(two_permutations=True), "other partners than the inputs"),
    (dict(returned=lambda lam: 1 - lam), "returned lam="),
])
def test_mixup_mistake_is_named(mistake, match):
    fails("check_mixup", match, mixup=lambda x, y, alpha, rng, lam=None: mix(x, y, alpha, rng, lam, **mistake))


def mixup_by_loop(x, y, alpha, rng, lam=None):
    """Valid: the permutation drawn before lambda, one example at a time."""
    partner = rng.permutation(len(x))
    lam = rng.beta(alpha, alpha) if lam is None else lam
    x_mix, y_mix = np.empty_like(x), np.empty_like(y)
    for n, m in enumerate(partner):
        x_mix[n], y_mix[n] = lam * x[n] + (1 - lam) * x[m], lam * y[n] + (1 - lam) * y[m]
    return x_mix, y_mix, lam


def test_mixup_written_another_way_passes():
    run("check_mixup", mixup=mixup_by_loop)


# ------------------------------------------------------------------------ CutMix
def cut_mix(x, y, alpha, rng, lam=None, weight="area", side="sqrt", inside=False, per_image=False, rounding=round):
    """A student's CutMix with one switchable mistake."""
    N, C, H, W = x.shape
    lam = rng.beta(alpha, alpha) if lam is None else lam
    partner = rng.permutation(N)
    factor = np.sqrt(1 - lam) if side == "sqrt" else 1 - lam
    h, w = int(rounding(H * factor)), int(rounding(W * factor))
    x_mix = x.copy()
    for n in range(N if per_image else 1):
        if inside:
            cy, cx = rng.integers(h // 2, H - h + h // 2 + 1), rng.integers(w // 2, W - w + w // 2 + 1)
        else:
            cy, cx = rng.integers(0, H), rng.integers(0, W)
        top, bottom = np.clip([cy - h // 2, cy - h // 2 + h], 0, H)
        left, right = np.clip([cx - w // 2, cx - w // 2 + w], 0, W)
        images = [n] if per_image else slice(None)
        x_mix[images, :, top:bottom, left:right] = x[partner[images], :, top:bottom, left:right]
    a = (bottom - top) * (right - left) / (H * W)
    a = {"area": a, "side": np.sqrt(a), "height": (bottom - top) / H, "drawn": 1 - lam, "swapped": 1 - a,
         "none": 0.0}[weight]
    y_mix = ((1 - a) * y + a * y[partner]).astype(y.dtype)
    return x_mix, y_mix, float(1 - a)


@pytest.mark.parametrize("mistake, match", [
    (dict(weight="side"), "uses the box's SIDE, not its area"),
    (dict(weight="height"), "height / H|SIDE"),
    (dict(weight="drawn"), "mixed with the drawn lam"),
    (dict(weight="none"), "mixes the inputs but not the targets"),
    (dict(weight="swapped"), "the targets' weights are swapped"),
    (dict(side="linear"), "the AREA is \\(1 - lam\\) H W"),
    (dict(inside=True), "never cut by the border"),
    (dict(per_image=True), "got another box than the others"),
])
def test_cutmix_mistake_is_named(mistake, match):
    fails("check_cutmix", match, cutmix=lambda x, y, alpha, rng, lam=None: cut_mix(x, y, alpha, rng, lam, **mistake))


def test_cutmix_with_floored_sides_passes():          # int() instead of round(): a box at most one pixel smaller
    run("check_cutmix", cutmix=lambda x, y, alpha, rng, lam=None: cut_mix(x, y, alpha, rng, lam, rounding=int))


# ------------------------------------------------------------------------ test-time augmentation
def softmax(logits):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def chain(views, x):
    for view in views:
        x = view(x)
    return x


@pytest.mark.parametrize("wrong, match", [
    (lambda f, x, views: softmax(np.mean([f(v(x)) for v in views], axis=0)), "averages the logits and takes the softmax"),
    (lambda f, x, views: softmax(f(views[-1](x))), "LAST view only"),
    (lambda f, x, views: softmax(f(views[0](x))), "FIRST view only"),
    (lambda f, x, views: np.sum([softmax(f(v(x))) for v in views], axis=0), "SUM of the views"),
    (lambda f, x, views: np.mean([f(v(x)) for v in views], axis=0), "averages the logits and returns them"),
    (lambda f, x, views: np.mean([softmax(f(x))] + [softmax(f(v(x))) for v in views], axis=0), "extra view"),
    (lambda f, x, views: softmax(f(chain(views, x))), "one after the other"),
])
def test_tta_mistake_is_named(wrong, match):
    fails("check_tta", match, tta_predict_proba=wrong)


def test_tta_with_a_softmax_that_overflows_is_named():
    naive = lambda f, x, views: np.mean([np.exp(f(v(x))) / np.exp(f(v(x))).sum(axis=1, keepdims=True) for v in views], 0)
    # a hidden case, not a new idea: the stable softmax is taught in 02, and the docstring asks for it
    grade_cell_fails(NOTEBOOK, "check_tta", "overflow", tta_predict_proba=naive)


def tta_in_one_batch(predict_logits, x, views):
    """Valid: all views in one call of the model, torch's softmax."""
    logits = torch.as_tensor(predict_logits(np.concatenate([view(x) for view in views])))
    return torch.softmax(logits, dim=1).reshape(len(views), len(x), -1).mean(dim=0).numpy()


def test_tta_written_another_way_passes():
    run("check_tta", tta_predict_proba=tta_in_one_batch)


# ------------------------------------------------------------------------ transfer-learning regimes
def groups_for(model, regime, lr, factor=0.1, probe_trains=False, last_block=-1, earlier_train=False,
               backbone_lr=None, head_lr=None, frozen_in=False, copies=False, twice=False, error=True):
    """A student's parameter_groups with one switchable mistake."""
    if regime not in ("scratch", "linear_probe", "finetune_last", "finetune_all"):
        if error:
            raise ValueError(regime)
        regime = "finetune_all"
    blocks = list(model.blocks)
    trained = {"scratch": blocks, "linear_probe": blocks if probe_trains else [],
               "finetune_last": blocks if earlier_train else [blocks[last_block]], "finetune_all": blocks}[regime]
    for p in model.parameters():
        p.requires_grad_(False)
    backbone = [p for block in trained for p in block.parameters()]
    for p in backbone + list(model.head.parameters()):
        p.requires_grad_(True)
    head = list(model.head.parameters()) * (2 if twice else 1)
    if regime == "scratch":
        return [{"params": backbone + list(model.head.parameters()), "lr": lr}]
    if frozen_in:
        backbone = list(model.blocks.parameters())
    if copies:
        backbone = [p.detach() for p in backbone]
    groups = [{"params": head, "lr": lr if head_lr is None else head_lr(lr, factor)}]
    if backbone:
        groups.append({"params": backbone, "lr": lr * factor if backbone_lr is None else backbone_lr(lr, factor)})
    return groups


def remembers_frozen(model, regime, lr, factor=0.1):
    """Freezes correctly, but an earlier call's freezing sticks (the flags are only ever lowered)."""
    flags = {name: p.requires_grad for name, p in model.named_parameters()}
    groups = groups_for(model, regime, lr, factor)
    for name, p in model.named_parameters():
        p.requires_grad_(p.requires_grad and flags[name])
    return groups


@pytest.mark.parametrize("mistake, match", [
    (dict(probe_trains=True), "a linear probe freezes the whole backbone"),
    (dict(last_block=0), "of the LAST block is frozen"),
    (dict(earlier_train=True), "freezes every block but the last"),
    (dict(backbone_lr=lambda lr, f: lr), "gets the head's learning rate"),
    (dict(head_lr=lambda lr, f: lr * f), "the new head gets the small learning rate"),
    (dict(frozen_in=True), "frozen .* are in the groups"),
    (dict(copies=True), "not one of the model's parameters"),
    (dict(twice=True), "in the groups twice"),
    (dict(error=False), "should raise ValueError"),
])
def test_parameter_groups_mistake_is_named(mistake, match):
    fails("check_parameter_groups", match,
          parameter_groups=lambda model, regime, lr, factor=0.1: groups_for(model, regime, lr, factor, **mistake))


def test_parameter_groups_that_never_unfreeze_are_named():
    fails("check_parameter_groups", "when an earlier call froze it", parameter_groups=remembers_frozen)


def test_parameter_groups_with_an_empty_group_are_named():
    def probe_with_empty_backbone_group(model, regime, lr, factor=0.1):
        groups = groups_for(model, regime, lr, factor)
        return groups + [{"params": [], "lr": lr * factor}] if regime == "linear_probe" else groups
    fails("check_parameter_groups", "is empty", parameter_groups=probe_with_empty_backbone_group)


def test_parameter_groups_with_the_small_lr_in_scratch_are_named():
    def scratch_with_factor(model, regime, lr, factor=0.1):
        if regime == "scratch":
            groups_for(model, regime, lr, factor)
            return [{"params": list(model.blocks.parameters()), "lr": lr * factor},
                    {"params": list(model.head.parameters()), "lr": lr}]
        return groups_for(model, regime, lr, factor)
    fails("check_parameter_groups", "expected 0.02", parameter_groups=scratch_with_factor)


def groups_by_name(model, regime, lr, backbone_lr_factor=0.1):
    """Valid: one group per parameter, chosen by name, the head first; generators as 'params'."""
    if regime not in ("scratch", "linear_probe", "finetune_last", "finetune_all"):
        raise ValueError(f"no regime {regime}")
    last = f"blocks.{len(model.blocks) - 1}."
    groups = []
    for name, p in sorted(model.named_parameters(), key=lambda item: not item[0].startswith("head")):
        trains = (name.startswith("head") or regime in ("scratch", "finetune_all")
                  or (regime == "finetune_last" and name.startswith(last)))
        p.requires_grad = trains
        if trains:
            rate = lr if name.startswith("head") or regime == "scratch" else lr * backbone_lr_factor
            groups.append({"params": iter([p]), "lr": rate})
    return [{"params": list(g["params"]), "lr": g["lr"]} for g in groups]


def test_parameter_groups_written_another_way_passes():
    run("check_parameter_groups", parameter_groups=groups_by_name)


# ------------------------------------------------------------------------ NT-Xent
def nt_xent(z1, z2, tau=0.5, mask=True, tau_power=1, normalise=True, positive="other", rows="all", clip=False,
            detach=False, targets_on_cpu=False):
    """A student's NT-Xent with one switchable mistake."""
    N = len(z1)
    z = torch.cat([z1, z2])
    z = F.normalize(z, dim=1) if normalise else z
    if clip:                                  # CLIP-style: the other view only
        logits = z[:N] @ z[N:].T / tau
        return (F.cross_entropy(logits, torch.arange(N)) + F.cross_entropy(logits.T, torch.arange(N))) / 2
    logits = z @ z.T / tau ** tau_power
    if mask:
        eye = torch.eye(2 * N, dtype=torch.bool) if targets_on_cpu else torch.eye(2 * N, dtype=torch.bool, device=z.device)
        logits = logits.masked_fill(eye, float("-inf"))
    index = torch.arange(2 * N) if targets_on_cpu else torch.arange(2 * N, device=z.device)
    targets = {"other": (index + N) % (2 * N), "next": (index + 1) % (2 * N), "self": index}[positive]
    losses = F.cross_entropy(logits, targets, reduction="none")
    loss = {"all": losses.mean(), "first": losses[:N].mean(), "sum/N": losses.sum() / N}[rows]
    return torch.tensor(loss.item()) if detach else loss


@pytest.mark.parametrize("mistake, match", [
    (dict(mask=False), "self-similarity is not masked"),
    (dict(tau_power=2), "temperature is applied twice"),
    (dict(tau_power=0), "temperature is missing"),
    (dict(normalise=False), "not normalised"),
    (dict(positive="next"), "positives are at the wrong index"),
    (dict(positive="self", mask=False), "each row's positive is itself"),
    (dict(positive="self"), "is infinite"),
    (dict(rows="first"), "only the N rows of the first view"),
    (dict(rows="sum/N"), "summed and divided by N"),
    (dict(clip=True), "InfoNCE of CLIP"),
    (dict(detach=True), "no gradient"),
    (dict(targets_on_cpu=True), "mixes devices"),
])
def test_nt_xent_mistake_is_named(mistake, match):
    fails("check_nt_xent", match, nt_xent_loss=lambda z1, z2, temperature=0.5: nt_xent(z1, z2, temperature, **mistake))


def nt_xent_by_rows(z1, z2, temperature=0.5):
    """Valid: cosine similarities with F.cosine_similarity, the diagonal removed, logsumexp per row."""
    z = torch.cat([z1, z2])
    N2 = len(z)
    similarity = F.cosine_similarity(z[:, None, :], z[None, :, :], dim=2) / temperature
    positives = similarity[torch.arange(N2), (torch.arange(N2) + N2 // 2) % N2]
    others = similarity[~torch.eye(N2, dtype=torch.bool)].reshape(N2, N2 - 1)
    return (torch.logsumexp(others, dim=1) - positives).mean()


def test_nt_xent_written_another_way_passes():
    run("check_nt_xent", nt_xent_loss=nt_xent_by_rows)


# ------------------------------------------------------------------------ EMA
def ema(teacher, student, m, weights="right", target="teacher", no_grad=True):
    """A student's EMA update with one switchable mistake."""
    context = torch.no_grad() if no_grad else torch.enable_grad()
    with context:
        for t, s in zip(teacher.parameters(), student.parameters()):
            new = {"right": m * t + (1 - m) * s, "swapped": (1 - m) * t + m * s, "copy": s.clone()}[weights]
            if target == "teacher":
                t.copy_(new)
            elif target == "student":
                s.copy_(new)
            else:                                                 # rebinds a local name: nothing changes
                t = new


@pytest.mark.parametrize("mistake, match", [
    (dict(weights="swapped"), "the weights are swapped"),
    (dict(target="student"), "the student's .* changed"),
    (dict(weights="copy"), "became a copy of the student"),
    (dict(target="nothing"), "the teacher did not change"),
    (dict(no_grad=False), "torch.no_grad"),
])
def test_ema_mistake_is_named(mistake, match):
    fails("check_ema_update", match, ema_update=lambda teacher, student, m: ema(teacher, student, m, **mistake))


def ema_by_state_dict(teacher, student, momentum):
    """Valid: through the state dicts."""
    student_state = student.state_dict()
    teacher.load_state_dict({key: momentum * value + (1 - momentum) * student_state[key]
                             for key, value in teacher.state_dict().items()})


def ema_by_data(teacher, student, momentum):
    """Valid: on .data (no graph either)."""
    for t, s in zip(teacher.parameters(), student.parameters()):
        t.data = momentum * t.data + (1 - momentum) * s.data


@pytest.mark.parametrize("valid", [ema_by_state_dict, ema_by_data])
def test_ema_written_another_way_passes(valid):
    run("check_ema_update", ema_update=valid)


# ------------------------------------------------------------------------ pseudo-labels
def pseudo(logits, threshold, on="probabilities", strict=False, dim=1, last=False, dtype=None):
    """A student's pseudo-labelling with one switchable mistake."""
    scores = logits.softmax(dim=dim) if on == "probabilities" else logits
    confidence = scores.max(dim=1).values
    labels = (logits.shape[1] - 1 - logits.flip(1).argmax(dim=1)) if last else logits.argmax(dim=1)
    confident = confidence > threshold if strict else confidence >= threshold
    return labels if dtype is None else labels.to(dtype), confident


@pytest.mark.parametrize("mistake, match", [
    (dict(on="logits"), "applied to the LOGITS"),
    (dict(strict=True), "comparison is strict"),
    (dict(dim=0), "softmax is taken over the batch"),
    (dict(last=True), "the LAST is chosen"),
    (dict(dtype=torch.float32), "has dtype float32, expected int64"),
])
def test_pseudo_label_mistake_is_named(mistake, match):
    fails("check_pseudo_labels", match, select_pseudo_labels=lambda logits, c: pseudo(logits, c, **mistake))


def pseudo_by_logsumexp(logits, threshold):
    """Valid: the stable softmax by hand; compare exp(max - logsumexp) with the threshold."""
    confidence = torch.exp(logits.max(dim=1).values - torch.logsumexp(logits, dim=1))
    return torch.argmax(logits, dim=1), confidence >= threshold


def test_pseudo_labels_written_another_way_passes():
    run("check_pseudo_labels", select_pseudo_labels=pseudo_by_logsumexp)


# ------------------------------------------------------------------------ consistency loss and its weight
def consistency(s, t, on="probabilities", classes="sum", batch="mean", detach=True, kl=False):
    """A student's consistency loss with one switchable mistake."""
    t = t.detach() if detach else t
    p, q = (s, t) if on == "logits" else (s.softmax(dim=1), t.softmax(dim=1))
    if kl:
        per_row = (q * (q.log() - p.log())).sum(dim=1)
    else:
        per_row = ((p - q) ** 2).sum(dim=1) if classes == "sum" else ((p - q) ** 2).mean(dim=1)
    return per_row.mean() if batch == "mean" else per_row.sum()


@pytest.mark.parametrize("mistake, match", [
    (dict(on="logits"), "between the LOGITS"),
    (dict(classes="mean"), "averaged over the K classes"),
    (dict(batch="sum"), "summed over the batch"),
    (dict(kl=True), "KL divergence"),
    (dict(detach=False), "a gradient flows into the teacher's logits"),
])
def test_consistency_mistake_is_named(mistake, match):
    fails("check_consistency_loss", match, consistency_loss=lambda s, t: consistency(s, t, **mistake))


def test_consistency_with_mse_loss_summed_passes():
    run("check_consistency_loss", consistency_loss=lambda s, t: F.mse_loss(
        s.softmax(1), t.softmax(1).detach(), reduction="sum") / len(s))


def weight(step, T, mu, clip=True, shape="exp", square=True, scale=True):
    """A student's ramp-up with one switchable mistake."""
    if T == 0:
        return mu
    t = min(step, T) if clip else step
    ramp = t / T if shape == "linear" else np.exp(-5 * (1 - t / T) ** (2 if square else 1))
    return float((mu if scale else 1) * ramp)


@pytest.mark.parametrize("mistake, match", [
    (dict(clip=False), "falls again after the ramp-up"),
    (dict(shape="linear"), "the ramp is linear"),
    (dict(square=False), "the square is missing"),
    (dict(scale=False), "max_weight is missing"),
])
def test_rampup_mistake_is_named(mistake, match):
    fails("check_unsup_weight", match, unsup_weight=lambda step, T, mu: weight(step, T, mu, **mistake))


def test_rampup_dividing_by_zero_is_named():
    fails("check_unsup_weight", "no ramp-up",
          unsup_weight=lambda step, T, mu: float(mu * np.exp(-5 * (1 - min(step / T, 1)) ** 2)))


def test_rampup_written_another_way_passes():
    run("check_unsup_weight",
        unsup_weight=lambda step, T, mu: mu * float(np.exp(-5 * (1 - np.clip(step / max(T, 1), 0, 1)) ** 2) if T else 1))


# ------------------------------------------------------------------------ the mean teacher's loss
def mt_loss(student, teacher, x_l, y_l, v_s, v_t, weight, consistency=None, no_grad=True, on="unsup",
            views="right", own=False, teacher_sup=False, detach=False):
    """A student's mean-teacher loss with one switchable mistake."""
    with torch.no_grad() if teacher_sup else torch.enable_grad():
        supervised = F.cross_entropy((teacher if teacher_sup else student)(x_l), y_l)
    sv, tv = {"right": (v_s, v_t), "swapped": (v_t, v_s), "student twice": (v_s, v_s)}[views]
    with torch.no_grad() if no_grad else torch.enable_grad():
        target = teacher(tv)
    function = (lambda s, t: ((s.softmax(1) - t.detach().softmax(1)) ** 2).sum(1).mean()) if own else consistency
    unsupervised = function(student(sv), target)
    total = {"unsup": supervised + weight * unsupervised, "sup": weight * supervised + unsupervised,
             "none": supervised + unsupervised}[on]
    return (total.detach() if detach else total), supervised.detach(), unsupervised.detach()


@pytest.mark.parametrize("mistake, match", [
    (dict(no_grad=False), "gradients reach the TEACHER"),
    (dict(on="sup"), "multiplies the SUPERVISED loss"),
    (dict(on="none"), "the weight is missing"),
    (dict(views="swapped"), "the views are swapped"),
    (dict(views="student twice"), "the teacher gets the student's view"),
    (dict(own=True), "does not use the `consistency` argument"),
    (dict(teacher_sup=True), "the supervised loss uses the teacher"),
    (dict(detach=True), "has no gradient w.r.t. every student parameter"),
])
def test_mean_teacher_loss_mistake_is_named(mistake, match):
    fails("check_mean_teacher_loss", match,
          mean_teacher_loss=lambda *args, **kwargs: mt_loss(*args, **{**kwargs, **mistake}))


def mean_teacher_in_one_forward(student, teacher, x_l, y_l, v_s, v_t, weight, consistency=None):
    """Valid: one forward pass of the student over the labelled batch and its view together."""
    logits = student(torch.cat([x_l, v_s]))
    with torch.no_grad():
        target = teacher(v_t)
    supervised = F.cross_entropy(logits[:len(x_l)], y_l)
    unsupervised = consistency(logits[len(x_l):], target)
    return supervised + weight * unsupervised, supervised.detach(), unsupervised.detach()


def test_mean_teacher_loss_written_another_way_passes():
    run("check_mean_teacher_loss", mean_teacher_loss=mean_teacher_in_one_forward)


def test_mean_teacher_loss_does_not_depend_on_a_broken_consistency_loss():     # each mistake costs its own cell
    run("check_mean_teacher_loss", consistency_loss=lambda s, t: (s - t).abs().sum())
