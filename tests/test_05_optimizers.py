"""Notebook 05_optimizers: the solution passes every grade cell; wrong versions fail naming the mistake.

Each wrong version is a complete update rule (or schedule) written the way a student writes it,
with one classic mistake or another course's convention; its grade cell (visible and hidden
checks) must fail with a message that names it. Valid alternatives (another order of the
operations, state kept in place, a new config dict, NumPy functions instead of math) must pass.
Conventions: momentum v = mu*v + dw, w -= lr*v (torch's); Nesterov w -= lr*(dw + mu*v); torch's
weight_decay adds weight_decay * w (the L2 term reg * sum(w**2) with reg = weight_decay / 2).
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from gradecells import graded_ids, run_grade_cell, solution_notebook
from visible_checks import visible_part_fails

NOTEBOOK = "05_optimizers"
GRADE_IDS = ["check_sgd", "check_sgd_momentum", "check_nesterov", "check_adagrad", "check_rmsprop",
             "check_adadelta", "check_adam", "check_adamw", "check_simple_schedules", "check_cosine_schedule",
             "check_warmup_cosine", "check_decay_schedules"]


def _cells() -> list[dict]:
    return json.loads(solution_notebook(NOTEBOOK).read_text(encoding="utf-8"))["cells"]


def _meta(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run_grade_cell(NOTEBOOK, grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)


def test_checker_functions_hide_their_frames():
    source = "".join(next(c for c in _cells() if _meta(c).get("grade_id") == "checkers")["source"])
    for function in re.split(r"\n(?=def )", source):
        if re.search(r"\b(check|assert_\w+)\(", function):
            assert "__tracebackhide__ = True" in function, function.splitlines()[0]


# Mistakes that only the hidden checks see (an unusual argument value, a default): the rest must
# already fail the VISIBLE checks, which the student runs.
HIDDEN_ONLY = {"custom epsilon", "rmsprop with a large epsilon", "epsilon", "read gamma", "min_lr is ignored",
               "added on top", "config\\['beta1'\\] / config\\['beta2'\\] are ignored"}


def fails(grade_id: str, match: str, **overrides) -> None:
    visible_part_fails(NOTEBOOK, grade_id, match, visible_only=match not in HIDDEN_ONLY, **overrides)


def passes(grade_id: str, **overrides) -> None:
    run_grade_cell(NOTEBOOK, grade_id, **overrides)


def _defaults(config, **values):
    config = {} if config is None else config
    for key, value in values.items():
        config.setdefault(key, value)
    return config


# ------------------------------------------------------------------------------------------ SGD
def sgd_uphill(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2)
    return w + config["learning_rate"] * dw, config


def sgd_in_place(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def sgd_default_rate(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2)
    return w - 1e-2 * dw, config


def sgd_float64(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2)
    return np.asarray(w, dtype=np.float64) - config["learning_rate"] * dw, config


def sgd_with_torch(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2)
    return (torch.from_numpy(w) - config["learning_rate"] * torch.from_numpy(dw)).numpy(), config


def sgd_new_config(w, dw, config=None):  # valid: a new dict instead of changing the one passed in
    lr = (config or {}).get("learning_rate", 1e-2)
    return np.subtract(w, lr * dw), {**(config or {}), "learning_rate": lr}


@pytest.mark.parametrize("wrong, match", [
    (sgd_uphill, "UP the gradient"),
    (sgd_in_place, "changed w in place"),
    (sgd_default_rate, "ignored config\\['learning_rate'\\]"),
    (sgd_float64, "dtype float64, expected float32"),
    (sgd_with_torch, "must be written by hand with NumPy"),
])
def test_sgd_mistakes_are_named(wrong, match):
    fails("check_sgd", match, sgd=wrong)


def test_sgd_valid_alternative_passes():
    passes("check_sgd", sgd=sgd_new_config)


# ------------------------------------------------------------------------------------- momentum
def make_momentum(kind="torch", nesterov=False):
    def rule(w, dw, config=None):
        config = _defaults(config, learning_rate=1e-2, momentum=0.9)
        lr, mu = config["learning_rate"], (0.9 if kind == "fixed mu" else config["momentum"])
        old = config.get("velocity", np.zeros_like(w))
        if kind == "cs231n":
            v = mu * old - lr * dw
            config["velocity"] = v
            return (w - mu * old + (1 + mu) * v) if nesterov else (w + v), config
        if kind == "dampened":
            v = mu * old + (1 - mu) * dw
        elif kind == "stateless":
            v = mu * np.zeros_like(w) + dw
        elif kind == "aliases dw":  # keeps dw itself as the velocity, then updates it in place
            if "velocity" not in config:
                config["velocity"] = dw
                v = dw
            else:
                v = config["velocity"]
                v *= mu
                v += dw
        elif kind == "in place state":  # valid: the state array of the config updated in place
            v = config.setdefault("velocity", np.zeros_like(w))
            v *= mu
            v += dw
        else:
            v = mu * old + dw
        if kind == "plain" or not nesterov:
            step = v
        elif kind == "expanded":  # valid: Nesterov as w - lr (1 + mu) dw - lr mu^2 v_old
            config["velocity"] = v
            return w - lr * (1 + mu) * dw - lr * mu * mu * old, config
        else:
            step = dw + mu * v
        config["velocity"] = v
        return w - lr * step, config
    return rule


@pytest.mark.parametrize("kind, match", [
    ("cs231n", "CS231n's convention"),
    ("stateless", "not kept between calls"),
    ("dampened", "dampening"),
    ("fixed mu", "config\\['momentum'\\] is ignored"),
    ("aliases dw", "changed a gradient dw in place"),
])
def test_momentum_mistakes_are_named(kind, match):
    fails("check_sgd_momentum", match, sgd_momentum=make_momentum(kind))


@pytest.mark.parametrize("kind, match", [
    ("plain", "plain momentum"),
    ("cs231n", "CS231n's form of Nesterov"),
    ("stateless", "not kept between calls"),
    ("fixed mu", "config\\['momentum'\\] is ignored"),
])
def test_nesterov_mistakes_are_named(kind, match):
    fails("check_nesterov", match, nesterov=make_momentum(kind, nesterov=True))


def test_momentum_valid_alternatives_pass():
    passes("check_sgd_momentum", sgd_momentum=make_momentum("in place state"))
    passes("check_nesterov", nesterov=make_momentum("expanded", nesterov=True))
    passes("check_nesterov", nesterov=make_momentum("in place state", nesterov=True))


# ------------------------------------------------------------------------- AdaGrad and RMSProp
def make_squares(decay=None, one_minus=True, eps_inside=False, keep=True, fixed_decay=None, fixed_eps=None,
                 in_place=False, default_eps=1e-10):
    """AdaGrad (decay None) or RMSProp (decay = config's decay_rate) with switchable mistakes."""
    def rule(w, dw, config=None):
        config = _defaults(config, learning_rate=1e-2, epsilon=default_eps,
                           **({} if decay is None else {"decay_rate": 0.99}))
        eps = config["epsilon"] if fixed_eps is None else fixed_eps
        rho = None if decay is None else (fixed_decay or config["decay_rate"])
        s = config.get("grad_squared", np.zeros_like(w)) if keep else np.zeros_like(w)
        if in_place:  # valid: update the state array in place
            s = config.setdefault("grad_squared", np.zeros_like(w))
            if rho is None:
                np.add(s, dw * dw, out=s)
            else:
                s *= rho
                s += (1 - rho) * dw * dw
        elif rho is None:
            s = s + dw * dw
        else:
            s = rho * s + ((1 - rho) if one_minus else 1.0) * dw * dw
        config["grad_squared"] = s
        denominator = np.sqrt(s + eps) if eps_inside else np.sqrt(s) + eps
        return w - config["learning_rate"] * dw / denominator, config
    return rule


@pytest.mark.parametrize("wrong, match", [
    (make_squares(decay=True, fixed_decay=0.99), "that is RMSProp"),
    (make_squares(eps_inside=True), "epsilon went inside the square root"),
    (make_squares(keep=False), "not kept between calls"),
    (make_squares(fixed_eps=1e-10), "epsilon"),
])
def test_adagrad_mistakes_are_named(wrong, match):
    fails("check_adagrad", match, adagrad=wrong)


@pytest.mark.parametrize("wrong, match", [
    (make_squares(decay=True, one_minus=False, default_eps=1e-8), "\\(1 - decay_rate\\) factor"),
    (make_squares(default_eps=1e-8), "that is AdaGrad"),
    (make_squares(decay=True, eps_inside=True, default_eps=1e-8), "epsilon went inside the square root"),
    (make_squares(decay=True, fixed_decay=0.99, default_eps=1e-8), "config\\['decay_rate'\\] is ignored"),
    (make_squares(decay=True, keep=False, default_eps=1e-8), "not kept between calls"),
    (make_squares(decay=True, fixed_eps=1e-8, default_eps=1e-8), "rmsprop with a large epsilon"),
])
def test_rmsprop_mistakes_are_named(wrong, match):
    fails("check_rmsprop", match, rmsprop=wrong)


def test_adagrad_and_rmsprop_with_state_updated_in_place_pass():
    passes("check_adagrad", adagrad=make_squares(in_place=True))
    passes("check_rmsprop", rmsprop=make_squares(decay=True, in_place=True, default_eps=1e-8))


# ------------------------------------------------------------------------------------ Adadelta
def make_adadelta(eps_outside=False, old_square=False, delta_of_grad=False, use_lr=True, fixed_rho=None,
                  fixed_eps=None, keep=True, float64=False, in_place=False):
    def rule(w, dw, config=None):
        config = _defaults(config, learning_rate=1.0, rho=0.9, epsilon=1e-6)
        rho = fixed_rho or config["rho"]
        eps = config["epsilon"] if fixed_eps is None else fixed_eps
        if float64:
            w, dw = np.asarray(w, dtype=np.float64), np.asarray(dw, dtype=np.float64)
        zeros = np.zeros_like(w)
        s_old = config.get("grad_squared", zeros) if keep else zeros
        u_old = config.get("delta_squared", zeros) if keep else zeros
        s_new = rho * s_old + (1 - rho) * dw * dw
        s_used = s_old if old_square else s_new
        with np.errstate(divide="ignore", invalid="ignore"):
            if eps_outside:
                update = (np.sqrt(u_old) + eps) / (np.sqrt(s_used) + eps) * dw
            else:
                update = np.sqrt(u_old + eps) / np.sqrt(s_used + eps) * dw
        if in_place:  # valid: the two state arrays updated in place, after the update is computed
            s = config.setdefault("grad_squared", np.zeros_like(w))
            u = config.setdefault("delta_squared", np.zeros_like(w))
            s[...] = s_new
            u *= rho
            u += (1 - rho) * update * update
        else:
            config["grad_squared"] = s_new
            config["delta_squared"] = rho * u_old + (1 - rho) * (dw * dw if delta_of_grad else update * update)
        return w - (config["learning_rate"] if use_lr else 1.0) * update, config
    return rule


@pytest.mark.parametrize("wrong, match", [
    (make_adadelta(eps_outside=True), "epsilon went outside the square roots"),
    (make_adadelta(old_square=True), "grad_squared from BEFORE this step"),
    (make_adadelta(delta_of_grad=True), "squared UPDATES"),
    (make_adadelta(use_lr=False), "config\\['learning_rate'\\] is ignored"),
    (make_adadelta(fixed_rho=0.9), "config\\['rho'\\] is ignored"),
    (make_adadelta(keep=False), "adadelta"),
    (make_adadelta(fixed_eps=1e-6), "custom epsilon"),
    (make_adadelta(float64=True), "dtype float64, expected float32"),
])
def test_adadelta_mistakes_are_named(wrong, match):
    fails("check_adadelta", match, adadelta=wrong)


def test_adadelta_with_state_updated_in_place_passes():
    passes("check_adadelta", adadelta=make_adadelta(in_place=True))


# ---------------------------------------------------------------------------------- Adam, AdamW
def make_adam(corrected=True, t_from_zero=False, eps_inside=False, wd_factor=1.0, decoupled=False,
              ignore_wd=False, fixed_betas=False, paper_epsilon=False, in_place=False):
    def rule(w, dw, config=None):
        config = _defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                           weight_decay=0.0, m=np.zeros_like(w), v=np.zeros_like(w), t=0)
        b1, b2 = (0.9, 0.999) if fixed_betas else (config["beta1"], config["beta2"])
        lr, eps, wd = config["learning_rate"], config["epsilon"], config["weight_decay"]
        g = dw if decoupled or ignore_wd else dw + wd_factor * wd * w
        if not t_from_zero:
            config["t"] += 1
        t = config["t"]
        if in_place:  # valid: the moments updated in place
            config["m"] *= b1
            config["m"] += (1 - b1) * g
            config["v"] *= b2
            config["v"] += (1 - b2) * g * g
        else:
            config["m"] = b1 * config["m"] + (1 - b1) * g
            config["v"] = b2 * config["v"] + (1 - b2) * g * g
        if t_from_zero:
            config["t"] += 1
        m, v = config["m"], config["v"]
        with np.errstate(divide="ignore", invalid="ignore"):
            if paper_epsilon:  # the Adam paper's "efficient" form: epsilon added to sqrt(v), not sqrt(v_hat)
                step = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * m / (np.sqrt(v) + eps)
            else:
                m_hat, v_hat = (m / (1 - b1 ** t), v / (1 - b2 ** t)) if corrected else (m, v)
                step = lr * (m_hat / np.sqrt(v_hat + eps) if eps_inside else m_hat / (np.sqrt(v_hat) + eps))
        return w - step - (lr * wd * w if decoupled else 0.0), config
    return rule


