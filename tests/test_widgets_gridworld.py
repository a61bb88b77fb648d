"""The value-iteration stepper: its frames against hand-computed values, the drawing, and the widget headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlcourse.rl import CLASSIC, LAYOUTS, GridWorld  # noqa: E402
from dlcourse.widgets.gridworld import draw_gridworld, value_iteration_frames, value_iteration_stepper  # noqa: E402


def to_arrays(P, num_states, num_actions):
    T, R = np.zeros((num_states, num_actions, num_states)), np.zeros((num_states, num_actions))
    for s in range(num_states):
        for a in range(num_actions):
            for p, nxt, r, done in P[s][a]:
                R[s, a] += p * r
                if not done:
                    T[s, a, nxt] += p
    return T, R


def backup(V, T, R, gamma):
    return (R + gamma * T @ V).max(axis=1)


def q_from_v(V, T, R, gamma):
    return R + gamma * T @ V


def greedy(Q):
    return np.eye(Q.shape[1])[Q.argmax(axis=1)]


def test_frames_are_the_best_k_step_returns_of_a_chain():
    # 0 -> 1 -> 2 -> end, reward 1 per move: V_k(0) = 1 + gamma + ... (k terms, at most 3)
    T = np.zeros((3, 1, 3))
    T[0, 0, 1] = T[1, 0, 2] = 1.0
    R = np.ones((3, 1))
    frames = value_iteration_frames(T, R, backup, 0.5, 4)
    assert frames.shape == (5, 3) and frames.dtype == np.float64
    np.testing.assert_allclose(frames[:, 0], [0.0, 1.0, 1.5, 1.75, 1.75])
    np.testing.assert_allclose(frames[-1], [1.75, 1.5, 1.0])


def test_draw_gridworld_marks_walls_terminals_and_one_arrow_per_free_cell():
    world = GridWorld(CLASSIC)
    fig, ax = plt.subplots()
    values = np.linspace(-0.5, 0.9, world.num_states)
    image = draw_gridworld(ax, world, values, np.full(world.num_states, 2), title="t")
    assert image.get_clim() == (-0.9, 0.9)  # centred on 0
    assert np.ma.is_masked(image.get_array()[1, 1])  # the wall (NaN, masked when drawn)
    arrows = [child for child in ax.texts if getattr(child, "arrow_patch", None) is not None]
    assert len(arrows) == world.num_states - len(world.terminal_states)
    labels = " ".join(text.get_text() for text in ax.texts)
    assert "goal\n+1" in labels and "pit\n-1" in labels and ax.get_aspect() == 1.0
    plt.close(fig)


def test_draw_gridworld_without_values_draws_the_layout_only():
    fig, ax = plt.subplots()
    assert draw_gridworld(ax, GridWorld(LAYOUTS["maze 7x10"]), pit_name="hole") is None
    assert any("hole" in text.get_text() for text in ax.texts)
    plt.close(fig)


def _values_drawn(widget):
    ax = widget.figure.axes[0]
    return np.array(ax.images[0].get_array().filled(np.nan))


def test_stepper_builds_headless_and_redraws_with_each_control():
    widget = value_iteration_stepper(to_arrays, backup, q_from_v, greedy, world="classic 4x3", iteration=0)
    assert len(widget.figure.axes) == 3  # grid, colour bar, change per backup
    assert np.nanmax(np.abs(_values_drawn(widget))) == 0.0  # V_0 = 0
    widget.controls["iteration"].value = 60
    world = GridWorld(CLASSIC, slip=0.2)
    T, R = to_arrays(world.P, world.num_states, world.num_actions)
    expected = world.grid(value_iteration_frames(T, R, backup, 0.9, 60)[-1])
    np.testing.assert_allclose(_values_drawn(widget), expected, equal_nan=True)
    before = _values_drawn(widget)
    widget.controls["slip"].value = 0.0
    assert not np.allclose(before, _values_drawn(widget), equal_nan=True)
    widget.controls["world"].value = "maze 7x10"
    assert _values_drawn(widget).shape == GridWorld(LAYOUTS["maze 7x10"]).shape


def test_stepper_says_not_implemented_when_a_function_is_a_stub():
    def stub(*args):
        raise NotImplementedError("Write your solution here (see the docstring above).")

    widget = value_iteration_stepper(to_arrays, stub, q_from_v, greedy)
    (ax,) = widget.figure.axes
    assert "Not implemented yet" in ax.texts[0].get_text()


@pytest.mark.parametrize("gamma", [0.0, 0.99])
def test_stepper_runs_at_the_ends_of_the_gamma_range(gamma):
    widget = value_iteration_stepper(to_arrays, backup, q_from_v, greedy, gamma=gamma, iteration=80)
    assert np.isfinite(np.nan_to_num(_values_drawn(widget))).all()
