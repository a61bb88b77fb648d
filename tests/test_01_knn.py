"""Notebook 01_knn: the solution passes every grade cell; wrong versions fail naming the mistake;
valid alternatives pass.

`WRONG` lists wrong versions written the way students write them, each with the grade cell
that must fail and a regex of the message it must show; `VALID` lists correct answers written
another way, which must pass. A few wrong versions that need the notebook's own namespace have
their own tests below the lists.
"""

from __future__ import annotations

import collections
import functools

import numpy as np
import pytest
import torch
from scipy import stats

from gradecells import grade_cell_fails, run_grade_cell

NOTEBOOK = "01_knn"
CHECKS = {"check_two_loops": "compute_distances_two_loops", "check_one_loop": "compute_distances_one_loop",
          "check_no_loops": "compute_distances_no_loops", "check_predict_labels": "predict_labels",
          "check_cross_validate": "cross_validate", "check_color_histogram": "color_histogram",
          "check_hog_features": "hog_features"}
DISTANCE_CELLS = ["check_two_loops", "check_one_loop", "check_no_loops"]


def named(name, function):
    function.__name__ = name
    return function


# ------------------------------------------------------------------------ distances
def squared_distances(X_train, X_test):
    return ((X_test[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=2)


def transposed_distances(X_train, X_test):
    return np.sqrt(((X_train[:, None, :] - X_test[None, :, :]) ** 2).sum(axis=2))


def two_loops_l1(X_train, X_test):
    dists = np.zeros((len(X_test), len(X_train)))
    for i in range(len(X_test)):
        for j in range(len(X_train)):
            dists[i, j] = np.sum(np.abs(X_test[i] - X_train[j]))
    return dists


def two_loops_mean(X_train, X_test):
    dists = np.zeros((len(X_test), len(X_train)))
    for i in range(len(X_test)):
        for j in range(len(X_train)):
            dists[i, j] = np.sqrt(np.mean((X_test[i] - X_train[j]) ** 2))
    return dists


def three_loops(X_train, X_test):
    dists = np.zeros((len(X_test), len(X_train)))
    for i in range(len(X_test)):
        for j in range(len(X_train)):
            total = 0.0
            for d in range(X_test.shape[1]):
                total += (X_test[i, d] - X_train[j, d]) ** 2
            dists[i, j] = np.sqrt(total)
    return dists


def one_loop_sum_everything(X_train, X_test):
    dists = np.zeros((X_test.shape[0], X_train.shape[0]))
    for i in range(X_test.shape[0]):
        dists[i] = np.sqrt(np.sum((X_train - X_test[i]) ** 2))
    return dists


def one_loop_nested(X_train, X_test):  # the "one loop" version keeps the inner loop
    dists = np.zeros((X_test.shape[0], X_train.shape[0]))
    for i in range(X_test.shape[0]):
        for j in range(X_train.shape[0]):
            dists[i, j] = np.linalg.norm(X_test[i] - X_train[j])
    return dists


def no_loops_with_for(X_train, X_test):
    dists = np.zeros((X_test.shape[0], X_train.shape[0]))
    for i in range(X_test.shape[0]):
        dists[i] = np.sqrt(np.maximum(((X_train - X_test[i]) ** 2).sum(axis=1), 0))
    return dists


def no_loops_comprehension(X_train, X_test):
    return np.array([np.sqrt(((X_train - x) ** 2).sum(axis=1)) for x in X_test])


def no_loops_apply_along_axis(X_train, X_test):  # a Python callback per test point
    return np.apply_along_axis(lambda x: np.sqrt(((X_train - x) ** 2).sum(axis=1)), 1, X_test)


def no_loops_unclipped(X_train, X_test):
    dists_sq = (X_test ** 2).sum(1)[:, None] + (X_train ** 2).sum(1) - 2 * X_test @ X_train.T
    with np.errstate(invalid="ignore"):
        return np.sqrt(dists_sq)


def no_loops_plus_cross_term(X_train, X_test):
    dists_sq = (X_test ** 2).sum(1)[:, None] + (X_train ** 2).sum(1) + 2 * X_test @ X_train.T
    return np.sqrt(np.maximum(dists_sq, 0))


def no_loops_torch(X_train, X_test):
    return torch.cdist(torch.as_tensor(X_test), torch.as_tensor(X_train)).numpy()


def no_loops_centres_in_place(X_train, X_test):  # centring reduces cancellation, but not in the caller's arrays
    mean = X_train.mean(axis=0)
    X_train -= mean
    X_test -= mean
    dists_sq = (X_test ** 2).sum(1)[:, None] + (X_train ** 2).sum(1) - 2 * X_test @ X_train.T
    return np.sqrt(np.maximum(dists_sq, 0))


def two_loops_norm_other_order(X_train, X_test):
    dists = np.zeros((len(X_test), len(X_train)))
    for j in range(len(X_train)):
        for i in range(len(X_test)):
            dists[i, j] = np.linalg.norm(X_test[i] - X_train[j])
    return dists


def one_loop_over_training_points(X_train, X_test):
    dists = np.zeros((len(X_test), len(X_train)))
    for j in range(len(X_train)):
        dists[:, j] = np.linalg.norm(X_test - X_train[j], axis=1)
    return dists


def one_loop_over_coordinates(X_train, X_test):
    dists_sq = np.zeros((len(X_test), len(X_train)))
    for d in range(X_test.shape[1]):
        dists_sq += (X_test[:, d:d + 1] - X_train[:, d]) ** 2
    return np.sqrt(dists_sq)


def no_loops_broadcast(X_train, X_test):
    return np.sqrt(((X_test[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=-1))


def no_loops_einsum(X_train, X_test):
    dists_sq = (np.einsum("id,id->i", X_test, X_test)[:, None] + np.einsum("jd,jd->j", X_train, X_train)
                - 2 * np.einsum("id,jd->ij", X_test, X_train))
    return np.sqrt(np.abs(dists_sq))


def _squared_norms(X):
    return np.sum(X * X, axis=1)


def no_loops_with_helper(X_train, X_test):
    dists_sq = _squared_norms(X_test)[:, None] + _squared_norms(X_train)[None, :] - 2 * X_test.dot(X_train.T)
    return np.sqrt(np.clip(dists_sq, 0, None))


# ------------------------------------------------------------------------ votes
def vote(dists, y_train, k, break_tie, nearest_first=True):
    order = np.argsort(dists if nearest_first else -dists, axis=1, kind="stable")[:, :k]
    y_pred = np.zeros(dists.shape[0], dtype=np.int64)
    for i, row in enumerate(order):
        labels, counts = np.unique(y_train[row], return_counts=True)
        tied = labels[counts == counts.max()]
        y_pred[i] = break_tie(tied, y_train[row])
    return y_pred


def ties_to_largest(dists, y_train, k=1):
    return vote(dists, y_train, k, lambda tied, ordered: tied.max())


def ties_to_nearest_counter(dists, y_train, k=1):
    y_pred = np.zeros(dists.shape[0], dtype=np.int64)
    for i in range(dists.shape[0]):
        closest_y = y_train[np.argsort(dists[i])[:k]]
        y_pred[i] = collections.Counter(closest_y.tolist()).most_common(1)[0][0]
    return y_pred


def farthest_vote(dists, y_train, k=1):
    return vote(dists, y_train, k, lambda tied, ordered: tied.min(), nearest_first=False)


def float_labels(dists, y_train, k=1):
    return vote(dists, y_train, k, lambda tied, ordered: tied.min()).astype(np.float64)


def vote_by_repeated_argmin(dists, y_train, k=1):  # marks the neighbours found in the caller's dists
    y_pred = np.zeros(dists.shape[0], dtype=np.int64)
    for i in range(dists.shape[0]):
        closest = []
        for _ in range(k):
            j = int(np.argmin(dists[i]))
            closest.append(y_train[j])
            dists[i, j] = np.inf
        y_pred[i] = np.argmax(np.bincount(closest))
    return y_pred


def ten_classes_only(dists, y_train, k=1):
    nearest = np.argsort(dists, axis=1)[:, :k]
    return np.array([np.argmax(np.bincount(y_train[row], minlength=10)[:10]) for row in nearest], dtype=np.int64)


def vote_scipy_mode(dists, y_train, k=1):
    nearest = np.argpartition(dists, k - 1, axis=1)[:, :k]
    return stats.mode(y_train[nearest], axis=1, keepdims=False).mode.astype(np.int64)


def vote_unique(dists, y_train, k=1):
    y_pred = np.zeros(dists.shape[0], dtype=np.int64)
    for i in range(dists.shape[0]):
        labels, counts = np.unique(y_train[np.argsort(dists[i])[:k]], return_counts=True)
        y_pred[i] = labels[np.argmax(counts)]
    return y_pred


def vote_one_hot(dists, y_train, k=1):
    neighbour_labels = y_train[np.argsort(dists, axis=1)[:, :k]]  # (num_test, k)
    votes = (neighbour_labels[:, :, None] == np.arange(y_train.max() + 1)).sum(axis=1)
    return votes.argmax(axis=1).astype(np.int64)


# ------------------------------------------------------------------------ cross-validation
def make_cross_validate(split, scale=1.0, swap_arguments=False):
    """A cross_validate whose folds come from split(N, num_folds) -> list of (train, val) indices."""

    def cross_validate(X, y, k_choices, num_folds=5, compute_distances=None, predict=None):
        accuracies = {k: [] for k in k_choices}
        for train_index, val_index in split(len(X), num_folds):
            if swap_arguments:
                dists = compute_distances(X[val_index], X[train_index])
            else:
                dists = compute_distances(X[train_index], X[val_index])
            for k in k_choices:
                y_pred = predict(dists, y[train_index], k)
                accuracies[k].append(scale * float(np.mean(y_pred == y[val_index])))
        return accuracies

    return cross_validate


def right_folds(n, num_folds):
    folds = np.array_split(np.arange(n), num_folds)
    return [(np.setdiff1d(np.arange(n), fold), fold) for fold in folds]


def leaking_folds(n, num_folds):
    return [(np.arange(n), fold) for _, fold in right_folds(n, num_folds)]


def swapped_folds(n, num_folds):
    return [(val, train) for train, val in right_folds(n, num_folds)]


def strided_folds(n, num_folds):
    return [(np.setdiff1d(np.arange(n), np.arange(f, n, num_folds)), np.arange(f, n, num_folds))
            for f in range(num_folds)]


def shuffled_folds(n, num_folds):
    order = np.random.default_rng(0).permutation(n)
    return [(np.setdiff1d(order, fold), fold) for fold in np.array_split(order, num_folds)]


def last_fold_skipped(n, num_folds):
    return right_folds(n, num_folds)[:-1]


def cross_validate_error_rates(X, y, k_choices, num_folds=5, compute_distances=None, predict=None):
    accuracies = make_cross_validate(right_folds)(X, y, k_choices, num_folds, compute_distances, predict)
    return {k: [1 - a for a in values] for k, values in accuracies.items()}


def cross_validate_shuffles_in_place(X, y, k_choices, num_folds=5, compute_distances=None, predict=None):
    order = np.random.default_rng(0).permutation(len(X))
    X[:], y[:] = X[order], y[order]  # "shuffle the data first", in the caller's arrays
    return make_cross_validate(right_folds)(X, y, k_choices, num_folds, compute_distances, predict)


def cross_validate_list(X, y, k_choices, num_folds=5, compute_distances=None, predict=None):
    accuracies = make_cross_validate(right_folds)(X, y, k_choices, num_folds, compute_distances, predict)
    return [accuracies[k] for k in k_choices]


def cross_validate_all_distances_once(X, y, k_choices, num_folds=5, compute_distances=None, predict=None):
    all_dists = compute_distances(X, X)  # (N, N), then sliced per fold
    accuracies = {k: [] for k in k_choices}
    for val in np.array_split(np.arange(len(X)), num_folds):
        train = np.ones(len(X), dtype=bool)
        train[val] = False
        dists = all_dists[np.ix_(val, np.flatnonzero(train))]
        for k in k_choices:
            accuracies[k].append(np.mean(predict(dists, y[train], k) == y[val]))
    return accuracies


def cross_validate_split_arrays(X, y, k_choices, num_folds=5, compute_distances=None, predict=None):
    X_folds, y_folds = np.array_split(X, num_folds), np.array_split(y, num_folds)
    accuracies = {k: [] for k in k_choices}
    for f in range(num_folds):
        X_train = np.vstack(X_folds[:f] + X_folds[f + 1:])
        y_train = np.hstack(y_folds[:f] + y_folds[f + 1:])
        dists = compute_distances(X_train, X_folds[f])
        for k in k_choices:
            accuracies[k].append(np.mean(predict(dists, y_train, k=k) == y_folds[f]))
    return accuracies


def cross_validate_np_delete(X, y, k_choices, num_folds=5, compute_distances=None, predict=None):
    accuracies = {k: [] for k in k_choices}
    for val in np.array_split(np.arange(len(X)), num_folds):
        dists = compute_distances(np.delete(X, val, axis=0), X[val])
        for k in k_choices:
            accuracies[k].append(float((predict(dists, np.delete(y, val), k) == y[val]).mean()))
    return accuracies


# ------------------------------------------------------------------------ colour histogram
def histogram_bins(images, num_bins):
    return np.minimum(np.floor(images * num_bins).astype(int), num_bins - 1)


def histogram_counts(images, num_bins):
    N, C = images.shape[:2]
    bins = histogram_bins(images, num_bins).reshape(N, C, -1)
    return (bins[..., None] == np.arange(num_bins)).sum(axis=2)  # (N, C, B)


def histogram_raw_counts(images, num_bins=8):
    return histogram_counts(images, num_bins).reshape(len(images), -1).astype(np.float64)


def histogram_over_whole_image(images, num_bins=8):
    return histogram_counts(images, num_bins).reshape(len(images), -1) / images[0].size


def histogram_drops_ones(images, num_bins=8):
    N, C = images.shape[:2]
    bins = np.floor(images * num_bins).astype(int).reshape(N, C, -1)  # 1.0 lands in bin B, which is not counted
    counts = (bins[..., None] == np.arange(num_bins)).sum(axis=2)
    return counts.reshape(N, -1) / bins.shape[-1]


def histogram_bin_major(images, num_bins=8):
    fractions = histogram_counts(images, num_bins) / (images.shape[2] * images.shape[3])  # (N, C, B)
    return fractions.transpose(0, 2, 1).reshape(len(images), -1)


def histogram_pooled_channels(images, num_bins=8):
    bins = histogram_bins(images, num_bins).reshape(len(images), -1)
    return (bins[..., None] == np.arange(num_bins)).mean(axis=1)


def histogram_torch(images, num_bins=8):
    values = torch.as_tensor(images, dtype=torch.float64)
    N, C = values.shape[:2]
    counts = torch.stack([torch.histc(channel, num_bins, 0, 1) for channel in values.reshape(N * C, -1)])
    return (counts / values[0, 0].numel()).reshape(N, -1).numpy()


def histogram_rounded(images, num_bins=8):
    N, C = images.shape[:2]
    bins = np.minimum(np.round(images * num_bins).astype(int), num_bins - 1).reshape(N, C, -1)
    return ((bins[..., None] == np.arange(num_bins)).mean(axis=2)).reshape(N, -1)


def histogram_scales_in_place(images, num_bins=8):
    images *= num_bins
    N, C = images.shape[:2]
    bins = np.minimum(images.astype(int), num_bins - 1).reshape(N, C, -1)
    return ((bins[..., None] == np.arange(num_bins)).mean(axis=2)).reshape(N, -1)


def histogram_np_histogram_loop(images, num_bins=8):
    N, C, H, W = images.shape
    out = np.zeros((N, C * num_bins))
    for n in range(N):
        for c in range(C):
            counts, _ = np.histogram(images[n, c], bins=num_bins, range=(0.0, 1.0))
            out[n, c * num_bins:(c + 1) * num_bins] = counts / (H * W)
    return out


def histogram_digitize(images, num_bins=8):
    N, C = images.shape[:2]
    inner_edges = np.linspace(0.0, 1.0, num_bins + 1)[1:-1]
    bins = np.digitize(images, inner_edges).reshape(N, C, -1)
    return (bins[..., None] == np.arange(num_bins)).mean(axis=2).reshape(N, -1)


# ------------------------------------------------------------------------ HOG
def numpy_hog(images, cell_size=4, num_bins=9, gradient="centred", y_up=False, swap=False, fold="mod",
              vote="magnitude", pool="sum", crop_first=False, partial=False, order="cells by row"):
    """HOG written cell by cell, as a student would, with one step changed by each switch."""
    images = np.array(images, dtype=np.float64)
    N, H, W = images.shape
    rows, cols = (int(np.ceil(H / cell_size)), int(np.ceil(W / cell_size))) if partial else (H // cell_size, W // cell_size)
    if crop_first:
        images = images[:, :rows * cell_size, :cols * cell_size]
    if gradient == "np.gradient":
        gy, gx = np.gradient(images, axis=(1, 2))
    else:
        gx, gy = np.zeros_like(images), np.zeros_like(images)
        if gradient == "forward":
            gx[:, :, :-1], gy[:, :-1, :] = np.diff(images, axis=2), np.diff(images, axis=1)
        else:
            gx[:, :, 1:-1] = images[:, :, 2:] - images[:, :, :-2]
            gy[:, 1:-1, :] = images[:, 2:, :] - images[:, :-2, :]
    if y_up:
        gy = -gy
    angle = np.degrees(np.arctan2(gx, gy) if swap else np.arctan2(gy, gx))
    if fold == "signed":
        bins = np.minimum((angle % 360) // (360 / num_bins), num_bins - 1).astype(int)
    elif fold == "abs":
        bins = np.minimum(np.abs(angle) // (180 / num_bins), num_bins - 1).astype(int)
    else:
        bins = ((angle % 180) // (180 / num_bins)).astype(int) % num_bins
    magnitude = np.hypot(gx, gy)
    weight = {"magnitude": magnitude, "count": np.ones_like(magnitude), "squared": gx ** 2 + gy ** 2}[vote]
    out = np.zeros((N, rows, cols, num_bins))
    for r in range(rows):
        for c in range(cols):
            cell = np.s_[:, r * cell_size:(r + 1) * cell_size, c * cell_size:(c + 1) * cell_size]
            for b in range(num_bins):
                out[:, r, c, b] = np.where(bins[cell] == b, weight[cell], 0.0).sum(axis=(1, 2))
    if pool == "mean":
        out /= cell_size ** 2
    if order == "cells by column":
        out = out.transpose(0, 2, 1, 3)
    elif order == "bins first":
        out = out.transpose(0, 3, 1, 2)
    return out.reshape(N, -1)


def hog_variant(name, **switches):
    return named(name, functools.partial(numpy_hog, **switches))


def hog_torch(images, cell_size=4, num_bins=9):  # converts through torch "to get float64"
    return numpy_hog(torch.as_tensor(images).double().numpy(), cell_size, num_bins)


def hog_normalises_in_place(images, cell_size=4, num_bins=9):
    images /= max(np.abs(images).max(), 1e-12)  # "normalise the contrast first", in the caller's array
    return numpy_hog(images, cell_size, num_bins)


def hog_radians(images, cell_size=4, num_bins=9):
    images = np.asarray(images, dtype=np.float64)
    gx = np.zeros_like(images)
    gy = np.zeros_like(images)
    gx[:, :, 1:-1] = 2 * np.gradient(images, axis=2)[:, :, 1:-1]  # np.gradient halves: undo it
    gy[:, 1:-1, :] = 2 * np.gradient(images, axis=1)[:, 1:-1, :]
    theta = np.arctan2(gy, gx) % np.pi
    bins = np.floor(theta / (np.pi / num_bins)).astype(int) % num_bins
    magnitude = np.sqrt(gx * gx + gy * gy)
    N, H, W = images.shape
    rows, cols = H // cell_size, W // cell_size
    one_hot = (bins[..., None] == np.arange(num_bins)) * magnitude[..., None]
    one_hot = one_hot[:, :rows * cell_size, :cols * cell_size]
    return one_hot.reshape(N, rows, cell_size, cols, cell_size, num_bins).sum(axis=(2, 4)).reshape(N, -1)


def hog_add_at(images, cell_size=4, num_bins=9):
    images = np.asarray(images, dtype=np.float64)
    N, H, W = images.shape
    rows, cols = H // cell_size, W // cell_size
    out = np.zeros((N, rows, cols, num_bins))
    for n in range(N):
        image = np.pad(images[n], 1, mode="edge")
        gx = (image[1:-1, 2:] - image[1:-1, :-2])
        gy = (image[2:, 1:-1] - image[:-2, 1:-1])
        gx[:, [0, -1]] = 0.0
        gy[[0, -1], :] = 0.0
        angle = np.rad2deg(np.arctan2(gy, gx)) % 180
        b = (angle * num_bins // 180).astype(int) % num_bins
        i, j = np.meshgrid(np.arange(rows * cell_size), np.arange(cols * cell_size), indexing="ij")
        np.add.at(out[n], (i // cell_size, j // cell_size, b[:rows * cell_size, :cols * cell_size]),
                  np.hypot(gx, gy)[:rows * cell_size, :cols * cell_size])
    return out.reshape(N, -1)


WRONG = [
    *[(cell, squared_distances, "SQUARED distances") for cell in DISTANCE_CELLS],
    *[(cell, transposed_distances, "transposed") for cell in DISTANCE_CELLS],
    ("check_two_loops", two_loops_l1, "L1 distances"),
    ("check_two_loops", two_loops_mean, r"divided by sqrt\(D\)"),
    ("check_two_loops", three_loops, r"over the D coordinates\) must not loop.*`for d in range"),
    ("check_one_loop", one_loop_sum_everything, "axis=1"),
    ("check_one_loop", one_loop_nested, "may loop over one dimension only.*two nested loops"),
    ("check_no_loops", no_loops_with_for, r"must not loop in Python.*`for i in range"),
    ("check_no_loops", no_loops_comprehension, r"must not loop in Python.*listcomp"),
    ("check_no_loops", no_loops_apply_along_axis, r"must not loop in Python.*<lambda>"),
    ("check_no_loops", no_loops_unclipped, r"nan.*np.maximum"),
    ("check_no_loops", no_loops_plus_cross_term, "sign error"),
    ("check_no_loops", no_loops_torch, "calls torch"),
    ("check_no_loops", no_loops_centres_in_place, "changed its argument 1, argument 2 in place"),
    ("check_predict_labels", ties_to_largest, "LARGEST label"),
    ("check_predict_labels", ties_to_nearest_counter, "NEAREST neighbour.*another tie-break"),
    ("check_predict_labels", farthest_vote, "FARTHEST points voted"),
    ("check_predict_labels", float_labels, "dtype float64, expected int64"),
    ("check_predict_labels", vote_by_repeated_argmin, "changed its argument 1 in place"),
    ("check_predict_labels", ten_classes_only, "14 classes.*does not match"),
    ("check_cross_validate", make_cross_validate(leaking_folds), "also in its training set"),
    ("check_cross_validate", make_cross_validate(swapped_folds), "trained on fold f"),
    ("check_cross_validate", make_cross_validate(strided_folds), r"every F-th point"),
    ("check_cross_validate", make_cross_validate(shuffled_folds), "(?s)does not match.*array_split"),
    ("check_cross_validate", make_cross_validate(right_folds, scale=100.0), "percentages"),
    ("check_cross_validate", make_cross_validate(right_folds, swap_arguments=True), "training points first"),
    ("check_cross_validate", make_cross_validate(last_fold_skipped), "one per fold"),
    ("check_cross_validate", cross_validate_error_rates, "error rates"),
    ("check_cross_validate", cross_validate_shuffles_in_place, "changed its argument 1, argument 2 in place"),
    ("check_cross_validate", cross_validate_list, "return a dict"),
    ("check_color_histogram", histogram_raw_counts, "pixel COUNTS"),
    ("check_color_histogram", histogram_over_whole_image, r"not by all C \* H \* W"),
    ("check_color_histogram", histogram_drops_ones, "equal to 1.0 are missing"),
    ("check_color_histogram", histogram_bin_major, "ordered bin by bin"),
    ("check_color_histogram", histogram_pooled_channels, "one histogram for all channels"),
    ("check_color_histogram", histogram_torch, "calls torch"),
    ("check_color_histogram", histogram_rounded, "does not match"),
    ("check_color_histogram", histogram_scales_in_place, "changed its argument 1 in place"),
    ("check_hog_features", hog_variant("hog_np_gradient", gradient="np.gradient"), "np.gradient halves"),
    ("check_hog_features", hog_variant("hog_forward_differences", gradient="forward"), "forward differences"),
    ("check_hog_features", hog_variant("hog_y_up", y_up=True), "mirrored: y points DOWN"),
    ("check_hog_features", hog_variant("hog_swapped_arctan2", swap=True), "arguments of arctan2 are swapped"),
    ("check_hog_features", hog_variant("hog_abs_angles", fold="abs"), r"folded with abs\(\)"),
    ("check_hog_features", hog_variant("hog_signed", fold="signed"), "SIGNED orientations"),
    ("check_hog_features", hog_variant("hog_counts", vote="count"), "every pixel voted 1"),
    ("check_hog_features", hog_variant("hog_squared_magnitude", vote="squared"), "squared magnitudes"),
    ("check_hog_features", hog_variant("hog_mean_per_cell", pool="mean"), "MEAN magnitudes"),
    ("check_hog_features", hog_variant("hog_crop_first", crop_first=True), "cropped to whole cells BEFORE"),
    ("check_hog_features", hog_variant("hog_partial_cells", partial=True), "partial cells"),
    ("check_hog_features", hog_variant("hog_cells_by_column", order="cells by column"), "column by column"),
    ("check_hog_features", hog_variant("hog_bins_first", order="bins first"), "grouped bin by bin"),
    ("check_hog_features", hog_torch, "calls torch"),
    ("check_hog_features", hog_normalises_in_place, "changed its argument 1 in place"),
]

VALID = [
    ("check_two_loops", two_loops_norm_other_order),
    ("check_one_loop", one_loop_over_training_points),
    ("check_one_loop", one_loop_over_coordinates),
    ("check_no_loops", no_loops_broadcast),
    ("check_no_loops", no_loops_einsum),
    ("check_no_loops", no_loops_with_helper),
    ("check_predict_labels", vote_scipy_mode),
    ("check_predict_labels", vote_unique),
    ("check_predict_labels", vote_one_hot),
    ("check_cross_validate", cross_validate_all_distances_once),
    ("check_cross_validate", cross_validate_split_arrays),
    ("check_cross_validate", cross_validate_np_delete),
    ("check_color_histogram", histogram_np_histogram_loop),
    ("check_color_histogram", histogram_digitize),
    ("check_hog_features", named("hog_cell_by_cell", functools.partial(numpy_hog))),
    ("check_hog_features", hog_radians),
    ("check_hog_features", hog_add_at),
]


@pytest.mark.parametrize("grade_id", CHECKS)
def test_solution_passes_its_grade_cell(grade_id):
    run_grade_cell(NOTEBOOK, grade_id)


@pytest.mark.parametrize("grade_id,wrong,match", WRONG,
                         ids=[f"{w[0]}-{getattr(w[1], '__name__', 'f')}" for w in WRONG])
def test_wrong_version_fails_naming_the_mistake(grade_id, wrong, match):
    grade_cell_fails(NOTEBOOK, grade_id, match, **{CHECKS[grade_id]: wrong})


@pytest.mark.parametrize("grade_id,valid", VALID, ids=[f"{v[0]}-{v[1].__name__}" for v in VALID])
def test_valid_alternative_passes(grade_id, valid):
    run_grade_cell(NOTEBOOK, grade_id, **{CHECKS[grade_id]: valid})


def test_every_grade_cell_has_wrong_versions_and_alternatives():
    assert {w[0] for w in WRONG} == set(CHECKS)
    assert {v[0] for v in VALID} == set(CHECKS)


def test_no_loop_version_without_source_is_still_counted():
    namespace = {"np": np}
    exec(  # no source file: the lines run are counted all the same
        "def hidden(X_train, X_test):\n"
        "    i, rows = 0, []\n"
        "    while i < len(X_test):\n"
        "        rows.append(np.sqrt(((X_train - X_test[i]) ** 2).sum(axis=1)))\n"
        "        i += 1\n"
        "    return np.array(rows)\n",
        namespace,
    )
    grade_cell_fails(NOTEBOOK, "check_no_loops", r"must not loop in Python.*line 3 of hidden",
                     compute_distances_no_loops=namespace["hidden"])


def test_no_loop_version_calling_a_loop_version_is_named():
    namespace = run_grade_cell(NOTEBOOK, "check_one_loop")  # defines the notebook's one-loop version
    exec("def delegate(X_train, X_test):\n    return compute_distances_one_loop(X_train, X_test)\n", namespace)
    grade_cell_fails(NOTEBOOK, "check_no_loops", r"must not loop in Python.*of compute_distances_one_loop",
                     compute_distances_no_loops=namespace["delegate"])


def test_cross_validate_does_not_depend_on_the_earlier_functions():
    def broken(*args, **kwargs):
        raise AssertionError("the grade cell called the student's own function")

    run_grade_cell(NOTEBOOK, "check_cross_validate", compute_distances_no_loops=broken, predict_labels=broken)


def test_cross_validate_defaults_to_the_notebook_functions():
    namespace = run_grade_cell(NOTEBOOK, "check_cross_validate")
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    assert namespace["cross_validate"](X, y, [1, 3], 4) == namespace["cross_validate"](
        X, y, [1, 3], 4, namespace["reference_distances"], namespace["reference_vote"])
