"""Small reinforcement-learning environments and rollouts (notebook 10_rl).

- `GridWorld`: a grid of cells with walls, terminal cells and a slip probability, as a
  gymnasium environment. Like gymnasium's toy-text environments (FrozenLake, CliffWalking)
  it exposes its model: `P[s][a]` is a list of `(probability, next_state, reward, done)`.
- `play_episodes`: run several environments side by side with one batched policy call per
  time step, keeping gymnasium's `terminated` (a terminal state was reached) apart from
  `truncated` (a time limit cut the episode).

Conventions (the course's, /work/notes/CONVENTIONS.md): actions are numbered like
FrozenLake's, 0 = left, 1 = down, 2 = right, 3 = up; rows count from the top.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gymnasium as gym
import numpy as np

LEFT, DOWN, RIGHT, UP = 0, 1, 2, 3
MOVES = {LEFT: (0, -1), DOWN: (1, 0), RIGHT: (0, 1), UP: (-1, 0)}  # action -> (d row, d col)
ACTION_NAMES = ("left", "down", "right", "up")

# Russell & Norvig's 4x3 world: start S, goal G (+1), pit X (-1), one wall #.
CLASSIC = ("...G",
           ".#.X",
           "S...")
# A larger world for the value-iteration stepper: a wall with a gap, two pits on the short way.
MAZE = ("......#...",
        ".####.#.X.",
        ".#....#...",
        ".#.####.#.",
        "S#......#G",
        "...X.####.",
        "..........")
LAYOUTS = {"classic 4x3": CLASSIC, "maze 7x10": MAZE}


class GridWorld(gym.Env):
    """A grid world with walls, terminal cells and slippery moves.

    layout: rows of equal length; "." a free cell, "#" a wall, "S" the start (one), "G" a goal
      (terminal, `goal_reward` on entering), "X" a pit (terminal, `pit_reward` on entering).
    slip: probability of moving to one of the two directions perpendicular to the chosen one
      (slip / 2 each); 1 - slip of moving the chosen way. A move into a wall or off the grid
      leaves the agent where it is.
    step_reward: reward of every transition that does not enter a terminal cell.
    max_steps: time limit: `step` returns truncated=True at that step (None: no limit); as with
      gymnasium's TimeLimit, a last step that also terminates returns both flags True.

    States are the non-wall cells numbered row by row: `cells[s]` is the (row, col) of state
    s and `state_of[(row, col)]` its number. `P[s][a]` lists (probability, next_state, reward,
    done) for each outcome; one next state may appear in several outcomes (add them up).
    A terminal state's outcomes are [(1.0, s, 0.0, True)] for every action, like FrozenLake's.
    """

    metadata = {"render_modes": []}

    def __init__(self, layout: Sequence[str] = CLASSIC, slip: float = 0.2, step_reward: float = -0.04,
                 goal_reward: float = 1.0, pit_reward: float = -1.0, max_steps: int | None = 100) -> None:
        rows = [str(row) for row in layout]
        if not rows or len({len(row) for row in rows}) != 1:
            raise ValueError(f"layout must be rows of equal length, got lengths {[len(r) for r in rows]}")
        unknown = set("".join(rows)) - set(".#SGX")
        if unknown:
            raise ValueError(f"layout may hold only . # S G X, got {sorted(unknown)}")
        if "".join(rows).count("S") != 1:
            raise ValueError("layout needs exactly one start cell 'S'")
        if not 0.0 <= slip <= 1.0:
            raise ValueError(f"slip is a probability in [0, 1], got {slip}")
        self.layout = tuple(rows)
        self.shape = (len(rows), len(rows[0]))
        self.slip, self.step_reward = float(slip), float(step_reward)
        self.rewards = {"G": float(goal_reward), "X": float(pit_reward)}
        self.max_steps = max_steps
        self.cells = [(r, c) for r, row in enumerate(rows) for c, char in enumerate(row) if char != "#"]
        self.state_of = {cell: s for s, cell in enumerate(self.cells)}
        self.num_states, self.num_actions = len(self.cells), len(MOVES)
        self.start_state = next(s for s, (r, c) in enumerate(self.cells) if rows[r][c] == "S")
        self.terminal_states = [s for s, (r, c) in enumerate(self.cells) if rows[r][c] in "GX"]
        self.observation_space = gym.spaces.Discrete(self.num_states)
        self.action_space = gym.spaces.Discrete(self.num_actions)
        self.P = {s: {a: self._outcomes(s, a) for a in MOVES} for s in range(self.num_states)}
        self.state, self.steps = self.start_state, 0

    def char(self, state: int) -> str:
        """The layout character of a state's cell ("." "S" "G" or "X")."""
        row, col = self.cells[state]
        return self.layout[row][col]

    def _move(self, state: int, action: int) -> int:
        row, col = self.cells[state]
        d_row, d_col = MOVES[action]
        return self.state_of.get((row + d_row, col + d_col), state)  # walls and edges are not states

    def _outcomes(self, state: int, action: int) -> list[tuple[float, int, float, bool]]:
        if state in self.terminal_states:
            return [(1.0, state, 0.0, True)]
        sideways = [(action + 1) % 4, (action + 3) % 4]
        moves = [(1.0 - self.slip, action)] + [(self.slip / 2, side) for side in sideways]
        outcomes = []
        for probability, direction in moves:
            if probability > 0:
                nxt = self._move(state, direction)
                char = self.char(nxt)
                outcomes.append((probability, nxt, self.rewards.get(char, self.step_reward), char in "GX"))
        return outcomes

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[int, dict]:
        """Start an episode in the start state; `seed` seeds the slips (gymnasium's np_random)."""
        super().reset(seed=seed)
        self.state, self.steps = self.start_state, 0
        return self.state, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict]:
        """One move: (next_state, reward, terminated, truncated, info), gymnasium's order."""
        if not self.action_space.contains(int(action)):
            raise ValueError(f"action must be an int in 0..{self.num_actions - 1}, got {action!r}")
        outcomes = self.P[self.state][int(action)]
        pick = int(np.searchsorted(np.cumsum([o[0] for o in outcomes]), self.np_random.random(), side="right"))
        _, self.state, reward, terminated = outcomes[min(pick, len(outcomes) - 1)]
        self.steps += 1
        truncated = self.max_steps is not None and self.steps >= self.max_steps  # as gymnasium's TimeLimit
        return self.state, float(reward), bool(terminated), bool(truncated), {}

    def grid(self, values: Any) -> np.ndarray:
        """Per-state values (num_states,) laid out on the grid: (rows, cols) float64, NaN on walls."""
        values = np.asarray(values, dtype=np.float64)
        if values.shape != (self.num_states,):
            raise ValueError(f"expected one value per state, shape ({self.num_states},), got {values.shape}")
        out = np.full(self.shape, np.nan)
        for s, (row, col) in enumerate(self.cells):
            out[row, col] = values[s]
        return out


