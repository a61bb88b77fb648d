"""CartPole episodes drawn frame by frame with matplotlib (notebook 10_rl; no pygame needed).

`cartpole_shapes` computes, in metres, the cart's corners and the pole's end points for an
observation (x, x_dot, theta, theta_dot) of gymnasium's CartPole-v1; `draw_cartpole` draws
them to scale; `cartpole_viewer` steps through recorded episodes with a frame slider.

Geometry (gymnasium's CartPoleEnv): the pole is 2 * 0.5 = 1.0 m long, hinged on top of the
cart; theta > 0 means the pole leans to the right (towards +x). An episode terminates when
|x| > 2.4 m or |theta| > 12 degrees, and is truncated after 500 steps.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

X_LIMIT = 2.4                        # m: |x| beyond this terminates the episode
THETA_LIMIT = 12 * 2 * np.pi / 360   # rad: |theta| beyond this terminates the episode
POLE_LENGTH = 1.0                    # m (gymnasium's `length` is half of it)
CART_WIDTH, CART_HEIGHT = 0.4, 0.24  # m, as gymnasium draws it (50 x 30 px at 125 px/m)
ACTIONS = ("push left", "push right")


def cartpole_shapes(observation: Any) -> dict[str, np.ndarray]:
    """The drawing of one observation (4,) = (x, x_dot, theta, theta_dot), in metres.

    Returns "cart": (4, 2) corners (x, y) counter-clockwise from the bottom left; "pole": (2, 2)
    hinge and tip, the hinge on top of the cart, the tip at hinge + POLE_LENGTH (sin theta, cos theta).
    """
    x, _, theta, _ = np.asarray(observation, dtype=np.float64)
    half = CART_WIDTH / 2
    cart = np.array([[x - half, 0.0], [x + half, 0.0], [x + half, CART_HEIGHT], [x - half, CART_HEIGHT]])
    hinge = np.array([x, CART_HEIGHT])
    tip = hinge + POLE_LENGTH * np.array([np.sin(theta), np.cos(theta)])
    return {"cart": cart, "pole": np.stack([hinge, tip])}


def draw_cartpole(ax: Axes, observation: Any, action: int | None = None, title: str | None = None) -> None:
    """Draw the cart and pole of one observation to scale (equal axes, metres), with the track limits."""
    shapes = cartpole_shapes(observation)
    ax.plot([-X_LIMIT - 0.3, X_LIMIT + 0.3], [0, 0], color="k", lw=1)
    for side in (-X_LIMIT, X_LIMIT):
        ax.plot([side, side], [-0.1, 0.3], color="tab:red", lw=2)
    (x0, y0), (x1, _), _, (_, y1) = shapes["cart"]
    ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, facecolor="0.35", edgecolor="k"))
    (hx, hy), (tx, ty) = shapes["pole"]
    leaning = abs(np.asarray(observation, dtype=np.float64)[2]) > THETA_LIMIT
    ax.plot([hx, tx], [hy, ty], color="tab:red" if leaning else "tab:orange", lw=5, solid_capstyle="round")
    ax.plot(hx, hy, "o", color="k", markersize=4)
    if action is not None:
        direction = 1 if int(action) == 1 else -1
        ax.annotate("", xy=(hx + 0.45 * direction, -0.2), xytext=(hx, -0.2),
                    arrowprops={"arrowstyle": "->", "color": "tab:blue", "lw": 2})
        ax.text(hx, -0.36, ACTIONS[int(action)], ha="center", va="top", fontsize=8, color="tab:blue")
    ax.set_xlim(-X_LIMIT - 0.3, X_LIMIT + 0.3)
    ax.set_ylim(-0.55, 1.45)
    ax.set_aspect("equal")
    ax.set_xlabel("cart position x (m)")
    ax.set_ylabel("height (m)")
    if title:
        ax.set_title(title, fontsize=10)


def cartpole_viewer(episodes: Mapping[str, Mapping[str, Any]], figsize=(11, 3.8)):
    """Step through recorded CartPole episodes: a policy dropdown and a frame slider.

    episodes: name -> {"observations": (T, 4) array, "actions": (T,) ints}, e.g. one episode per
    trained agent from `dlcourse.rl.play_episodes(..., record=True)`. The left panel draws frame t
    to scale, the right one the pole angle and cart position over the episode, t marked.
    Returns the widget of `dlcourse.widgets.base.interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    if not episodes:
        raise ValueError("cartpole_viewer needs at least one recorded episode")
    names = list(episodes)
    longest = max(len(episode["actions"]) for episode in episodes.values())
    style, layout = {"description_width": "60px"}, w.Layout(width="330px")
    controls = {
        "policy": w.Dropdown(options=names, value=names[0], description="policy", style=style, layout=layout),
        "frame": w.IntSlider(value=0, min=0, max=max(longest - 1, 0), description="frame t", style=style,
                             layout=layout),
    }

    def draw(fig, policy, frame):
        observations = np.asarray(episodes[policy]["observations"], dtype=np.float64)
        actions = np.asarray(episodes[policy]["actions"])
        t = min(frame, len(actions) - 1)
        ax_cart, ax_trace = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.4, 1]})
        ended = f" (the episode has {len(actions)} steps)" if frame > t else ""
        draw_cartpole(ax_cart, observations[t], actions[t], title=f"{policy}: step {t}{ended}")
        steps = np.arange(len(actions))
        ax_trace.plot(steps, np.degrees(observations[:, 2]), color="tab:orange", label="pole angle (deg)")
        ax_trace.plot(steps, observations[:, 0] * 5, color="0.35", label="cart x (m) x 5")
        for limit in (-12, 12):
            ax_trace.axhline(limit, color="tab:red", lw=0.8, ls="--")
        ax_trace.axvline(t, color="tab:blue", lw=1)
        ax_trace.set(xlabel="step t", ylabel="degrees / 5 x metres", title="angle and position (red: 12 deg, 2.4 m)")
        ax_trace.legend(fontsize=8, loc="lower left")
        fig.tight_layout()

    return interactive_figure(draw, controls, figsize=figsize)
