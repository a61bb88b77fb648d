"""Notebook 04_training: every grade cell passes on the solution and names each classic mistake.

Each wrong version is a complete student function with one classic mistake or another course's
convention (CS231n's momentum, keep probability, 1/2 on the L2 term, 1/fan_in Xavier), written
the way students write it; its grade cell must fail with a message that names it, in the
VISIBLE part unless it is listed in HIDDEN_ONLY. Valid alternatives (another formula, einsum,
SVD instead of eigh, the other mask polarity, state updated in place) must pass.
Conventions: torch's (batch-norm momentum = weight of the new value, dropout p = drop
probability, Glorot's Xavier), the L2 term reg * sum(W**2) without 1/2.
"""

from __future__ import annotations

import json
import warnings
from functools import lru_cache

import numpy as np
import pytest
import torch
from gradecells import graded_ids, notebook_namespace, run_grade_cell, solution_notebook
from visible_checks import visible_part_fails

ASSIGNMENT = "04_training"
GRADE_IDS = ["check_pca_fit", "check_pca_transform", "check_xavier_init", "check_kaiming_init",
             "check_batchnorm_forward", "check_batchnorm_backward", "check_layernorm_forward",
             "check_layernorm_backward", "check_dropout_forward", "check_dropout_backward", "check_elastic_net",
             "check_max_norm", "check_dropconnect", "check_stochastic_depth", "check_fc_net"]
# wrong versions that only a hidden check sees (an unusual argument or shape, not a new idea)
HIDDEN_ONLY = {"momentum'\\] is ignored"}


def _cells() -> list[dict]:
    return json.loads(solution_notebook(ASSIGNMENT).read_text(encoding="utf-8"))["cells"]


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@lru_cache(maxsize=1)
def solution() -> dict:
    """The namespace after the setup cell, the given cells and every solution cell."""
    return notebook_namespace(ASSIGNMENT)


def run(grade_id: str, **overrides):
    return run_grade_cell(ASSIGNMENT, grade_id, **overrides)