@pytest.mark.parametrize("wrong, match", [
    (make_adam(corrected=False), "missing bias correction"),
    (make_adam(t_from_zero=True), "is t = 0 at the first step"),
    (make_adam(eps_inside=True), "epsilon went inside the square root"),
    (make_adam(paper_epsilon=True), "efficient form"),
    (make_adam(wd_factor=2.0), "reg = weight_decay / 2"),
    (make_adam(decoupled=True), "AdamW's decoupled decay"),
    (make_adam(ignore_wd=True), "config\\['weight_decay'\\] is ignored"),
    (make_adam(fixed_betas=True), "config\\['beta1'\\] / config\\['beta2'\\] are ignored"),
])
def test_adam_mistakes_are_named(wrong, match):
    fails("check_adam", match, adam=wrong)


def test_adam_with_moments_updated_in_place_passes():
    passes("check_adam", adam=make_adam(in_place=True))


def make_adamw(mistake=None):
    def rule(w, dw, config=None):
        config = _defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                           weight_decay=1e-2, m=np.zeros_like(w), v=np.zeros_like(w), t=0)
        b1, b2, lr, wd = config["beta1"], config["beta2"], config["learning_rate"], config["weight_decay"]
        g = dw + wd * w if mistake == "through the gradient" else dw
        config["t"] += 1
        t = config["t"]
        config["m"] = b1 * config["m"] + (1 - b1) * g
        config["v"] = b2 * config["v"] + (1 - b2) * g * g
        step = lr * (config["m"] / (1 - b1 ** t)) / (np.sqrt(config["v"] / (1 - b2 ** t)) + config["epsilon"])
        if mistake == "through the gradient" or mistake == "no decay":
            return w - step, config
        if mistake == "not scaled by lr":
            return w - wd * w - step, config
        if mistake == "after the step":
            return (w - step) * (1 - lr * wd), config
        return w * (1 - lr * wd) - step, config  # valid: torch's order of writing it
    return rule


