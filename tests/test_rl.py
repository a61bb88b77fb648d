"""dlcourse.rl: the GridWorld's model and sampling, and side-by-side episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from dlcourse.rl import CLASSIC, DOWN, LAYOUTS, LEFT, MAZE, RIGHT, UP, GridWorld, play_episodes, smooth


def model_arrays(world, S=None, A=None):
    """Probability of continuing to each next state (S, A, S) and expected reward (S, A)."""
    S, A = (world.observation_space.n, world.action_space.n) if S is None else (S, A)
    T, R = np.zeros((S, A, S)), np.zeros((S, A))
    for s in range(S):
        for a in range(A):
            for p, nxt, r, done in world.P[s][a]:
                R[s, a] += p * r
                if not done:
                    T[s, a, nxt] += p
    return T, R


@pytest.mark.parametrize("layout", list(LAYOUTS.values()))
@pytest.mark.parametrize("slip", [0.0, 0.2, 1.0])
def test_every_action_has_outcomes_that_sum_to_one(layout, slip):
    world = GridWorld(layout, slip=slip)
    for s in range(world.num_states):
        for a in range(world.num_actions):
            outcomes = world.P[s][a]
            assert np.isclose(sum(p for p, *_ in outcomes), 1.0)
            assert all(p > 0 and 0 <= nxt < world.num_states for p, nxt, _, _ in outcomes)


def test_classic_world_numbers_its_cells_row_by_row_without_the_wall():
    world = GridWorld(CLASSIC)
    assert world.num_states == 11 and world.num_actions == 4 and world.shape == (3, 4)
    assert world.cells[world.start_state] == (2, 0)
    assert [world.cells[s] for s in world.terminal_states] == [(0, 3), (1, 3)]
    assert (1, 1) not in world.state_of
    grid = world.grid(np.arange(11.0))
    assert np.isnan(grid[1, 1]) and grid[0, 0] == 0 and grid[2, 3] == 10


def test_moves_without_slip_follow_the_action_and_stop_at_walls():
    world = GridWorld(CLASSIC, slip=0.0)
    s = world.state_of[(1, 0)]
    assert world.P[s][UP] == [(1.0, world.state_of[(0, 0)], -0.04, False)]
    assert world.P[s][RIGHT] == [(1.0, s, -0.04, False)]           # into the wall: stays
    assert world.P[s][LEFT] == [(1.0, s, -0.04, False)]            # off the grid: stays
    goal_neighbour = world.state_of[(0, 2)]
    assert world.P[goal_neighbour][RIGHT] == [(1.0, world.state_of[(0, 3)], 1.0, True)]
    assert world.P[world.state_of[(2, 3)]][UP] == [(1.0, world.state_of[(1, 3)], -1.0, True)]
    for terminal in world.terminal_states:
        assert all(world.P[terminal][a] == [(1.0, terminal, 0.0, True)] for a in range(4))


def test_slip_goes_sideways_with_half_the_probability_each():
    world = GridWorld(CLASSIC, slip=0.2)
    s = world.state_of[(2, 1)]
    outcomes = world.P[s][UP]  # up is blocked by the wall: stays; sideways left/right
    assert sorted((round(p, 10), world.cells[n]) for p, n, _, _ in outcomes) == [
        (0.1, (2, 0)), (0.1, (2, 2)), (0.8, (2, 1))]
    corner = world.state_of[(0, 0)]
    repeated = [n for _, n, _, _ in world.P[corner][UP]]
    assert repeated.count(corner) == 2  # a next state may repeat: up and left both bump


def test_value_iteration_on_the_classic_world_gives_russell_and_norvig_utilities():
    # AIMA (3rd ed.) figure 17.3, gamma = 1, reward -0.04 per state: U(s) counts the state's own
    # reward, while here the reward comes with the transition into the next state: V = U + 0.04.
    world = GridWorld(CLASSIC, slip=0.2, step_reward=-0.04)
    T, R = model_arrays(world)
    V = np.zeros(world.num_states)
    for _ in range(2000):
        V = (R + T @ V).max(axis=1)
    utilities = {(0, 0): 0.812, (0, 1): 0.868, (0, 2): 0.918, (1, 0): 0.762, (1, 2): 0.660,
                 (2, 0): 0.705, (2, 1): 0.655, (2, 2): 0.611, (2, 3): 0.388}
    for cell, u in utilities.items():
        assert V[world.state_of[cell]] == pytest.approx(u + 0.04, abs=1e-3)


def test_steps_are_drawn_with_the_model_probabilities_and_reproducible():
    world = GridWorld(CLASSIC, slip=0.4)
    s = world.state_of[(1, 2)]
    counts = np.zeros(world.num_states)
    world.reset(seed=3)
    for _ in range(20000):
        world.state = s
        nxt, *_ = world.step(UP)
        counts[nxt] += 1
    expected = np.zeros(world.num_states)
    for p, nxt, _, _ in world.P[s][UP]:
        expected[nxt] += p
    assert np.abs(counts / 20000 - expected).max() < 0.015
    runs = []
    for _ in range(2):
        world = GridWorld(CLASSIC, slip=0.5)
        world.reset(seed=11)
        runs.append([world.step(DOWN)[0] for _ in range(30)])
    assert runs[0] == runs[1] and len(set(runs[0])) > 1


def test_time_limit_truncates_and_terminal_cells_terminate():
    world = GridWorld(CLASSIC, slip=0.0, max_steps=3)
    world.reset(seed=0)
    flags = [world.step(LEFT)[2:4] for _ in range(3)]
    assert flags == [(False, False), (False, False), (False, True)]
    world = GridWorld(CLASSIC, slip=0.0, max_steps=None)
    world.reset(seed=0)
    for action in (UP, UP, RIGHT, RIGHT):
        _, reward, terminated, truncated, _ = world.step(action)
    assert (reward, terminated, truncated) == (-0.04, False, False)
    assert world.step(RIGHT)[1:4] == (1.0, True, False)


@pytest.mark.parametrize("layout, message", [(["..", "..."], "equal length"), (["S.Q"], "only"),
                                             (["..G"], "one start"), (["S.G", "S.."], "one start")])
def test_bad_layouts_are_refused_with_a_reason(layout, message):
    with pytest.raises(ValueError, match=message):
        GridWorld(layout)


def test_bad_slip_and_bad_action_are_refused():
    with pytest.raises(ValueError, match="probability"):
        GridWorld(slip=1.5)
    world = GridWorld()
    world.reset(seed=0)
    with pytest.raises(ValueError, match="action must be"):
        world.step(4)


def test_maze_goal_is_reachable_from_the_start():
    world = GridWorld(MAZE, slip=0.0)
    seen, frontier = {world.start_state}, [world.start_state]
    while frontier:
        s = frontier.pop()
        for a in range(4):
            for _, nxt, _, done in world.P[s][a]:
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
    assert any(world.char(s) == "G" for s in seen)


def test_play_episodes_keeps_termination_apart_from_truncation():
    envs = [GridWorld(CLASSIC, slip=0.0, max_steps=6) for _ in range(3)]
    plans = {0: [UP, UP, RIGHT, RIGHT, RIGHT], 1: [LEFT] * 10, 2: [RIGHT, RIGHT, RIGHT, UP]}
    step = {"t": 0}

    def act(states):  # all three start together; the first two stay in lockstep
        t = step["t"]
        step["t"] += 1
        running = [i for i in range(3) if t < {0: 5, 1: 6, 2: 4}[i]]
        return [plans[i][t] for i in running]

    result = play_episodes(envs, act, seeds=[0, 1, 2], record=True)
    np.testing.assert_array_equal(result["lengths"], [5, 6, 4])
    np.testing.assert_array_equal(result["terminated"], [True, False, True])
    goal, pit = (envs[0].state_of[cell] for cell in [(0, 3), (1, 3)])
    np.testing.assert_array_equal(result["final_observations"], [goal, envs[1].start_state, pit])
    np.testing.assert_allclose(result["returns"], [4 * -0.04 + 1, 6 * -0.04, 3 * -0.04 - 1])
    assert result["observations"][1].dtype == np.int64 and result["observations"][1].shape == (6,)
    np.testing.assert_array_equal(result["actions"][2], plans[2])
    np.testing.assert_allclose(result["rewards"][0].sum(), result["returns"][0])


def test_play_episodes_on_cartpole_is_reproducible_and_truncates_at_500():
    envs = [gym.make("CartPole-v1") for _ in range(4)]

    def balance(observations):  # push towards the side the pole leans to: a decent controller
        return (observations[:, 2] + 0.5 * observations[:, 3] > 0).astype(int)

    first = play_episodes(envs, balance, seeds=[0, 1, 2, 3], record=True)
    again = play_episodes(envs, balance, seeds=[0, 1, 2, 3])
    np.testing.assert_array_equal(first["returns"], again["returns"])
    assert first["observations"][0].shape == (first["lengths"][0], 4)
    assert first["observations"][0].dtype == np.float32
    assert (first["lengths"] <= 500).all()
    assert ((first["lengths"] == 500) == ~first["terminated"]).all()
    with pytest.raises(ValueError, match="one seed per environment"):
        play_episodes(envs, balance, seeds=[0])


def test_smooth_is_a_trailing_average():
    np.testing.assert_allclose(smooth([2.0, 4.0, 6.0, 8.0], width=2), [2.0, 3.0, 5.0, 7.0])
    np.testing.assert_allclose(smooth(np.arange(5.0), width=10), [0, 0.5, 1, 1.5, 2])


def test_frozen_lake_is_a_grid_world_with_holes_worth_zero_and_slip_two_thirds():
    lake = gym.make("FrozenLake-v1").unwrapped
    world = GridWorld(["S...", ".X.X", "...X", "X..G"], slip=2 / 3, step_reward=0.0, pit_reward=0.0, goal_reward=1.0)
    T_world, R_world = model_arrays(world)
    T_lake, R_lake = model_arrays(lake)  # same attribute names: P, and 16 states, 4 actions
    np.testing.assert_allclose(T_world, T_lake, atol=1e-12)
    np.testing.assert_allclose(R_world, R_lake, atol=1e-12)