def play_episodes(envs: Sequence[gym.Env], act: Callable[[np.ndarray], Any], seeds: Sequence[int],
                  record: bool = False) -> dict[str, Any]:
    """Run one episode in each environment, side by side, until each terminates or is truncated.

    envs: N environments (reset here with seeds[i]); act(observations) gets the observations of
    the episodes still running, stacked (M, *obs_shape), and returns M actions (array-like).
    Returns a dict: "returns" (N,) float64 undiscounted sums of rewards, "lengths" (N,) int64,
    "terminated" (N,) bool (False: the time limit truncated it), "final_observations" (N, *obs_shape)
    the observation after each episode's last step; with record=True also
    "observations", "actions", "rewards": lists of N arrays, (T_i, *obs_shape) observations
    before each action (float32 for arrays, int64 for discrete states), (T_i,) int64 actions,
    (T_i,) float64 rewards.
    """
    if len(envs) != len(seeds):
        raise ValueError(f"one seed per environment: got {len(envs)} environments and {len(seeds)} seeds")
    count = len(envs)
    current = [env.reset(seed=int(seed))[0] for env, seed in zip(envs, seeds)]
    returns, lengths, terminated = np.zeros(count), np.zeros(count, dtype=np.int64), np.zeros(count, dtype=bool)
    history = {"observations": [[] for _ in envs], "actions": [[] for _ in envs], "rewards": [[] for _ in envs]}
    running = list(range(count))
    while running:
        actions = np.asarray(act(np.stack([np.asarray(current[i]) for i in running]))).reshape(-1)
        if len(actions) != len(running):
            raise ValueError(f"act returned {len(actions)} actions for {len(running)} observations")
        still = []
        for i, action in zip(running, actions):
            if record:
                history["observations"][i].append(np.asarray(current[i]))
                history["actions"][i].append(int(action))
            current[i], reward, term, trunc, _ = envs[i].step(int(action))
            returns[i] += reward
            lengths[i] += 1
            if record:
                history["rewards"][i].append(float(reward))
            if term or trunc:
                terminated[i] = term
            else:
                still.append(i)
        running = still
    result = {"returns": returns, "lengths": lengths, "terminated": terminated,
              "final_observations": _stacked([np.asarray(obs) for obs in current])}
    if record:
        result["observations"] = [_stacked(obs) for obs in history["observations"]]
        result["actions"] = [np.array(a, dtype=np.int64) for a in history["actions"]]
        result["rewards"] = [np.array(r, dtype=np.float64) for r in history["rewards"]]
    return result


def _stacked(observations: list[np.ndarray]) -> np.ndarray:
    stacked = np.stack(observations)
    return stacked.astype(np.int64) if np.issubdtype(stacked.dtype, np.integer) else stacked.astype(np.float32)


def smooth(values: Any, width: int = 20) -> np.ndarray:
    """Trailing moving average (len(values),) float64: entry t averages values[max(0, t-width+1):t+1]."""
    values = np.asarray(values, dtype=np.float64)
    sums = np.cumsum(np.concatenate([[0.0], values]))
    starts = np.maximum(np.arange(len(values)) - width + 1, 0)
    return (sums[1:] - sums[starts]) / (np.arange(len(values)) + 1 - starts)