def fails(grade_id: str, match: str, **overrides) -> None:
    visible_part_fails(ASSIGNMENT, grade_id, match, visible_only=match not in HIDDEN_ONLY, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cells(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(ASSIGNMENT)) == sorted(GRADE_IDS)


# ------------------------------------------------------------------------------------------ PCA
def make_pca_fit(kind="eigh"):
    def pca_fit(X):
        X = np.asarray(X, dtype=np.float32 if kind == "float32" else np.float64)
        mean = X.mean(axis=0)
        if kind == "in place":
            X -= mean
            centred = X
        else:
            centred = X if kind == "not centred" else X - mean
        N = len(X)
        if kind in ("svd of X", "singular values"):  # svd of X - mean: valid with s**2 / N
            _, s, vt = np.linalg.svd(centred, full_matrices=False)
            variances = s if kind == "singular values" else s ** 2 / N
            components = vt.T
            if components.shape[1] < X.shape[1]:
                raise ValueError("not for wide data")
            return mean, components, variances
        covariance = centred.T @ centred / (N - 1 if kind == "unbiased" else N)
        if kind == "torch":  # torch's eigh: not NumPy
            values, vectors = torch.linalg.eigh(torch.from_numpy(covariance))
            return mean, vectors.numpy()[:, ::-1].copy(), values.numpy()[::-1].copy()
        if kind == "svd of covariance":
            u, s, _ = np.linalg.svd(covariance)
            return mean, u, s
        values, vectors = np.linalg.eigh(covariance)
        if kind == "ascending":
            return mean, vectors, values
        values, vectors = values[::-1], vectors[:, ::-1]
        if kind == "rows":
            return mean, vectors.T, values
        if kind == "std":
            return mean, vectors, np.sqrt(np.maximum(values, 0))
        return mean, vectors, values
    return pca_fit


@pytest.mark.parametrize("kind, match", [
    ("ascending", "INCREASING order"),
    ("unbiased", "divided by N - 1"),
    ("not centred", "not centred"),
    ("rows", "ROWS of your array"),
    ("std", "standard deviations"),
    ("singular values", "singular values"),
    ("in place", "changed its argument 1 in place"),
    ("float32", "dtype float32, expected float64"),
    ("torch", "must be written by hand with NumPy"),
])
def test_pca_fit_mistakes_are_named(kind, match):
    fails("check_pca_fit", match, pca_fit=make_pca_fit(kind))


@pytest.mark.parametrize("kind", ["eigh", "svd of covariance"])
def test_pca_fit_valid_alternatives_pass(kind):
    run("check_pca_fit", pca_fit=make_pca_fit(kind))


def make_pca_transform(kind="ok"):
    def pca_transform(X, mean, components, variances, num_components=None, whiten=False, eps=1e-5):
        X = np.asarray(X, dtype=np.float64)
        k = components.shape[1] if num_components is None or kind == "all components" else num_components
        shift = X.mean(axis=0) if kind == "own mean" else mean
        if kind == "in place":
            X = np.asarray(X)
            X -= shift
            centred = X
        else:
            centred = X - shift
        Z = centred @ (components[:k].T if kind == "rows" else components[:, :k])
        if whiten and kind != "no whitening":
            e = {"eps ignored": 0.0, "eps fixed": 1e-5}.get(kind, eps)
            if kind == "variance":
                Z = Z / (variances[:k] + e)
            elif kind == "eps outside":
                Z = Z / (np.sqrt(variances[:k]) + e)
            elif kind == "einsum":  # valid
                Z = np.einsum("mk,k->mk", Z, 1 / np.sqrt(variances[:k] + e))
            else:
                Z = Z / np.sqrt(variances[:k] + e)
        return Z
    return pca_transform


def in_place_transform(X, mean, components, variances, num_components=None, whiten=False, eps=1e-5):
    X -= mean  # changes the caller's float array
    return make_pca_transform()(X, np.zeros_like(mean), components, variances, num_components, whiten, eps)


@pytest.mark.parametrize("wrong, match", [
    (make_pca_transform("own mean"), "TRAINING mean"),
    (make_pca_transform("rows"), "ROWS of components"),
    (make_pca_transform("variance"), "divided by the variance"),
    (make_pca_transform("eps outside"), "eps went outside"),
    (make_pca_transform("eps ignored"), "eps is ignored"),
    (make_pca_transform("eps fixed"), "eps argument is ignored"),
    (make_pca_transform("no whitening"), "changed nothing"),
    (make_pca_transform("all components"), "wrong shape"),
    (in_place_transform, "in place"),
])
def test_pca_transform_mistakes_are_named(wrong, match):
    fails("check_pca_transform", match, pca_transform=wrong)


def test_pca_transform_with_einsum_passes():
    run("check_pca_transform", pca_transform=make_pca_transform("einsum"))


# ------------------------------------------------------------------------------- initialisation
def normal(std_of):
    return lambda fan_in, fan_out, rng: rng.standard_normal((fan_in, fan_out)) * std_of(fan_in, fan_out)


INIT_MISTAKES = [
    ("check_xavier_init", "xavier_init", normal(lambda i, o: i ** -0.5), "CS231n's simplified Xavier"),
    ("check_xavier_init", "xavier_init", normal(lambda i, o: o ** -0.5), "1/sqrt\\(fan_out\\)"),
    ("check_xavier_init", "xavier_init", normal(lambda i, o: 2 / (i + o)), "that is the VARIANCE"),
    ("check_xavier_init", "xavier_init", normal(lambda i, o: (i + o) ** -0.5), "has a 2 on top"),
    ("check_xavier_init", "xavier_init", normal(lambda i, o: (2 / i) ** 0.5), "Kaiming's"),
    ("check_xavier_init", "xavier_init",  # Glorot UNIFORM: the right variance, the wrong law
     lambda i, o, rng: rng.uniform(-1, 1, (i, o)) * (6 / (i + o)) ** 0.5, "does not look like N"),
    ("check_xavier_init", "xavier_init",
     lambda i, o, rng: np.random.standard_normal((i, o)) * (2 / (i + o)) ** 0.5, "rng passed in"),
    ("check_xavier_init", "xavier_init",
     lambda i, o, rng: (rng.standard_normal((i, o)) * (2 / (i + o)) ** 0.5).astype(np.float32), "dtype float32"),
    ("check_xavier_init", "xavier_init",
     lambda i, o, rng: rng.standard_normal((o, i)) * (2 / (i + o)) ** 0.5, "wrong shape"),
    ("check_kaiming_init", "kaiming_init", normal(lambda i, o: i ** -0.5), "ReLU halves"),
    ("check_kaiming_init", "kaiming_init", normal(lambda i, o: 2 / i ** 0.5), "factor 2 goes on the variance"),
    ("check_kaiming_init", "kaiming_init", normal(lambda i, o: (2 / o) ** 0.5), "number of INPUTS"),
    ("check_kaiming_init", "kaiming_init", normal(lambda i, o: 2 / i), "that is the VARIANCE"),
    ("check_kaiming_init", "kaiming_init", normal(lambda i, o: (2 / (i + o)) ** 0.5), "Glorot's"),
    ("check_kaiming_init", "kaiming_init",  # He UNIFORM
     lambda i, o, rng: rng.uniform(-1, 1, (i, o)) * (6 / i) ** 0.5, "does not look like N"),
    ("check_kaiming_init", "kaiming_init",
     lambda i, o, rng: np.random.randn(i, o) * (2 / i) ** 0.5, "rng passed in"),
]


@pytest.mark.parametrize("grade_id, name, wrong, match", INIT_MISTAKES,
                         ids=[f"{name}-{match[:20]}" for _, name, _, match in INIT_MISTAKES])
def test_init_mistakes_are_named(grade_id, name, wrong, match):
    fails(grade_id, match, **{name: wrong})


def test_init_valid_alternatives_pass():
    run("check_xavier_init", xavier_init=lambda i, o, rng: rng.normal(0.0, np.sqrt(2 / (i + o)), size=(i, o)))
    run("check_xavier_init", xavier_init=lambda i, o, rng: (rng.standard_normal((o, i)) * np.sqrt(2 / (i + o))).T)
    run("check_kaiming_init", kaiming_init=lambda i, o, rng: np.sqrt(2.0 / i) * rng.normal(size=(i, o)))


# ----------------------------------------------------------------------------------- batch norm
def make_bn_forward(kind="ok"):
    def batchnorm_forward(x, gamma, beta, bn_param):
        mode, eps = bn_param["mode"], bn_param.get("eps", 1e-5)
        momentum = 0.1 if kind == "fixed momentum" else bn_param.get("momentum", 0.1)
        N, D = x.shape
        rm = bn_param.get("running_mean", np.zeros(D, dtype=x.dtype))
        rv = bn_param.get("running_var", np.ones(D, dtype=x.dtype))
        if kind == "float64":
            x = x.astype(np.float64)
        if mode == "train" or kind == "batch stats in test":
            axis = 1 if kind == "rows" else (None if kind == "global" else 0)
            mean = x.mean(axis=axis, keepdims=kind == "rows")
            var = x.var(axis=axis, ddof=1 if kind == "unbiased" else 0, keepdims=kind == "rows")
        else:
            mean, var = rm, rv
        if (mode == "train" or kind == "update in test") and kind != "no update":
            with warnings.catch_warnings(), np.errstate(all="ignore"):  # N = 1 in test mode: ddof 1 warns
                warnings.simplefilter("ignore")
                batch_mean, batch_var = x.mean(axis=0), x.var(axis=0, ddof=0 if kind == "biased running" else 1)
            if kind == "cs231n":
                rm, rv = momentum * rm + (1 - momentum) * batch_mean, momentum * rv + (1 - momentum) * batch_var
            elif kind == "in place state":  # valid: update the running arrays in place
                rm, rv = np.array(rm, dtype=np.float64, copy=True), np.array(rv, dtype=np.float64, copy=True)
                rm *= 1 - momentum
                rm += momentum * batch_mean
                rv *= 1 - momentum
                rv += momentum * batch_var
            else:
                rm, rv = (1 - momentum) * rm + momentum * batch_mean, (1 - momentum) * rv + momentum * batch_var
        if kind == "in place x":
            x -= mean
            centred = x
        else:
            centred = x - mean
        inv_std = 1 / (np.sqrt(var) + eps) if kind == "eps outside" else 1 / np.sqrt(var + eps)
        x_hat = centred * inv_std
        out = x_hat if kind == "no gamma beta" else gamma * x_hat + beta
        if kind == "einsum":  # valid
            out = np.einsum("nd,d->nd", x_hat, gamma) + beta
        bn_param["running_mean"], bn_param["running_var"] = rm, rv
        return out, {"mode": mode, "x_hat": x_hat, "gamma": gamma, "inv_std": inv_std}
    return batchnorm_forward


@pytest.mark.parametrize("kind, match", [
    ("rows", "that is layer norm"),
    ("global", "whole batch"),
    ("unbiased", "unbiased variance \\(N - 1\\)"),
    ("eps outside", "eps went outside"),
    ("no gamma beta", "gamma and beta were not applied"),
    ("cs231n", "CS231n's convention"),
    ("biased running", "biased variance"),
    ("no update", "did not move"),
    ("update in test", "must NOT update"),
    ("batch stats in test", "statistics of the batch"),
    ("in place x", "in place"),
    ("float64", "dtype float64, expected float32"),
    ("fixed momentum", "momentum'\\] is ignored"),
])
def test_batchnorm_forward_mistakes_are_named(kind, match):
    fails("check_batchnorm_forward", match, batchnorm_forward=make_bn_forward(kind))


@pytest.mark.parametrize("kind", ["in place state", "einsum"])
def test_batchnorm_forward_valid_alternatives_pass(kind):
    run("check_batchnorm_forward", batchnorm_forward=make_bn_forward(kind))


def make_norm_backward(axis, kind="ok"):
    """batch norm (axis 0) or layer norm (axis 1) backward from the cache, with switchable mistakes."""
    def backward(dout, cache):
        x_hat, gamma, inv_std = cache["x_hat"], cache["gamma"], cache["inv_std"]
        M = dout.shape[axis]
        dbeta = dout.sum(axis=1 if kind == "param axis" else 0)
        dgamma = (dout * x_hat).sum(axis=0)
        if kind == "in place dout":
            dout *= gamma
            g = dout
        else:
            g = dout * gamma
        sum_axis = 0 if kind == "batch axis" else axis
        mean_term = g.sum(axis=sum_axis, keepdims=True)
        var_term = x_hat * (g * x_hat).sum(axis=sum_axis, keepdims=True)
        if kind == "naive" or cache.get("mode") == "test":
            dx = g * inv_std
        elif kind == "mean only":
            dx = inv_std / M * (M * g - mean_term)
        elif kind == "variance only":
            dx = inv_std / M * (M * g - var_term)
        elif kind == "long form":  # valid: the chain rule step by step, through var and mean
            x_mu = x_hat / inv_std
            dvar = (g * x_mu).sum(axis=axis, keepdims=True) * -0.5 * inv_std ** 3
            dmean = -(g * inv_std).sum(axis=axis, keepdims=True) + dvar * -2 * x_mu.mean(axis=axis, keepdims=True)
            dx = g * inv_std + dvar * 2 * x_mu / M + dmean / M
        else:
            dx = inv_std / M * (M * g - mean_term - var_term)
        if kind == "train formula in test" and cache.get("mode") == "test":
            dx = inv_std / M * (M * g - mean_term - var_term)
        return dx, dgamma, dbeta
    return backward


@pytest.mark.parametrize("kind, match", [
    ("naive", "drops the terms through the batch mean and variance"),
    ("mean only", "not the one through the variance"),
    ("variance only", "not the one through the mean"),
    ("train formula in test", "in test mode the statistics are the running averages"),
    ("param axis", "wrong shape"),
    ("in place dout", "in place"),
])
def test_batchnorm_backward_mistakes_are_named(kind, match):
    fails("check_batchnorm_backward", match, batchnorm_backward=make_norm_backward(0, kind))


def batchnorm_backward_by_autograd(dout, cache):
    """dgamma and dbeta from torch's autograd (dx by the formula): not by hand."""
    x_hat = torch.tensor(cache["x_hat"], requires_grad=True)
    gamma = torch.tensor(np.asarray(cache["gamma"], dtype=np.float64), requires_grad=True)
    beta = torch.zeros_like(gamma, requires_grad=True)
    (gamma * x_hat + beta).backward(torch.tensor(dout))
    return make_norm_backward(0)(dout, cache)[0], gamma.grad.numpy(), beta.grad.numpy()


def test_batchnorm_backward_through_torch_is_named():
    fails("check_batchnorm_backward", "must be written by hand with NumPy",
          batchnorm_backward=batchnorm_backward_by_autograd)


def test_batchnorm_backward_long_form_passes():
    run("check_batchnorm_backward", batchnorm_backward=make_norm_backward(0, "long form"))


# ----------------------------------------------------------------------------------- layer norm
def make_ln_forward(kind="ok"):
    def layernorm_forward(x, gamma, beta, ln_param):
        eps = ln_param.get("eps", 1e-5)
        if kind == "float64":
            x = x.astype(np.float64)
        axis = {"batch axis": 0, "global": None}.get(kind, 1)
        mean = x.mean(axis=axis, keepdims=True)
        var = x.var(axis=axis, ddof=1 if kind == "unbiased" else 0, keepdims=True)
        if kind == "std":  # valid: np.std
            var = np.std(x, axis=1, keepdims=True) ** 2
        if kind == "in place":
            x -= mean
            centred = x
        else:
            centred = x - mean
        inv_std = 1 / (np.sqrt(var) + eps) if kind == "eps outside" else 1 / np.sqrt(var + eps)
        x_hat = centred * inv_std
        return gamma * x_hat + beta, {"x_hat": x_hat, "gamma": gamma, "inv_std": inv_std}
    return layernorm_forward


@pytest.mark.parametrize("kind, match", [
    ("batch axis", "as in batch norm"),
    ("global", "whole batch"),
    ("unbiased", "unbiased variance \\(D - 1\\)"),
    ("eps outside", "eps went outside"),
    ("float64", "dtype float64, expected float32"),
    ("in place", "in place"),
])
def test_layernorm_forward_mistakes_are_named(kind, match):
    fails("check_layernorm_forward", match, layernorm_forward=make_ln_forward(kind))


def test_layernorm_forward_with_np_std_passes():
    run("check_layernorm_forward", layernorm_forward=make_ln_forward("std"))


@pytest.mark.parametrize("kind, match", [
    ("naive", "drops the terms through each row's mean and variance"),
    ("batch axis", "sums ran over the batch"),
    ("in place dout", "in place"),
])
def test_layernorm_backward_mistakes_are_named(kind, match):
    fails("check_layernorm_backward", match, layernorm_backward=make_norm_backward(1, kind))


def test_layernorm_backward_long_form_passes():
    run("check_layernorm_backward", layernorm_backward=make_norm_backward(1, "long form"))


# -------------------------------------------------------------------------------------- dropout
def make_dropout(kind="ok"):
    cached = {}

    def dropout_forward(x, dropout_param):
        p, mode = dropout_param["p"], dropout_param["mode"]
        rng = dropout_param.get("rng") or np.random.default_rng()
        uniform = rng.random(x.shape) if mode == "train" else None
        if kind == "global noise" and mode == "train":
            uniform = np.random.random(x.shape)
        if kind == "mask cached" and mode == "train":
            uniform = cached.setdefault(x.shape, uniform)
        if mode != "train" and kind != "mask in test":
            return x, (dropout_param, None)
        if uniform is None:
            uniform = np.random.default_rng().random(x.shape)
        keep = {"keep convention": uniform < p, "keep convention scaled": uniform < p,
                "other polarity": uniform < 1 - p}.get(kind, uniform >= p)
        scale = {"no rescale": 1.0, "times keep": 1 - p, "divide by p": 1 / p if p else 1.0,
                 "keep convention": 1 / p if p else 1.0}.get(kind, 1 / (1 - p))
        mask = keep * scale
        if kind != "float64":
            mask = mask.astype(x.dtype)
        if kind == "in place":
            x *= mask
            return x, (dropout_param, mask)
        if kind == "where":  # valid
            return np.where(keep, x / x.dtype.type(1 - p), x.dtype.type(0)), (dropout_param, mask)
        return x * mask, (dropout_param, mask)
    return dropout_forward


@pytest.mark.parametrize("kind, match", [
    ("keep convention", "CS231n's convention"),
    ("keep convention scaled", "scaled by 1/\\(1 - p\\)"),
    ("no rescale", "not rescaled"),
    ("times keep", "multiplied by 1 - p"),
    ("divide by p", "divided by p"),
    ("in place", "in place"),
    ("mask in test", "test mode returns x unchanged"),
    ("float64", "dtype float64, expected float32"),
    ("global noise", "build the mask from `uniform`"),
    ("mask cached", "build the mask from `uniform`"),  # a mask kept from an earlier call
])
def test_dropout_forward_mistakes_are_named(kind, match):
    fails("check_dropout_forward", match, dropout_forward=make_dropout(kind))


@pytest.mark.parametrize("kind", ["other polarity", "where"])
def test_dropout_forward_valid_alternatives_pass(kind):
    run("check_dropout_forward", dropout_forward=make_dropout(kind))


def make_dropout_backward(kind):
    def dropout_backward(dout, cache):
        param, mask = cache
        if param["mode"] != "train":
            return dout
        if kind == "in place":
            dout *= mask
            return dout
        p = param["p"]
        return {"unscaled": dout * (mask != 0), "identity": dout, "by p": dout * (mask != 0) / p,
                "where": np.where(mask != 0, dout * mask, 0.0)}[kind]
    return dropout_backward


@pytest.mark.parametrize("kind, match", [
    ("unscaled", "misses the factor 1/\\(1 - p\\)"),
    ("identity", "dx is dout in train mode"),
    ("by p", "scaled by 1/p"),
    ("in place", "in place"),
])
def test_dropout_backward_mistakes_are_named(kind, match):
    fails("check_dropout_backward", match, dropout_backward=make_dropout_backward(kind))


def test_dropout_backward_with_where_passes():
    run("check_dropout_backward", dropout_backward=make_dropout_backward("where"))


# ------------------------------------------------------------------------------ more regularisers
def make_elastic(kind="ok"):
    def elastic_net_penalty(W, l1, l2):
        if kind == "in place":
            W = np.abs(W, out=W) if W.dtype.kind == "f" else np.abs(W)
        W = np.asarray(W, dtype=np.float64)
        if kind == "torch":  # autograd computes the subgradient: not by hand
            w = torch.tensor(W, requires_grad=True)
            penalty = l1 * w.abs().sum() + l2 * (w * w).sum()
            penalty.backward()
            return penalty.item(), w.grad.numpy()
        abs_part = np.abs(W).mean() if kind == "mean" else np.abs(W).sum()
        square = (W * W).mean() if kind == "mean" else (W * W).sum()
        if kind == "frobenius":
            square = np.sqrt(square)
        a, b = (l2, l1) if kind == "swapped" else (l1, l2)
        penalty = a * abs_part + (0.5 if kind == "half" else 1.0) * b * square
        with np.errstate(invalid="ignore", divide="ignore"):
            sign = {"w over abs": W / np.abs(W), "sign at 0 is 1": np.where(W >= 0, 1.0, -1.0), "w": W,
                    "where sign": np.where(W > 0, 1.0, np.where(W < 0, -1.0, 0.0))}.get(kind, np.sign(W))
        dW = a * sign + (1.0 if kind in ("half", "l2 w") else 2.0) * b * W
        return float(penalty), dW
    return elastic_net_penalty


@pytest.mark.parametrize("kind, match", [
    ("half", "CS231n's convention"),
    ("frobenius", "Frobenius"),
    ("mean", "averaged"),
    ("swapped", "swapped"),
    ("w over abs", "not finite where W = 0"),
    ("l2 w", "the L2 part of dW is l2 \\* W"),
    ("sign at 0 is 1", "l1 at W = 0"),
    ("w", "l1 \\* W"),
    ("in place", "in place"),
    ("torch", "must be written by hand with NumPy"),
])
def test_elastic_net_mistakes_are_named(kind, match):
    fails("check_elastic_net", match, elastic_net_penalty=make_elastic(kind))


def test_elastic_net_with_np_where_sign_passes():
    run("check_elastic_net", elastic_net_penalty=make_elastic("where sign"))


def make_max_norm(kind="ok"):
    def max_norm_project(W, max_norm):
        if kind == "loop":
            out = W.copy()
            for j in range(W.shape[1]):
                norm = np.linalg.norm(W[:, j])
                if norm > max_norm:
                    out[:, j] = W[:, j] * max_norm / norm
            return out
        if kind == "comprehension":
            columns = [c * min(1.0, max_norm / max(np.linalg.norm(c), 1e-300)) for c in W.T]
            return np.stack(columns, axis=1)
        if kind == "clip":
            return np.clip(W, -max_norm, max_norm)
        if kind == "torch":
            return torch.renorm(torch.from_numpy(W), p=2, dim=1, maxnorm=max_norm).numpy()
        if kind == "returns W" and np.all(np.linalg.norm(W, axis=0) <= max_norm):
            return W                                     # nothing to do: the caller's array itself
        norms = np.linalg.norm(W, axis=1 if kind == "rows" else 0, keepdims=True)
        if kind == "where":  # valid (its c / 0 for a zero column is not used)
            return np.where(norms > max_norm, W * max_norm / norms, W)
        factor = max_norm / np.maximum(norms, 1e-300)
        if kind == "all":
            return W * factor
        if kind == "in place":
            W *= np.minimum(1.0, factor)
            return W
        return W * np.minimum(1.0, factor)
    return max_norm_project


@pytest.mark.parametrize("kind, match", [
    ("rows", "ROWS of W"),
    ("all", "short ones UP"),
    ("clip", "clipped each weight"),
    ("in place", "in place"),
    ("loop", "must not loop"),
    ("comprehension", "must not loop"),
    ("torch", "must be written by hand with NumPy"),
    ("returns W", "returns a view of its argument"),
])
def test_max_norm_mistakes_are_named(kind, match):
    fails("check_max_norm", match, max_norm_project=make_max_norm(kind))


def test_max_norm_with_np_where_passes():
    run("check_max_norm", max_norm_project=make_max_norm("where"))


def make_dropconnect(kind="ok"):
    def dropconnect_forward(x, w, b, p, uniform):
        keep = {"keep convention": uniform < p, "other polarity": uniform < 1 - p,
                "rows": np.broadcast_to(uniform[:, :1] >= p, uniform.shape)}.get(kind, uniform >= p)
        scale = {"no rescale": 1.0, "times keep": 1 - p, "keep convention": 1 / p if p else 1.0}.get(kind, 1 / (1 - p))
        if kind == "in place":
            w *= keep * scale
            return x @ w + b
        if kind == "einsum":  # valid
            return np.einsum("nd,dm->nm", x, np.where(keep, w * scale, 0.0)) + b
        out = x @ (w * keep * scale)
        return out + (b * keep[0] * scale if kind == "bias dropped" else b)
    return dropconnect_forward


@pytest.mark.parametrize("kind, match", [
    ("keep convention", "DROPPING a weight"),
    ("no rescale", "not rescaled"),
    ("times keep", "multiplied by 1 - p"),
    ("bias dropped", "bias was dropped"),
    ("rows", "drops whole inputs"),
    ("in place", "in place"),
])
def test_dropconnect_mistakes_are_named(kind, match):
    fails("check_dropconnect", match, dropconnect_forward=make_dropconnect(kind))


@pytest.mark.parametrize("kind", ["other polarity", "einsum"])
def test_dropconnect_valid_alternatives_pass(kind):
    run("check_dropconnect", dropconnect_forward=make_dropconnect(kind))


def make_stochastic_depth(kind="ok"):
    def stochastic_depth(x, residual, p, mode, uniform):
        if mode == "test":
            return x + (1 - p) * residual if kind == "paper test" else x + residual
        keep = {"keep convention": uniform < p, "other polarity": uniform < 1 - p}.get(kind, uniform >= p)
        scale = {"no rescale": 1.0, "paper test": 1.0, "keep convention": 1 / p if p else 1.0}.get(kind, 1 / (1 - p))
        gate = (keep * scale)[:, None]
        if kind == "skip dropped":
            return gate * (x + residual)
        if kind == "in place":
            x += gate * residual
            return x
        if kind == "where":  # valid
            return np.where(keep[:, None], x + residual * scale, x)
        return x + gate * residual
    return stochastic_depth


@pytest.mark.parametrize("kind, match", [
    ("skip dropped", "skip path too"),
    ("keep convention", "DROPPING it"),
    ("no rescale", "not rescaled"),
    ("paper test", "paper's convention"),
    ("in place", "in place"),
])
def test_stochastic_depth_mistakes_are_named(kind, match):
    fails("check_stochastic_depth", match, stochastic_depth=make_stochastic_depth(kind))


@pytest.mark.parametrize("kind", ["other polarity", "where"])
def test_stochastic_depth_valid_alternatives_pass(kind):
    run("check_stochastic_depth", stochastic_depth=make_stochastic_depth(kind))


# -------------------------------------------------------------------------------------- the net
def make_net(kind="ok"):
    """A FullyConnectedNet whose loss a student wrote, with one switchable mistake."""
    base = solution()["FullyConnectedNet"]

    class Net(base):
        def loss(self, X, y=None):
            X = X.astype(self.dtype)
            mode = "test" if y is None else "train"
            self.dropout_param["mode"] = mode
            for norm_param in self.norm_params:
                norm_param["mode"] = mode
            forward = {"batchnorm": self.batchnorm_forward,
                       "layernorm": self.layernorm_forward}.get(self.normalization)
            backward = {"batchnorm": self.batchnorm_backward,
                        "layernorm": self.layernorm_backward}.get(self.normalization)
            L, h, caches = self.num_layers, X, []
            for layer in range(1, L):
                c = {}
                h, c["affine"] = self.affine_forward(h, self.params[f"W{layer}"], self.params[f"b{layer}"])
                if kind == "relu first":
                    h, c["relu"] = self.relu_forward(h)
                if forward:
                    norm_param = {"mode": mode} if kind == "fresh norm dicts" else self.norm_params[layer - 1]
                    h, c["norm"] = forward(h, self.params[f"gamma{layer}"], self.params[f"beta{layer}"], norm_param)
                if kind != "relu first":
                    h, c["relu"] = self.relu_forward(h)
                if self.use_dropout:
                    h, c["dropout"] = self.dropout_forward(h, self.dropout_param)
                caches.append(c)
            scores, last = self.affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])
            drop_scores = kind == "dropout on the scores" and self.use_dropout
            if drop_scores:
                scores, score_cache = self.dropout_forward(scores, self.dropout_param)
            if y is None:
                if kind == "probabilities":
                    shifted = np.exp(scores - scores.max(axis=1, keepdims=True))
                    return shifted / shifted.sum(axis=1, keepdims=True)
                return scores
            loss, dscores = self.softmax_loss(scores, y)
            if drop_scores:
                dscores = self.dropout_backward(dscores, score_cache)
            grads = {}
            dh, grads[f"W{L}"], grads[f"b{L}"] = self.affine_backward(dscores, last)
            for layer in range(L - 1, 0, -1):
                c = caches[layer - 1]
                if self.use_dropout and kind != "no dropout backward":
                    dh = self.dropout_backward(dh, c["dropout"])
                if kind != "relu first":
                    dh = self.relu_backward(dh, c["relu"])
                if backward:
                    dh, grads[f"gamma{layer}"], grads[f"beta{layer}"] = backward(dh, c["norm"])
                if kind == "relu first":
                    dh = self.relu_backward(dh, c["relu"])
                dh, grads[f"W{layer}"], grads[f"b{layer}"] = self.affine_backward(dh, c["affine"])
            penalised = [k for k in self.params if k.startswith("W")]
            if kind == "reg on biases":
                penalised += [k for k in self.params if k.startswith("b")]
            if kind == "reg on gamma/beta":
                penalised += [k for k in self.params if k.startswith(("gamma", "beta"))]
            for name in penalised:
                W = self.params[name]
                factor = 0.5 if kind == "half reg" else 1.0
                loss += factor * self.reg * np.sum(W * W)
                if kind == "no reg gradient":
                    continue
                grad_factor = 1.0 if kind in ("half reg", "reg gradient without 2") else 2.0
                if kind == "aliased params":  # dW = W, then updated in place: changes the parameter
                    dW = W
                    dW *= 1.0
                    dW += grad_factor * self.reg * W * 0 + grads[name]
                    grads[name] = dW
                else:
                    grads[name] = grads[name] + grad_factor * self.reg * W
            return loss, grads

    return Net


