"""The optimizer race widget: its paths against hand-written updates, and the widget headless."""

from __future__ import annotations

import numpy as np
import pytest

from dlcourse.widgets import optimizer_race as race_module
from dlcourse.widgets.optimizer_race import AFFECTS, RULES, SURFACES, controls_in_use, loss_grid, path_losses, race

CURVATURE = np.array([1.0, 20.0])  # the ill-conditioned quadratic is (x^2 + 20 y^2) / 2
QUADRATIC = "ill-conditioned quadratic"


def test_sgd_on_the_quadratic_is_the_closed_form():
    start, lr, steps = np.array([-4.5, 1.5]), 0.04, 30
    paths = race(QUADRATIC, ["SGD"], lr=lr, num_steps=steps)
    expected = start * (1 - lr * CURVATURE) ** np.arange(steps + 1)[:, None]
    np.testing.assert_allclose(paths["SGD"], expected, rtol=1e-10, atol=1e-12)


def test_momentum_and_nesterov_follow_hand_written_updates():
    lr, mu, steps = 0.03, 0.8, 25
    paths = race(QUADRATIC, ["Momentum", "Nesterov"], lr=lr, momentum=mu, num_steps=steps)
    for rule, nesterov in (("Momentum", False), ("Nesterov", True)):
        w, v, expected = np.array(SURFACES[QUADRATIC].start), np.zeros(2), []
        expected.append(w.copy())
        for _ in range(steps):
            g = CURVATURE * w
            v = mu * v + g
            w = w - lr * (g + mu * v if nesterov else v)
            expected.append(w.copy())
        np.testing.assert_allclose(paths[rule], np.stack(expected), rtol=1e-9, atol=1e-12)


