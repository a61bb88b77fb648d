"""Notebook 05_optimizers: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is a complete update rule (or schedule) with one classic mistake; its
grade cell (visible and hidden checks) must fail with an AssertionError whose message names it.
The momentum convention is torch's: v = mu * v + dw; w -= lr * v (Nesterov: w -= lr * (dw + mu * v)).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradecells import run_grade_cell

NOTEBOOK = "05_optimizers"
GRADE_IDS = ["check_sgd", "check_sgd_momentum", "check_nesterov", "check_adagrad", "check_rmsprop",
             "check_adam", "check_adamw", "check_simple_schedules", "check_cosine_schedule",
             "check_warmup_cosine"]


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run_grade_cell(NOTEBOOK, grade_id)


def _defaults(config, **values):
    config = {} if config is None else config
    for key, value in values.items():
        config.setdefault(key, value)
    return config


# ------------------------------------------------------------------------ SGD family
def sgd_uphill(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2)
    return w + config["learning_rate"] * dw, config


def test_sgd_moving_uphill_is_named():
    with pytest.raises(AssertionError, match="UP the gradient"):
        run_grade_cell(NOTEBOOK, "check_sgd", sgd=sgd_uphill)


def sgd_in_place(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2)
    w -= config["learning_rate"] * dw
    return w, config


def test_sgd_changing_w_in_place_is_named():
    with pytest.raises(AssertionError, match="in place"):
        run_grade_cell(NOTEBOOK, "check_sgd", sgd=sgd_in_place)


def momentum_forgetting_velocity(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2, momentum=0.9)
    v = config["momentum"] * np.zeros_like(w) + dw  # the velocity is never stored
    return w - config["learning_rate"] * v, config


def test_momentum_without_state_is_named():
    with pytest.raises(AssertionError, match="not kept between calls"):
        run_grade_cell(NOTEBOOK, "check_sgd_momentum", sgd_momentum=momentum_forgetting_velocity)


def momentum_dampened(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2, momentum=0.9)
    mu = config["momentum"]
    config["velocity"] = mu * config.get("velocity", np.zeros_like(w)) + (1 - mu) * dw
    return w - config["learning_rate"] * config["velocity"], config


def test_momentum_as_an_average_is_named():
    with pytest.raises(AssertionError, match="dampening"):
        run_grade_cell(NOTEBOOK, "check_sgd_momentum", sgd_momentum=momentum_dampened)


def momentum_cs231n(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2, momentum=0.9)
    v = config["momentum"] * config.get("velocity", np.zeros_like(w)) - config["learning_rate"] * dw
    config["velocity"] = v
    return w + v, config


def test_momentum_with_learning_rate_inside_the_velocity_is_named():
    # same iterates at a constant learning rate: only the hidden check with a changing rate sees it
    with pytest.raises(AssertionError, match="learning rate inside the velocity"):
        run_grade_cell(NOTEBOOK, "check_sgd_momentum", sgd_momentum=momentum_cs231n)


def nesterov_as_plain_momentum(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2, momentum=0.9)
    config["velocity"] = config["momentum"] * config.get("velocity", np.zeros_like(w)) + dw
    return w - config["learning_rate"] * config["velocity"], config


def test_nesterov_that_is_plain_momentum_is_named():
    with pytest.raises(AssertionError, match="plain momentum"):
        run_grade_cell(NOTEBOOK, "check_nesterov", nesterov=nesterov_as_plain_momentum)


def nesterov_cs231n(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2, momentum=0.9)
    mu, old_v = config["momentum"], config.get("velocity", np.zeros_like(w))
    v = mu * old_v - config["learning_rate"] * dw
    config["velocity"] = v
    return w - mu * old_v + (1 + mu) * v, config


def test_nesterov_with_learning_rate_inside_the_velocity_fails():
    with pytest.raises(AssertionError, match="learning rate out of the velocity"):
        run_grade_cell(NOTEBOOK, "check_nesterov", nesterov=nesterov_cs231n)


# ------------------------------------------------------------------------ adaptive rules
def adagrad_decaying(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2, epsilon=1e-10)
    s = 0.99 * config.get("grad_squared", np.zeros_like(w)) + 0.01 * dw * dw
    config["grad_squared"] = s
    return w - config["learning_rate"] * dw / (np.sqrt(s) + config["epsilon"]), config


def test_adagrad_with_a_decaying_average_is_named():
    with pytest.raises(AssertionError, match="RMSProp"):
        run_grade_cell(NOTEBOOK, "check_adagrad", adagrad=adagrad_decaying)


def adagrad_epsilon_inside(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2, epsilon=1e-10)
    s = config.get("grad_squared", np.zeros_like(w)) + dw * dw
    config["grad_squared"] = s
    return w - config["learning_rate"] * dw / np.sqrt(s + config["epsilon"]), config


def test_adagrad_epsilon_inside_the_root_is_named():
    with pytest.raises(AssertionError, match="outside the square root"):
        run_grade_cell(NOTEBOOK, "check_adagrad", adagrad=adagrad_epsilon_inside)


def rmsprop_without_one_minus_rho(w, dw, config=None):
    config = _defaults(config, learning_rate=1e-2, decay_rate=0.99, epsilon=1e-8)
    s = config["decay_rate"] * config.get("grad_squared", np.zeros_like(w)) + dw * dw
    config["grad_squared"] = s
    return w - config["learning_rate"] * dw / (np.sqrt(s) + config["epsilon"]), config


def test_rmsprop_missing_one_minus_decay_is_named():
    with pytest.raises(AssertionError, match=r"\(1 - decay_rate\) factor"):
        run_grade_cell(NOTEBOOK, "check_rmsprop", rmsprop=rmsprop_without_one_minus_rho)


def make_adam(bias_correction=True, t_from_zero=False):
    def adam(w, dw, config=None):
        config = _defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                           weight_decay=0.0, m=np.zeros_like(w), v=np.zeros_like(w), t=0)
        b1, b2 = config["beta1"], config["beta2"]
        g = dw + config["weight_decay"] * w
        if not t_from_zero:
            config["t"] += 1
        t = config["t"]
        config["m"] = b1 * config["m"] + (1 - b1) * g
        config["v"] = b2 * config["v"] + (1 - b2) * g * g
        m, v = config["m"], config["v"]
        if bias_correction:
            with np.errstate(divide="ignore", invalid="ignore"):
                m, v = m / (1 - b1**t), v / (1 - b2**t)
        if t_from_zero:
            config["t"] += 1
        with np.errstate(divide="ignore", invalid="ignore"):  # t = 0 divides by 0: that is the mistake
            return w - config["learning_rate"] * m / (np.sqrt(v) + config["epsilon"]), config

    return adam


def test_adam_without_bias_correction_is_named():
    with pytest.raises(AssertionError, match="bias correction"):
        run_grade_cell(NOTEBOOK, "check_adam", adam=make_adam(bias_correction=False))


def test_adam_counting_from_zero_fails_with_the_hint():
    with pytest.raises(AssertionError, match="incremented BEFORE use"):
        run_grade_cell(NOTEBOOK, "check_adam", adam=make_adam(t_from_zero=True))


def make_adamw(mistake):
    def adamw(w, dw, config=None):
        config = _defaults(config, learning_rate=1e-3, beta1=0.9, beta2=0.999, epsilon=1e-8,
                           weight_decay=1e-2, m=np.zeros_like(w), v=np.zeros_like(w), t=0)
        b1, b2, lr, wd = config["beta1"], config["beta2"], config["learning_rate"], config["weight_decay"]
        g = dw + wd * w if mistake == "through the gradient" else dw
        config["t"] += 1
        t = config["t"]
        config["m"] = b1 * config["m"] + (1 - b1) * g
        config["v"] = b2 * config["v"] + (1 - b2) * g * g
        step = lr * (config["m"] / (1 - b1**t)) / (np.sqrt(config["v"] / (1 - b2**t)) + config["epsilon"])
        if mistake == "through the gradient":
            return w - step, config
        if mistake == "not scaled by lr":
            return w - wd * w - step, config
        raise ValueError(mistake)

    return adamw


def test_adamw_decaying_through_the_gradient_is_named():
    with pytest.raises(AssertionError, match="decay through the gradient"):
        run_grade_cell(NOTEBOOK, "check_adamw", adamw=make_adamw("through the gradient"))


def test_adamw_decay_not_scaled_by_the_learning_rate_fails():
    with pytest.raises(AssertionError, match="adamw"):
        run_grade_cell(NOTEBOOK, "check_adamw", adamw=make_adamw("not scaled by lr"))


# ------------------------------------------------------------------------ schedules
def test_step_decay_one_step_early_is_named():
    def early(step, base_lr, step_size, gamma=0.5):
        return base_lr * gamma ** ((step + 1) // step_size)

    with pytest.raises(AssertionError, match="one step too early"):
        run_grade_cell(NOTEBOOK, "check_simple_schedules", step_decay=early)


def test_exponential_decay_off_by_one_fails():
    with pytest.raises(AssertionError, match="exponential_decay"):
        run_grade_cell(NOTEBOOK, "check_simple_schedules",
                       exponential_decay=lambda step, base_lr, gamma: base_lr * gamma ** (step + 1))


def test_cosine_over_total_minus_one_is_named():
    def short(step, base_lr, total_steps, min_lr=0.0):
        return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * step / (total_steps - 1)))

    with pytest.raises(AssertionError, match="not total_steps - 1"):
        run_grade_cell(NOTEBOOK, "check_cosine_schedule", cosine_schedule=short)


def test_cosine_ignoring_min_lr_fails():
    def no_floor(step, base_lr, total_steps, min_lr=0.0):
        return 0.5 * base_lr * (1 + math.cos(math.pi * step / total_steps))

    with pytest.raises(AssertionError, match="cosine_schedule"):
        run_grade_cell(NOTEBOOK, "check_cosine_schedule", cosine_schedule=no_floor)


def test_warmup_starting_at_zero_is_named():
    def from_zero(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
        if step < warmup_steps:
            return base_lr * step / warmup_steps
        p = (step - warmup_steps) / (total_steps - warmup_steps)
        return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * p))

    with pytest.raises(AssertionError, match="starts at learning rate 0"):
        run_grade_cell(NOTEBOOK, "check_warmup_cosine", warmup_cosine=from_zero)


def test_cosine_not_shifted_after_warmup_fails():
    def unshifted(step, base_lr, warmup_steps, total_steps, min_lr=0.0):
        if step < warmup_steps:
            return base_lr * (step + 1) / warmup_steps
        return min_lr + 0.5 * (base_lr - min_lr) * (1 + math.cos(math.pi * step / total_steps))

    with pytest.raises(AssertionError, match="total_steps - warmup_steps"):
        run_grade_cell(NOTEBOOK, "check_warmup_cosine", warmup_cosine=unshifted)