@pytest.mark.parametrize("kind, match", [
    ("half reg", "CS231n's convention"),
    ("reg on biases", "biases were regularised"),
    ("reg on gamma/beta", "gamma and beta were regularised"),
    ("relu first", "ReLU came before the normalisation"),
    ("dropout on the scores", "dropout was applied to the scores"),
    ("reg gradient without 2", "has reg \\* W from the L2 term"),
    ("no reg gradient", "lacks the L2 term's gradient"),
    ("fresh norm dicts", "initial running averages"),
    ("probabilities", "softmax probabilities"),
    ("aliased params", "changed the parameters in place"),
    ("no dropout backward", "does not match"),
])
def test_fc_net_mistakes_are_named(kind, match):
    fails("check_fc_net", match, FullyConnectedNet=make_net(kind))


def test_fc_net_written_another_way_passes():
    run("check_fc_net", FullyConnectedNet=make_net("ok"))


def test_a_wrong_batchnorm_or_dropout_does_not_cost_the_net_cell():
    """The net's check gives the net torch layers: mistakes of earlier cells cost only those cells."""
    run("check_fc_net", batchnorm_backward=make_norm_backward(0, "naive"), dropout_forward=make_dropout("no rescale"),
        layernorm_forward=make_ln_forward("batch axis"))


def test_a_wrong_forward_pass_does_not_cost_the_backward_cell():
    run("check_batchnorm_backward", batchnorm_forward=make_bn_forward("rows"))
    run("check_layernorm_backward", layernorm_forward=make_ln_forward("batch axis"))