@pytest.mark.parametrize("mistake, match", [
    ("through the gradient", "decay through the gradient"),
    ("not scaled by lr", "not multiplied by the learning rate"),
    ("after the step", "AFTER the Adam step"),
    ("no decay", "config\\['weight_decay'\\] is ignored"),
])
def test_adamw_mistakes_are_named(mistake, match):
    fails("check_adamw", match, adamw=make_adamw(mistake))


def test_adamw_written_as_a_shrink_factor_passes():
    passes("check_adamw", adamw=make_adamw())


# ------------------------------------------------------------------------------------ schedules
def cosine(step, base_lr, total_steps, min_lr=0.0, period=None, floor="scaled"):
    x = step / (period or total_steps)
    if floor == "ignored":
        return 0.5 * base_lr * (1 + math.cos(math.pi * x))
    if floor == "added":
        return min_lr + 0.5 * base_lr * (1 + math.cos(math.pi * x))
    return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * x))


def warmup(step, base_lr, warmup_steps, total_steps, min_lr=0.0, kind="ok"):
    if step < warmup_steps:
        return base_lr * (step if kind == "from zero" else step + 1) / warmup_steps
    if kind == "unshifted":
        return cosine(step, base_lr, total_steps, min_lr)
    return cosine(step - warmup_steps, base_lr, total_steps - warmup_steps, min_lr)