def test_adam_adagrad_rmsprop_follow_hand_written_updates():
    lr, b1, b2, rho, steps = 0.1, 0.8, 0.95, 0.7, 20
    paths = race(QUADRATIC, ["Adam", "AdaGrad", "RMSProp"], adaptive_lr=lr, beta1=b1, beta2=b2,
                 rmsprop_decay=rho, num_steps=steps)
    start = np.array(SURFACES[QUADRATIC].start)
    w, m, v, adam = start.copy(), np.zeros(2), np.zeros(2), [start.copy()]
    for t in range(1, steps + 1):
        g = CURVATURE * w
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
        w = w - lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + 1e-8)
        adam.append(w.copy())
    w, s, adagrad = start.copy(), np.zeros(2), [start.copy()]
    for _ in range(steps):
        g = CURVATURE * w
        s = s + g * g
        w = w - lr * g / (np.sqrt(s) + 1e-10)
        adagrad.append(w.copy())
    w, s, rmsprop = start.copy(), np.zeros(2), [start.copy()]
    for _ in range(steps):
        g = CURVATURE * w
        s = rho * s + (1 - rho) * g * g
        w = w - lr * g / (np.sqrt(s) + 1e-8)
        rmsprop.append(w.copy())
    np.testing.assert_allclose(paths["Adam"], np.stack(adam), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(paths["AdaGrad"], np.stack(adagrad), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(paths["RMSProp"], np.stack(rmsprop), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("surface", list(SURFACES))
def test_the_first_sgd_step_follows_the_finite_difference_gradient(surface):
    spec, lr, h = SURFACES[surface], 1e-3, 1e-6
    x, y = spec.start
    grad = np.array([(spec.loss(x + h, y) - spec.loss(x - h, y)) / (2 * h),
                     (spec.loss(x, y + h) - spec.loss(x, y - h)) / (2 * h)])
    path = race(surface, ["SGD"], lr=lr, num_steps=1)["SGD"]
    np.testing.assert_allclose(path[1], np.array(spec.start) - lr * grad, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("surface", list(SURFACES))
def test_every_rule_runs_at_the_defaults_and_lowers_the_loss(surface):
    paths = race(surface, RULES, num_steps=100)
    assert set(paths) == set(RULES)
    for rule, path in paths.items():
        assert path.shape == (101, 2), rule
        losses = path_losses(surface, path)
        assert losses[-1] < losses[0], f"{rule} did not lower the loss on {surface}"


def test_a_diverging_path_stops_early():
    path = race(QUADRATIC, ["SGD"], lr=0.5, num_steps=200)["SGD"]  # lr * 20 = 10 > 2: diverges
    assert len(path) < 201 and np.all(np.isfinite(path)) and np.abs(path).max() <= race_module.DIVERGED


def test_loss_grid_matches_the_surface():
    X, Y, Z = loss_grid("Rosenbrock", num=7)
    assert X.shape == Y.shape == Z.shape == (7, 7)
    np.testing.assert_allclose(Z, (1 - X) ** 2 + 10 * (Y - X**2) ** 2)


def test_unknown_rule_is_refused():
    with pytest.raises(ValueError, match="unknown rule"):
        race(QUADRATIC, ["LBFGS"], num_steps=1)


def _drawn_lines(widget):
    return {line.get_label(): line.get_xydata().copy() for ax in widget.figure.axes
            for line in ax.get_lines() if not line.get_label().startswith("_")}


def test_widget_builds_and_redraws_headless():
    widget = race_module.optimizer_race_widget()
    assert widget.figure is not None and len(widget.figure.axes) >= 2
    before = _drawn_lines(widget)
    assert {"SGD", "Momentum", "Adam"} <= set(before)
    widget.controls["momentum"].value = 0.5  # changing a control redraws with the new value
    after = _drawn_lines(widget)
    assert not np.allclose(before["Momentum"], after["Momentum"])
    np.testing.assert_allclose(before["SGD"], after["SGD"])


def test_choosing_a_surface_sets_its_learning_rates_and_redraws():
    widget = race_module.optimizer_race_widget()
    widget.controls["surface"].value = "Rosenbrock"
    assert widget.controls["lr"].value == pytest.approx(SURFACES["Rosenbrock"].lr, rel=0.02)
    assert widget.controls["adaptive_lr"].value == pytest.approx(SURFACES["Rosenbrock"].adaptive_lr, rel=0.02)
    assert "Rosenbrock" in widget.figure.axes[0].get_title()
    widget.controls["rules"].value = ("Nesterov",)
    assert set(_drawn_lines(widget)) == {"Nesterov"}


def test_each_hyper_parameter_control_is_used_by_exactly_the_rules_it_names():
    assert controls_in_use(("SGD",)) == {"lr": True, "adaptive_lr": False, "momentum": False,
                                         "beta1": False, "beta2": False, "rmsprop_decay": False}
    assert controls_in_use(("Nesterov", "RMSProp")) == {"lr": True, "adaptive_lr": True, "momentum": True,
                                                         "beta1": False, "beta2": False, "rmsprop_decay": True}
    assert all(controls_in_use(RULES).values()) and not any(controls_in_use(()).values())
    # the claim is true: changing a control moves only the paths of the rules it names
    base = race(QUADRATIC, RULES, num_steps=15)
    changed = {"lr": 0.02, "adaptive_lr": 0.05, "momentum": 0.5, "beta1": 0.5, "beta2": 0.9, "rmsprop_decay": 0.6}
    for name, value in changed.items():
        moved = race(QUADRATIC, RULES, num_steps=15, **{name: value})
        differs = {rule for rule in RULES if not np.allclose(moved[rule], base[rule])}
        assert differs == set(AFFECTS[name]), name


def test_sliders_of_rules_not_chosen_are_disabled_and_labels_name_their_rules():
    widget = race_module.optimizer_race_widget()
    controls = widget.controls
    assert "cmd" in controls["rules"].tooltip and "⌘" in controls["rules"].description
    assert not controls["beta1"].disabled and controls["rmsprop_decay"].disabled  # SGD, Momentum, Adam
    controls["rules"].value = ("Nesterov",)
    assert {name for name in AFFECTS if controls[name].disabled} == {"adaptive_lr", "beta1", "beta2", "rmsprop_decay"}
    assert "Adam only" in controls["beta1"].description and "Adam only" in controls["beta2"].description
    assert "RMSProp only" in controls["rmsprop_decay"].description and "Mom." in controls["momentum"].description


def test_widget_figure_fits_beside_the_controls_on_a_small_screen():
    widget = race_module.optimizer_race_widget()
    width_px = widget.figure.get_figwidth() * widget.figure.dpi
    assert width_px + 300 <= 1366 - 130  # 300 px of controls, about 130 px of JupyterLab around a cell
    assert all(control.layout.width == "300px" for control in widget.controls.values())
