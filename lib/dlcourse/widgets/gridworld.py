"""Value iteration on a GridWorld, step by step (notebook 10_rl).

`draw_gridworld` draws per-state values as a heat map on the grid (signed values: a colour
map centred on 0, with a colour bar), walls in black, terminal cells labelled with their
reward and the greedy action of each state as an arrow. `value_iteration_frames` computes
V_0 = 0, V_1, ..., V_K by applying a Bellman optimality backup K times.

The library holds no solution: the stepper is given the student's own functions (the MDP
arrays, the backup, Q from V and the greedy policy) and shows "not implemented yet" until
they are written.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from matplotlib.axes import Axes

from dlcourse.rl import LAYOUTS, MOVES, GridWorld

ToArrays = Callable[[dict, int, int], tuple[np.ndarray, np.ndarray]]
Backup = Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]


def value_iteration_frames(T: np.ndarray, R: np.ndarray, backup: Backup, gamma: float,
                           num_iterations: int) -> np.ndarray:
    """Values of value iteration from V_0 = 0: shape (num_iterations + 1, S) float64.

    T: (S, A, S) probabilities of continuing to each next state; R: (S, A) expected rewards;
    backup(V, T, R, gamma) -> (S,) one Bellman optimality backup (max over actions).
    """
    values = [np.zeros(T.shape[0])]
    for _ in range(num_iterations):
        values.append(np.asarray(backup(values[-1], T, R, gamma), dtype=np.float64))
    return np.stack(values)


def draw_gridworld(ax: Axes, world: GridWorld, values: Any = None, actions: Any = None,
                   title: str | None = None, limit: float | None = None, pit_name: str = "pit"):
    """Draw `world` on `ax`: values (S,) as colours, actions (S,) ints as arrows (terminals get none).

    limit: the colour scale spans [-limit, limit] (default: the largest |value|, at least 1e-9).
    pit_name: the label of "X" cells (FrozenLake calls them holes). Returns the image (for a
    colour bar) or None when no values are given.
    """
    rows, cols = world.shape
    image = None
    if values is not None:
        grid = world.grid(values)
        if limit is None:
            limit = max(float(np.nanmax(np.abs(grid))), 1e-9)
        image = ax.imshow(grid, cmap="RdBu", vmin=-limit, vmax=limit, extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))
        for s, (row, col) in enumerate(world.cells):
            if world.char(s) not in "GX":
                ax.text(col, row + 0.32, f"{grid[row, col]:.2f}", ha="center", va="center", fontsize=7)
    walls = np.array([[char == "#" for char in row] for row in world.layout], dtype=float)
    ax.imshow(np.where(walls > 0, 1.0, np.nan), cmap="Greys", vmin=0, vmax=1,
              extent=(-0.5, cols - 0.5, rows - 0.5, -0.5))
    for s, (row, col) in enumerate(world.cells):
        char = world.char(s)
        if char in "GX":
            reward = world.rewards[char]
            ax.text(col, row, f"{'goal' if char == 'G' else pit_name}\n{reward:+g}", ha="center", va="center",
                    fontsize=8, fontweight="bold")
        elif char == "S":
            ax.text(col - 0.38, row - 0.3, "S", ha="left", va="center", fontsize=8, fontweight="bold")
        if actions is not None and char not in "GX":
            d_row, d_col = MOVES[int(np.asarray(actions)[s])]
            ax.annotate("", xy=(col + 0.3 * d_col, row + 0.3 * d_row - 0.08), xytext=(col, row - 0.08),
                        arrowprops={"arrowstyle": "->", "color": "k", "lw": 1.4})
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xlim(-0.5, cols - 0.5)
    ax.set_ylim(rows - 0.5, -0.5)
    ax.set_aspect("equal")
    ax.set_xlabel("column")
    ax.set_ylabel("row")
    if title:
        ax.set_title(title, fontsize=10)
    return image


def value_iteration_stepper(to_arrays: ToArrays, backup: Backup,
                            q_from_v: Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray],
                            greedy: Callable[[np.ndarray], np.ndarray], world: str = "maze 7x10",
                            gamma: float = 0.9, slip: float = 0.2, iteration: int = 5,
                            max_iterations: int = 80, figsize=(11, 4.2)):
    """The stepper: world, iteration k, gamma and slip; V_k as a heat map with greedy arrows.

    to_arrays(P, S, A) -> (T, R); backup(V, T, R, gamma) -> V'; q_from_v(V, T, R, gamma) -> Q
    (S, A); greedy(Q) -> (S, A) one-hot policy: the student's functions. The right panel shows
    max_s |V_k(s) - V_{k-1}(s)| for every k (log scale), the current k marked.
    Returns the widget of `dlcourse.widgets.base.interactive_figure` (`.redraw()`).
    """
    import ipywidgets as w

    from dlcourse.widgets.base import interactive_figure

    style, layout = {"description_width": "90px"}, w.Layout(width="330px")
    controls = {
        "world": w.Dropdown(options=list(LAYOUTS), value=world, description="world", style=style, layout=layout),
        "iteration": w.IntSlider(value=iteration, min=0, max=max_iterations, description="iteration k",
                                 style=style, layout=layout),
        "gamma": w.FloatSlider(value=gamma, min=0.0, max=0.99, step=0.01, description="gamma", style=style,
                               layout=layout),
        "slip": w.FloatSlider(value=slip, min=0.0, max=1.0, step=0.05, description="slip", style=style,
                              layout=layout),
    }

    def draw(fig, world, iteration, gamma, slip):
        env = GridWorld(LAYOUTS[world], slip=slip)
        T, R = to_arrays(env.P, env.num_states, env.num_actions)
        frames = value_iteration_frames(np.asarray(T), np.asarray(R), backup, gamma, max_iterations)
        values = frames[iteration]
        actions = np.argmax(np.asarray(greedy(np.asarray(q_from_v(values, T, R, gamma)))), axis=1)
        ax_grid, ax_res = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
        image = draw_gridworld(ax_grid, env, values, actions, limit=1.0,
                               title=f"V_{iteration} and its greedy policy (gamma {gamma:.2f}, slip {slip:.2f})")
        fig.colorbar(image, ax=ax_grid, shrink=0.8, label="value V_k(s)")
        change = np.abs(np.diff(frames, axis=0)).max(axis=1)
        ks = np.arange(1, max_iterations + 1)
        ax_res.semilogy(ks, np.maximum(change, 1e-16), color="tab:blue")
        if iteration > 0:
            ax_res.semilogy(iteration, max(change[iteration - 1], 1e-16), "o", color="tab:red")
        ax_res.set(xlabel="iteration k", ylabel="max_s |V_k(s) - V_(k-1)(s)|", title="change per backup")
        ax_res.grid(True, alpha=0.3)
        fig.tight_layout()

    return interactive_figure(draw, controls, figsize=figsize)