SCHEDULE_MISTAKES = [
    ("check_simple_schedules", "step_decay", lambda t, lr, s, g=0.5: lr * g ** ((t + 1) // s), "one step too early"),
    ("check_simple_schedules", "step_decay", lambda t, lr, s, g=0.5: lr * g ** (t // (s + 1)), "step_size \\+ 1"),
    ("check_simple_schedules", "step_decay", lambda t, lr, s, g=0.5: lr * 0.5 ** (t // s), "read gamma"),
    ("check_simple_schedules", "exponential_decay", lambda t, lr, g: lr * g ** (t + 1), "one step ahead"),
    ("check_cosine_schedule", "cosine_schedule", lambda t, lr, T, m=0.0: cosine(t, lr, T, m, period=T - 1),
     "total_steps - 1"),
    ("check_cosine_schedule", "cosine_schedule", lambda t, lr, T, m=0.0: cosine(t, lr, T, m, period=2 * T),
     "half a period"),
    ("check_cosine_schedule", "cosine_schedule", lambda t, lr, T, m=0.0: cosine(t, lr, T, m, floor="ignored"),
     "min_lr is ignored"),
    ("check_cosine_schedule", "cosine_schedule", lambda t, lr, T, m=0.0: cosine(t, lr, T, m, floor="added"),
     "added on top"),
    ("check_warmup_cosine", "warmup_cosine", lambda t, lr, W, T, m=0.0: warmup(t, lr, W, T, m, kind="from zero"),
     "starts at learning rate 0"),
    ("check_warmup_cosine", "warmup_cosine", lambda t, lr, W, T, m=0.0: warmup(t, lr, W, T, m, kind="unshifted"),
     "not shifted by the warm-up"),
    ("check_decay_schedules", "linear_decay", lambda t, lr, T: lr * (1 - t / T), "clip it"),
    ("check_decay_schedules", "linear_decay", lambda t, lr, T: lr * max(0.0, 1 - t / (T - 1)), "one step early"),
    ("check_decay_schedules", "inverse_sqrt_decay", lambda t, lr: lr / math.sqrt(t),
     "divided by zero|steps count from 0"),
    ("check_decay_schedules", "inverse_sqrt_decay", lambda t, lr: lr / (t + 1), "the 1/t decay"),
    ("check_decay_schedules", "inverse_sqrt_decay", lambda t, lr: math.sqrt(lr / (t + 1)), "also went over base_lr"),
    ("check_decay_schedules", "inverse_time_decay", lambda t, lr, k: lr / (k * t), "steps count from 0"),
    ("check_decay_schedules", "inverse_time_decay", lambda t, lr, k: lr / (1 + k) ** t, "exponential decay"),
    ("check_decay_schedules", "inverse_time_decay", lambda t, lr, k: lr / (1 + t), "decay_rate is ignored"),
    ("check_decay_schedules", "inverse_time_decay", lambda t, lr, k: None, "returned None"),
]


@pytest.mark.parametrize("grade_id, name, wrong, match", SCHEDULE_MISTAKES,
                         ids=[f"{name}-{i}" for i, (_, name, _, _) in enumerate(SCHEDULE_MISTAKES)])
def test_schedule_mistakes_are_named(grade_id, name, wrong, match):
    fails(grade_id, match, **{name: wrong})


def test_schedules_written_with_numpy_or_other_formulas_pass():
    passes("check_simple_schedules", step_decay=lambda t, lr, s, g=0.5: lr * np.power(g, int(t / s)),
           exponential_decay=lambda t, lr, g: lr * math.exp(t * math.log(g)))
    passes("check_cosine_schedule",
           cosine_schedule=lambda t, lr, T, m=0.0: m + (lr - m) * np.cos(np.pi * t / (2 * T)) ** 2)
    passes("check_warmup_cosine",
           warmup_cosine=lambda t, lr, W, T, m=0.0: min((t + 1) / W, 1.0) * lr if t < W
           else cosine(t - W, lr, T - W, m))
    passes("check_decay_schedules", linear_decay=lambda t, lr, T: lr * np.clip(1 - t / T, 0, None),
           inverse_sqrt_decay=lambda t, lr: lr * (t + 1) ** -0.5,
           inverse_time_decay=lambda t, lr, k: np.float64(lr) / np.float64(1 + k * t))

