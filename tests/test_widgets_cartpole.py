"""CartPole frames drawn with matplotlib: the geometry against gymnasium's physics, and the viewer headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import gymnasium as gym  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dlcourse.rl import play_episodes  # noqa: E402
from dlcourse.widgets.cartpole import (CART_HEIGHT, CART_WIDTH, POLE_LENGTH, THETA_LIMIT, X_LIMIT,  # noqa: E402
                                       cartpole_shapes, cartpole_viewer, draw_cartpole)


def test_limits_and_sizes_are_gymnasiums():
    env = gym.make("CartPole-v1").unwrapped
    assert X_LIMIT == env.x_threshold and THETA_LIMIT == pytest.approx(env.theta_threshold_radians)
    assert POLE_LENGTH == 2 * env.length


def test_shapes_put_the_pole_on_top_of_the_cart_at_its_angle():
    shapes = cartpole_shapes([1.0, 0.5, 0.3, -0.2])
    cart, (hinge, tip) = shapes["cart"], shapes["pole"]
    np.testing.assert_allclose(cart[:, 0].min(), 1.0 - CART_WIDTH / 2)
    np.testing.assert_allclose(cart[:, 1].max(), CART_HEIGHT)
    np.testing.assert_allclose(hinge, [1.0, CART_HEIGHT])
    np.testing.assert_allclose(tip - hinge, POLE_LENGTH * np.array([np.sin(0.3), np.cos(0.3)]))
    assert np.linalg.norm(tip - hinge) == pytest.approx(POLE_LENGTH)


def test_positive_theta_leans_right_as_in_gymnasiums_physics():
    # Pushing the cart right from rest makes the pole fall back, to the left: theta must go negative,
    # and the drawn tip must end up left of the hinge.
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.zeros(4)
    for _ in range(5):
        observation, *_ = env.step(1)
    assert observation[2] < 0
    hinge, tip = cartpole_shapes(observation)["pole"]
    assert tip[0] < hinge[0]


def test_draw_cartpole_is_to_scale_and_marks_a_fallen_pole():
    fig, ax = plt.subplots()
    draw_cartpole(ax, [0.0, 0.0, 0.3, 0.0], action=1, title="frame")
    assert ax.get_aspect() == 1.0 and ax.get_xlim()[1] > X_LIMIT
    pole = [line for line in ax.get_lines() if line.get_linewidth() == 5][0]
    assert pole.get_color() == "tab:red"  # |theta| > 12 degrees
    assert any("push right" in text.get_text() for text in ax.texts)
    plt.close(fig)


def _episodes():
    envs = [gym.make("CartPole-v1") for _ in range(2)]
    right = play_episodes(envs[:1], lambda obs: np.ones(len(obs), dtype=int), [0], record=True)
    balance = play_episodes(envs[1:], lambda obs: (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(int), [0], record=True)
    return {name: {"observations": run["observations"][0], "actions": run["actions"][0]}
            for name, run in (("always right", right), ("balance", balance))}


def test_viewer_builds_headless_and_follows_its_controls():
    episodes = _episodes()
    widget = cartpole_viewer(episodes)
    lengths = {name: len(e["actions"]) for name, e in episodes.items()}
    assert widget.controls["frame"].max == max(lengths.values()) - 1
    assert "always right: step 0" in widget.figure.axes[0].get_title()
    widget.controls["frame"].value = 5
    assert "step 5" in widget.figure.axes[0].get_title()
    widget.controls["frame"].value = widget.controls["frame"].max   # past the end of the short episode
    title = widget.figure.axes[0].get_title()
    assert f"step {lengths['always right'] - 1}" in title and "has" in title
    widget.controls["policy"].value = "balance"
    assert f"balance: step {widget.controls['frame'].value}" in widget.figure.axes[0].get_title()


def test_viewer_refuses_no_episodes():
    with pytest.raises(ValueError, match="at least one"):
        cartpole_viewer({})
