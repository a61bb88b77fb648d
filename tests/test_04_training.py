"""Notebook 04_training: every grade cell passes on the solution and names each classic mistake.

Each test builds a wrong version of one student function and runs the grade cell (hidden tests
included) against it through `run_grade_cell`; the check must fail with a message that names
the mistake.
"""

from __future__ import annotations

import json
from functools import lru_cache

import numpy as np
import pytest
from gradecells import grade_cell_fails, notebook_namespace, run_grade_cell, solution_notebook

ASSIGNMENT = "04_training"
GRADE_IDS = [
    "check_xavier_init",
    "check_kaiming_init",
    "check_batchnorm_forward",
    "check_batchnorm_backward",
    "check_layernorm_forward",
    "check_layernorm_backward",
    "check_dropout_forward",
    "check_dropout_backward",
    "check_fc_net",
]


def _cells() -> list[dict]:
    return json.loads(solution_notebook(ASSIGNMENT).read_text(encoding="utf-8"))["cells"]


@lru_cache(maxsize=1)
def solution() -> dict:
    """The namespace after the setup cell, the given reference layers and every solution cell."""
    return notebook_namespace(ASSIGNMENT)


def run(grade_id: str, **overrides):
    return run_grade_cell(ASSIGNMENT, grade_id, **overrides)


def fails(grade_id: str, match: str, **overrides) -> None:
    grade_cell_fails(ASSIGNMENT, grade_id, match, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cells(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_and_has_points():
    graded = {
        c["metadata"]["nbgrader"]["grade_id"]: c["metadata"]["nbgrader"].get("points", 0)
        for c in _cells()
        if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")
    }
    assert sorted(graded) == sorted(GRADE_IDS)
    assert all(points >= 1 for points in graded.values())


# ---- initialisation ------------------------------------------------------------------------

def test_xavier_with_fan_out_is_named():
    fails("check_xavier_init", "fan_IN",
          xavier_init=lambda fan_in, fan_out, rng=None: rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_out))


def test_xavier_without_square_root_is_named():
    fails("check_xavier_init", "square root",
          xavier_init=lambda fan_in, fan_out, rng=None: rng.standard_normal((fan_in, fan_out)) / fan_in)


def test_xavier_ignoring_the_rng_is_named():
    fails("check_xavier_init", "rng passed in",
          xavier_init=lambda fan_in, fan_out, rng=None: np.random.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in))


def test_kaiming_without_the_factor_two_is_named():
    fails("check_kaiming_init", "ReLU halves",
          kaiming_init=lambda fan_in, fan_out, rng=None: rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in))


def test_kaiming_with_two_on_the_std_is_named():
    fails("check_kaiming_init", "factor 2 goes on the variance",
          kaiming_init=lambda fan_in, fan_out, rng=None: rng.standard_normal((fan_in, fan_out)) * 2 / np.sqrt(fan_in))


# ---- batch norm ----------------------------------------------------------------------------

def _bn_reference(x, gamma, beta, bn_param, *, biased_running_var=False, swap_momentum=False,
                  update_in_test=False, batch_stats_in_test=False):
    """A batch norm forward with switchable mistakes (test-only reference, not the solution)."""
    mode, eps, rho = bn_param["mode"], bn_param.get("eps", 1e-5), bn_param.get("momentum", 0.9)
    if swap_momentum:
        rho = 1 - rho
    N, D = x.shape
    rm = bn_param.get("running_mean", np.zeros(D))
    rv = bn_param.get("running_var", np.ones(D))
    mu, var = x.mean(axis=0), x.var(axis=0)
    if mode == "train" or batch_stats_in_test:
        out = gamma * (x - mu) / np.sqrt(var + eps) + beta
    else:
        out = gamma * (x - rm) / np.sqrt(rv + eps) + beta
    if mode == "train" or update_in_test:
        unbiased = var if biased_running_var else var * N / (N - 1)
        bn_param["running_mean"] = rho * rm + (1 - rho) * mu
        bn_param["running_var"] = rho * rv + (1 - rho) * unbiased
    else:
        bn_param["running_mean"], bn_param["running_var"] = rm, rv
    return out, None


def test_batchnorm_reference_passes():
    run("check_batchnorm_forward", batchnorm_forward=_bn_reference)


def test_batchnorm_updating_running_averages_in_test_mode_is_named():
    fails("check_batchnorm_forward", "must NOT update",
          batchnorm_forward=lambda *a: _bn_reference(*a, update_in_test=True))


def test_batchnorm_biased_running_variance_is_named():
    fails("check_batchnorm_forward", "unbiased",
          batchnorm_forward=lambda *a: _bn_reference(*a, biased_running_var=True))


def test_batchnorm_momentum_on_the_new_value_is_named():
    fails("check_batchnorm_forward", "weight of the OLD value",
          batchnorm_forward=lambda *a: _bn_reference(*a, swap_momentum=True))


def test_batchnorm_batch_statistics_in_test_mode_is_named():
    fails("check_batchnorm_forward", "running averages",
          batchnorm_forward=lambda *a: _bn_reference(*a, batch_stats_in_test=True))


def test_batchnorm_backward_without_mean_and_variance_terms_is_named():
    def naive_backward(dout, cache):
        mode, x_hat, gamma, inv_std = cache
        return dout * gamma * inv_std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)

    fails("check_batchnorm_backward", "batch mean and variance", batchnorm_backward=naive_backward)


def test_batchnorm_backward_ignoring_test_mode_is_caught():
    correct = solution()["batchnorm_backward"]

    def train_formula_always(dout, cache):
        return correct(dout, ("train", *cache[1:]))

    fails("check_batchnorm_backward", "test mode", batchnorm_backward=train_formula_always)


# ---- layer norm ----------------------------------------------------------------------------

def test_layernorm_over_the_batch_axis_is_named():
    def over_batch(x, gamma, beta, ln_param):
        eps = ln_param.get("eps", 1e-5)
        return gamma * (x - x.mean(0)) / np.sqrt(x.var(0) + eps) + beta, None

    fails("check_layernorm_forward", "normalises each ROW", layernorm_forward=over_batch)


def test_layernorm_backward_without_mean_and_variance_terms_is_named():
    def naive_backward(dout, cache):
        x_hat, gamma, inv_std = cache
        return dout * gamma * inv_std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)

    fails("check_layernorm_backward", "drops the terms through each row's mean and variance",
          layernorm_backward=naive_backward)


# ---- dropout -------------------------------------------------------------------------------

def _dropout(x, dropout_param, *, scale="divide", keep_is_drop=False, mask_in_test=False):
    p, mode = dropout_param["p"], dropout_param["mode"]
    rng = np.random.default_rng(dropout_param["seed"]) if "seed" in dropout_param else np.random
    keep = 1 - p if keep_is_drop else p
    mask = (rng.random(x.shape) < keep).astype(float)
    if scale == "divide":
        mask /= keep
    elif scale == "multiply":
        mask *= keep
    if mode == "train" or mask_in_test:
        return x * mask, (dropout_param, mask)
    return x, (dropout_param, None)


def test_dropout_reference_passes():
    run("check_dropout_forward", dropout_forward=_dropout)


def test_dropout_without_scaling_is_named():
    fails("check_dropout_forward", "divides the kept units by the keep probability",
          dropout_forward=lambda x, param: _dropout(x, param, scale=None))


def test_dropout_multiplying_by_p_is_named():
    fails("check_dropout_forward", "DIVIDES them by p",
          dropout_forward=lambda x, param: _dropout(x, param, scale="multiply"))


def test_dropout_with_p_as_drop_probability_is_named():
    fails("check_dropout_forward", "probability of KEEPING",
          dropout_forward=lambda x, param: _dropout(x, param, keep_is_drop=True))


def test_dropout_masking_in_test_mode_is_named():
    fails("check_dropout_forward", "test mode must return x unchanged",
          dropout_forward=lambda x, param: _dropout(x, param, mask_in_test=True))


def test_dropout_backward_with_a_new_mask_is_named():
    def new_mask(dout, cache):
        param, _ = cache
        if param["mode"] != "train":
            return dout
        return dout * (np.random.random(dout.shape) < param["p"]) / param["p"]

    fails("check_dropout_backward", "reuse the mask", dropout_backward=new_mask)


def test_dropout_backward_without_scaling_is_named():
    def unscaled(dout, cache):
        _, mask = cache
        return dout if mask is None else dout * (mask != 0)

    fails("check_dropout_backward", "misses the factor 1/p", dropout_backward=unscaled)


# ---- the deep net --------------------------------------------------------------------------

def _patched_net(patch):
    """A FullyConnectedNet whose loss is post-processed by patch(model, X, y, loss, grads)."""
    base = solution()["FullyConnectedNet"]

    class Wrong(base):
        def loss(self, X, y=None):
            result = super().loss(X, y)
            if y is None:
                return result
            return patch(self, *result)

    return Wrong


def test_fc_net_without_reg_in_the_gradient_is_caught():
    def drop_reg_grad(model, loss, grads):
        for name in grads:
            if name.startswith("W"):
                grads[name] = grads[name] - model.reg * model.params[name]
        return loss, grads

    fails("check_fc_net", r"reg \* W", FullyConnectedNet=_patched_net(drop_reg_grad))


def test_fc_net_regularising_biases_is_named():
    def reg_biases(model, loss, grads):
        extra = sum(np.sum(v ** 2) for k, v in model.params.items() if k.startswith("b"))
        return loss + 0.5 * model.reg * extra, grads

    fails("check_fc_net", "weights only", FullyConnectedNet=_patched_net(reg_biases))


def test_fc_net_with_naive_batchnorm_backward_is_caught():
    def naive_backward(dout, cache):
        mode, x_hat, gamma, inv_std = cache
        return dout * gamma * inv_std, (dout * x_hat).sum(axis=0), dout.sum(axis=0)

    fails("check_fc_net", "normalisation backward", batchnorm_backward=naive_backward)
