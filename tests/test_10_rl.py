"""Notebook 10_rl: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is a complete student function (or class) with one classic mistake; its
grade cell (visible and hidden checks) must fail with an AssertionError whose message names it.
Valid alternatives (other vectorisations, other orders of random draws, other torch idioms) must
pass. Conventions: T[s, a, s2] leaves out outcomes that end the episode; TD targets bootstrap
unless the transition terminated (a truncation still bootstraps); the DQN loss is the Huber loss
(beta 1) averaged over the batch; REINFORCE normalises advantages with torch's std (N - 1).
"""

from __future__ import annotations


import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradecells import graded_ids, notebook_namespace, run_grade_cell

NOTEBOOK = "10_rl"
GRADE_IDS = ["check_mdp_arrays", "check_discounted_return", "check_bellman_backups", "check_policy_evaluation_exact",
             "check_policy_evaluation", "check_greedy_policy", "check_policy_iteration", "check_value_iteration",
             "check_q_value_iteration", "check_epsilon_greedy", "check_linear_epsilon", "check_q_learning_update",
             "check_sarsa_update", "check_replay_buffer", "check_td_targets", "check_dqn_update", "check_update_target",
             "check_returns_to_go", "check_reinforce_update"]


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


def fails(grade_id, match, **overrides):
    with pytest.raises(AssertionError, match=match):
        run(grade_id, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)


# ------------------------------------------------------------------------ 1. the MDP as arrays
def _mdp_arrays(include_done=False, overwrite=False, weighted=True, reward_of_done=True):
    def mdp_arrays(P, num_states, num_actions):
        T, R = np.zeros((num_states, num_actions, num_states)), np.zeros((num_states, num_actions))
        for s in range(num_states):
            for a in range(num_actions):
                for p, s2, r, done in P[s][a]:
                    if reward_of_done or not done:
                        R[s, a] += p * r if weighted else r
                    if include_done or not done:
                        if overwrite:
                            T[s, a, s2] = p
                        else:
                            T[s, a, s2] += p
        return T, R
    return mdp_arrays


def test_mdp_arrays_keeping_terminal_outcomes_is_named():
    fails("check_mdp_arrays", "bootstraps from terminal states", mdp_arrays=_mdp_arrays(include_done=True))


def test_mdp_arrays_overwriting_repeated_next_states_is_named():
    fails("check_mdp_arrays", r"add the probabilities up \(\+=\)", mdp_arrays=_mdp_arrays(overwrite=True))


def test_mdp_arrays_without_probability_weights_is_named():
    fails("check_mdp_arrays", "not weighted by the probabilities", mdp_arrays=_mdp_arrays(weighted=False))


def test_mdp_arrays_dropping_the_reward_of_terminal_outcomes_is_named():
    fails("check_mdp_arrays", "leaves out the rewards of outcomes with done=True",
          mdp_arrays=_mdp_arrays(reward_of_done=False))


def test_mdp_arrays_with_torch_is_refused():
    def with_torch(P, num_states, num_actions):
        T, R = _mdp_arrays()(P, num_states, num_actions)
        return torch.as_tensor(T).numpy(), torch.as_tensor(R).numpy()
    fails("check_mdp_arrays", "written by hand with NumPy", mdp_arrays=with_torch)


def test_mdp_arrays_with_np_add_at_passes():
    def vectorised(P, num_states, num_actions):
        rows = [(s, a, s2, p, r, d) for s in range(num_states) for a in range(num_actions) for p, s2, r, d in P[s][a]]
        s, a, s2, p, r, d = (np.array(column) for column in zip(*rows))
        T, R = np.zeros((num_states, num_actions, num_states)), np.zeros((num_states, num_actions))
        np.add.at(T, (s.astype(int), a.astype(int), s2.astype(int)), p * (1 - d.astype(float)))
        np.add.at(R, (s.astype(int), a.astype(int)), p * r)
        return T, R
    run("check_mdp_arrays", mdp_arrays=vectorised)


# ------------------------------------------------------------------------ the return of an episode
@pytest.mark.parametrize("wrong, match", [
    (lambda r, g: float(np.sum(np.asarray(r) * g ** np.arange(1, len(r) + 1))), "first reward is discounted"),
    (lambda r, g: float(np.sum(np.asarray(r) * g ** np.arange(len(r))[::-1])), "runs backwards"),
    (lambda r, g: float(np.sum(r)), "not discounted")])
def test_discounted_return_mistakes_are_named(wrong, match):
    fails("check_discounted_return", match, discounted_return=wrong)


def test_discounted_return_by_a_backward_loop_passes():
    def backward(rewards, gamma):
        total = 0.0
        for r in reversed(list(rewards)):
            total = r + gamma * total
        return total
    run("check_discounted_return", discounted_return=backward)


# ------------------------------------------------------------------------ Bellman backups
def _backups(q_from_v):
    def expectation(V, policy, T, R, gamma):
        return np.sum(policy * q_from_v(V, T, R, gamma), axis=1)

    def optimality(V, T, R, gamma):
        return q_from_v(V, T, R, gamma).max(axis=1)
    return {"q_from_v": q_from_v, "bellman_expectation_backup": expectation, "bellman_optimality_backup": optimality}


def test_q_from_v_summing_the_wrong_axis_of_T_is_named():
    fails("check_bellman_backups", "wrong axis of T",
          **_backups(lambda V, T, R, gamma: R + gamma * np.einsum("tas,t->sa", T, V)))


def test_q_from_v_without_gamma_is_named():
    fails("check_bellman_backups", "gamma is missing", **_backups(lambda V, T, R, gamma: R + T @ V))


@pytest.mark.parametrize("wrong, match", [
    (lambda V, policy, T, R, gamma: (R + gamma * T @ V).mean(axis=1), "averaged uniformly"),
    (lambda V, policy, T, R, gamma: (R + gamma * T @ V).max(axis=1), "that is the optimality backup"),
    (lambda V, policy, T, R, gamma: (policy * (R + gamma * T @ V)).sum(axis=0), "over the actions of each state")])
def test_expectation_backup_mistakes_are_named(wrong, match):
    fails("check_bellman_backups", match, bellman_expectation_backup=wrong)


def test_optimality_backup_with_the_max_over_states_is_named():
    fails("check_bellman_backups", "max over the wrong axis",
          bellman_optimality_backup=lambda V, T, R, gamma: (R + gamma * T @ V).max(axis=0))


def test_q_from_v_with_a_loop_over_states_is_refused():
    def looped(V, T, R, gamma):
        return np.stack([R[s] + gamma * T[s] @ V for s in range(len(V))])
    fails("check_bellman_backups", "must not loop", **_backups(looped))


def test_backups_with_einsum_pass():
    q = lambda V, T, R, gamma: R + gamma * np.einsum("sat,t->sa", T, V)  # noqa: E731
    overrides = _backups(q)
    overrides["bellman_expectation_backup"] = lambda V, policy, T, R, gamma: np.einsum("sa,sa->s", policy, q(V, T, R, gamma))
    overrides["bellman_optimality_backup"] = lambda V, T, R, gamma: np.max(q(V, T, R, gamma), axis=-1)
    run("check_bellman_backups", **overrides)


# ------------------------------------------------------------------------ policy evaluation
def _pieces(policy, T, R):
    return np.sum(policy * R, axis=1), np.einsum("sa,sat->st", policy, T)


def test_exact_evaluation_with_a_transposed_T_pi_is_named():
    def transposed(policy, T, R, gamma):
        R_pi, T_pi = _pieces(policy, T, R)
        return np.linalg.solve(np.eye(len(R_pi)) - gamma * T_pi.T, R_pi)
    fails("check_policy_evaluation_exact", "T_pi is transposed", policy_evaluation_exact=transposed)


def test_exact_evaluation_without_gamma_is_named():
    def no_gamma(policy, T, R, gamma):
        R_pi, T_pi = _pieces(policy, T, R)
        return np.linalg.solve(np.eye(len(R_pi)) - T_pi, R_pi) if gamma < 1 else np.zeros(len(R_pi))
    fails("check_policy_evaluation_exact", "gamma is missing", policy_evaluation_exact=no_gamma)


def test_exact_evaluation_with_torch_is_refused():
    def with_torch(policy, T, R, gamma):
        R_pi, T_pi = _pieces(policy, T, R)
        return torch.linalg.solve(torch.eye(len(R_pi), dtype=torch.float64) - gamma * torch.tensor(T_pi),
                                  torch.tensor(R_pi)).numpy()
    fails("check_policy_evaluation_exact", "written by hand with NumPy", policy_evaluation_exact=with_torch)


def test_exact_evaluation_by_an_inverse_passes():
    def inverse(policy, T, R, gamma):
        R_pi, T_pi = _pieces(policy, T, R)
        return np.linalg.inv(np.eye(len(R_pi)) - gamma * T_pi) @ R_pi
    run("check_policy_evaluation_exact", policy_evaluation_exact=inverse)


def _iterative(count_from=1, stop=True, respect_max=True):
    def policy_evaluation(policy, T, R, gamma, tol=1e-10, max_iterations=100_000):
        R_pi, T_pi = _pieces(policy, T, R)
        V, k = np.zeros(len(R_pi)), 0
        while True:
            k += 1
            V_next = R_pi + gamma * T_pi @ V
            change, V = np.max(np.abs(V_next - V)), V_next
            if (stop and change < tol) or (respect_max and k >= max_iterations) or k >= 100_000:
                return V, k - 1 + count_from
    return policy_evaluation


def test_evaluation_without_a_stopping_rule_is_named():
    fails("check_policy_evaluation", "ran to max_iterations", policy_evaluation=_iterative(stop=False))


def test_evaluation_counting_from_zero_is_named():
    fails("check_policy_evaluation", "iterations on the one-state chain", policy_evaluation=_iterative(count_from=0))


def test_evaluation_ignoring_max_iterations_is_named():
    fails("check_policy_evaluation", "should stop after 3 iterations", policy_evaluation=_iterative(respect_max=False))


def test_evaluation_written_as_a_while_loop_passes():
    run("check_policy_evaluation", policy_evaluation=_iterative())


# ------------------------------------------------------------------------ policy improvement and iteration
def test_greedy_ties_to_the_last_action_are_named():
    def last(Q):
        Q = np.asarray(Q)
        return np.eye(Q.shape[1])[Q.shape[1] - 1 - np.argmax(Q[:, ::-1], axis=1)]
    fails("check_greedy_policy", "LAST maximal action", greedy_policy=last)


def test_greedy_returning_action_indices_is_named():
    fails("check_greedy_policy", "one one-hot row per state", greedy_policy=lambda Q: np.argmax(Q, axis=1))


def test_greedy_with_the_argmax_over_states_is_named():
    def per_column(Q):
        policy = np.zeros(np.shape(Q))
        policy[np.argmax(Q, axis=0), np.arange(np.shape(Q)[1])] = 1.0
        return policy
    fails("check_greedy_policy", "argmax went over the states", greedy_policy=per_column)


def test_greedy_with_np_eye_passes():
    run("check_greedy_policy", greedy_policy=lambda Q: np.eye(np.shape(Q)[1])[np.argmax(Q, axis=1)])


def _policy_iteration(stop_after_one=False, count_offset=0):
    def policy_iteration(T, R, gamma, evaluate=None, improve=None, max_iterations=1000):
        policy, count = np.ones(np.shape(R)) / np.shape(R)[1], 0
        while True:
            V = evaluate(policy, T, R, gamma)
            count += 1
            new = improve(V, T, R, gamma)
            if stop_after_one:          # returns the improved policy with the value of the old one
                return new, V, count
            if (new == policy).all() or count == max_iterations:
                return policy, V, count + count_offset
            policy = new
    return policy_iteration


def test_policy_iteration_stopping_after_one_improvement_is_named():
    fails("check_policy_iteration", "after the first improvement", policy_iteration=_policy_iteration(stop_after_one=True))


def test_policy_iteration_with_an_off_by_one_count_is_named():
    fails("check_policy_iteration", "should evaluate twice", policy_iteration=_policy_iteration(count_offset=1))


def test_policy_iteration_as_a_while_loop_passes():
    run("check_policy_iteration", policy_iteration=_policy_iteration())


def test_policy_iteration_comparing_action_indices_passes():
    def by_actions(T, R, gamma, evaluate=None, improve=None, max_iterations=1000):
        policy = np.full(np.shape(R), 1.0 / np.shape(R)[1])
        actions = None
        for count in range(1, max_iterations + 1):
            V = evaluate(policy, T, R, gamma)
            new = improve(V, T, R, gamma)
            if actions is not None and np.array_equal(new.argmax(axis=1), actions):
                break
            policy, actions = new, new.argmax(axis=1)
        return policy, V, count
    run("check_policy_iteration", policy_iteration=by_actions)


# ------------------------------------------------------------------------ value iteration
def _value_iteration(axis=1, stop=True, count_offset=0, on_q=False):
    def iterate(T, R, gamma, tol=1e-10, max_iterations=100_000):
        X = np.zeros(np.shape(R)) if on_q else np.zeros(np.shape(R)[0] if axis == 1 else np.shape(R)[1])
        for k in range(1, max_iterations + 1):
            if on_q:
                new = R + gamma * T @ X.max(axis=axis)
            else:
                new = np.max(R + gamma * T @ X, axis=axis)
            change, X = np.max(np.abs(new - X)), new
            if stop and change < tol:
                break
        return X, k + count_offset
    return iterate


def test_value_iteration_with_the_max_over_states_is_named():
    fails("check_value_iteration", "max over the wrong axis", value_iteration=_value_iteration(axis=0))


def test_value_iteration_without_a_stopping_rule_is_named():
    fails("check_value_iteration", "ran to max_iterations", value_iteration=_value_iteration(stop=False))


def test_value_iteration_with_an_off_by_one_count_is_named():
    fails("check_value_iteration", "iterations on one state", value_iteration=_value_iteration(count_offset=-1))


def test_q_value_iteration_with_the_max_over_states_is_named():
    fails("check_q_value_iteration", "max over the wrong axis", q_value_iteration=_value_iteration(axis=0, on_q=True))


def test_q_value_iteration_with_an_off_by_one_count_is_named():
    fails("check_q_value_iteration", "iterations on one state",
          q_value_iteration=_value_iteration(count_offset=1, on_q=True))


def test_value_iterations_written_otherwise_pass():
    def value_iteration(T, R, gamma, tol=1e-10, max_iterations=100_000):
        V, k, change = np.zeros(len(R)), 0, np.inf
        while change >= tol and k < max_iterations:
            V_next = np.einsum("sat,t->sa", T, V).__mul__(gamma).__add__(R).max(axis=1)
            change, V, k = np.abs(V_next - V).max(), V_next, k + 1
        return V, k
    run("check_value_iteration", value_iteration=value_iteration)
    run("check_q_value_iteration", q_value_iteration=_value_iteration(on_q=True))


# ------------------------------------------------------------------------ exploration
def _epsilon_greedy(explore_greedy=True, invert=False, one_coin=False, use_global=False, last_tie=False, looped=False):
    def epsilon_greedy(q_values, epsilon, rng):
        q = np.asarray(q_values)
        n, a = q.shape
        draw = np.random.default_rng() if use_global else rng    # a fresh, unseeded generator
        coins = np.full(n, draw.random()) if one_coin else draw.random(n)
        explore = coins >= epsilon if invert else coins < epsilon
        if explore_greedy:
            random = draw.integers(0, a, size=n)
        else:  # one of the other actions
            random = (np.argmax(q, axis=1) + draw.integers(1, a, size=n)) % a
        greedy = a - 1 - np.argmax(q[:, ::-1], axis=1) if last_tie else np.argmax(q, axis=1)
        if looped:
            return np.array([random[i] if explore[i] else greedy[i] for i in range(n)], dtype=np.int64)
        return np.where(explore, random, greedy).astype(np.int64)
    return epsilon_greedy


@pytest.mark.parametrize("mistake, match", [
    ({"explore_greedy": False}, "never picks the greedy one"),
    ({"invert": True}, "probability of exploring"),
    ({"one_coin": True}, "one coin"),
    ({"use_global": True}, "with the same seed"),
    ({"last_tie": True}, "ties went to the last"),
    ({"looped": True}, "must not loop")])
def test_epsilon_greedy_mistakes_are_named(mistake, match):
    fails("check_epsilon_greedy", match, epsilon_greedy=_epsilon_greedy(**mistake))


def test_epsilon_greedy_returning_int32_is_refused():
    fails("check_epsilon_greedy", "dtype int32, expected int64",
          epsilon_greedy=lambda q, e, rng: _epsilon_greedy()(q, e, rng).astype(np.int32))


def test_epsilon_greedy_drawing_in_another_order_passes():
    def other_order(q_values, epsilon, rng):
        q = np.asarray(q_values)
        random = rng.choice(q.shape[1], size=len(q))      # the random actions first, then the coins
        explore = rng.uniform(size=len(q)) < epsilon
        return np.where(explore, random, q.argmax(axis=1)).astype(np.int64)
    run("check_epsilon_greedy", epsilon_greedy=other_order)


@pytest.mark.parametrize("wrong, match", [
    (lambda step, start=1.0, end=0.05, decay_steps=10_000: start, "never decays"),
    (lambda step, start=1.0, end=0.05, decay_steps=10_000: start + (end - start) * step / decay_steps, "keeps falling"),
    (lambda step, start=1.0, end=0.05, decay_steps=10_000: start * max(0.0, 1 - step / decay_steps), "decays to 0")])
def test_linear_epsilon_mistakes_are_named(wrong, match):
    fails("check_linear_epsilon", match, linear_epsilon=wrong)


def test_linear_epsilon_with_np_interp_passes():
    run("check_linear_epsilon", linear_epsilon=lambda step, start=1.0, end=0.05, decay_steps=10_000:
        float(np.interp(step, [0, decay_steps], [start, end])))


# ------------------------------------------------------------------------ Q-learning and SARSA
def _q_learning(bootstrap_terminal=False, from_state=False, alpha_used=True, in_place=True):
    def q_learning_update(Q, state, action, reward, next_state, terminated, alpha, gamma):
        row = Q[state] if from_state else Q[next_state]
        target = reward + gamma * np.max(row) if (bootstrap_terminal or not terminated) else reward
        error = target - Q[state, action]
        table = Q if in_place else Q.copy()
        table[state, action] = table[state, action] + alpha * error if alpha_used else target
        return float(error)
    return q_learning_update


@pytest.mark.parametrize("mistake, match", [
    ({"bootstrap_terminal": True}, "terminal transition bootstrapped"),
    ({"from_state": True}, r"Q\[state\] instead of Q\[next_state\]"),
    ({"alpha_used": False}, "alpha is missing"),
    ({"in_place": False}, "Q did not change")])
def test_q_learning_mistakes_are_named(mistake, match):
    fails("check_q_learning_update", match, q_learning_update=_q_learning(**mistake))


def _sarsa(rule="sarsa", bootstrap_terminal=False):
    def sarsa_update(Q, state, action, reward, next_state, next_action, terminated, alpha, gamma):
        following = {"sarsa": Q[next_state, next_action], "max": np.max(Q[next_state]), "same": Q[next_state, action]}[rule]
        target = reward + gamma * following if (bootstrap_terminal or not terminated) else reward
        error = target - Q[state, action]
        Q[state, action] += alpha * error
        return float(error)
    return sarsa_update


@pytest.mark.parametrize("mistake, match", [
    ({"rule": "max"}, "Q-learning's target"),
    ({"rule": "same"}, "this step's action"),
    ({"bootstrap_terminal": True}, "terminal transition bootstrapped")])
def test_sarsa_mistakes_are_named(mistake, match):
    fails("check_sarsa_update", match, sarsa_update=_sarsa(**mistake))


def test_q_learning_written_with_a_row_view_passes():
    def row_view(Q, state, action, reward, next_state, terminated, alpha, gamma):
        row = Q[state]                                  # a view: changing it changes Q
        target = reward + (0.0 if terminated else gamma * Q[next_state].max())
        error = target - row[action]
        row[action] += alpha * error
        return error
    run("check_q_learning_update", q_learning_update=row_view)


# ------------------------------------------------------------------------ the replay buffer
def _buffer_class(last_slot=False, sample_rule="stored", same_index=True, use_global=False):
    base = notebook_namespace(NOTEBOOK)["ReplayBuffer"]

    class Wrong(base):
        def add(self, state, action, reward, next_state, terminated, truncated):
            slot = self.next_slot
            for name, value in zip(self.FIELDS, (state, action, reward, next_state, terminated, truncated)):
                getattr(self, name)[slot] = value
            self.next_slot = min(slot + 1, self.capacity - 1) if last_slot else (slot + 1) % self.capacity
            self.size = min(self.size + 1, self.capacity)

        def sample(self, batch_size, rng):
            draw = np.random.default_rng() if use_global else rng
            high = self.capacity if sample_rule == "capacity" else self.size
            index = draw.integers(0, high, size=batch_size)
            return {name: getattr(self, name)[index if same_index else draw.integers(0, high, size=batch_size)]
                    for name in self.FIELDS}
    return Wrong


def test_buffer_overwriting_its_last_slot_is_named():
    fails("check_replay_buffer", "overwriting its LAST slot", ReplayBuffer=_buffer_class(last_slot=True))


def test_buffer_dropping_new_transitions_is_named():
    base = notebook_namespace(NOTEBOOK)["ReplayBuffer"]

    class Dropping(base):
        def add(self, state, action, reward, next_state, terminated, truncated):
            if self.size < self.capacity:
                super().add(state, action, reward, next_state, terminated, truncated)
    fails("check_replay_buffer", "drops new transitions", ReplayBuffer=Dropping)


def test_buffer_writing_at_size_modulo_capacity_is_named():
    base = notebook_namespace(NOTEBOOK)["ReplayBuffer"]

    class SizeSlot(base):
        def add(self, state, action, reward, next_state, terminated, truncated):
            self.next_slot = self.size % self.capacity      # once full, always slot 0
            super().add(state, action, reward, next_state, terminated, truncated)
    fails("check_replay_buffer", "overwrote the wrong slot", ReplayBuffer=SizeSlot)


def test_buffer_sampling_empty_slots_is_named():
    fails("check_replay_buffer", "empty slots", ReplayBuffer=_buffer_class(sample_rule="capacity"))


def test_buffer_with_one_index_per_field_is_named():
    fails("check_replay_buffer", "do not belong together", ReplayBuffer=_buffer_class(same_index=False))


def test_buffer_drawing_from_the_global_state_is_named():
    fails("check_replay_buffer", "seeded the same differ", ReplayBuffer=_buffer_class(use_global=True))


def test_buffer_sampling_with_rng_choice_passes():
    base = notebook_namespace(NOTEBOOK)["ReplayBuffer"]

    class Choice(base):
        def sample(self, batch_size, rng):
            index = rng.choice(self.size, size=batch_size, replace=True)
            return {name: getattr(self, name)[index].copy() for name in self.FIELDS}
    run("check_replay_buffer", ReplayBuffer=Choice)


# ------------------------------------------------------------------------ TD targets
@pytest.mark.parametrize("wrong, match", [
    (lambda r, q, term, trunc, g: r + g * q.max(dim=1).values, "bootstrapped from terminal states"),
    (lambda r, q, term, trunc, g: r + g * (1 - torch.maximum(term, trunc)) * q.max(dim=1).values,
     "truncation .* is not termination"),
    (lambda r, q, term, trunc, g: r + (1 - term) * q.max(dim=1).values, "gamma is missing"),
    (lambda r, q, term, trunc, g: r + g * (1 - term) * q.argmax(dim=1).to(r.dtype), "argmax"),
    (lambda r, q, term, trunc, g: r + g * (1 - term) * q.max(dim=0).values, "max over the wrong axis")])
def test_td_target_mistakes_are_named(wrong, match):
    fails("check_td_targets", match, td_targets=wrong)


def test_td_targets_changing_the_rewards_in_place_are_refused():
    def in_place(rewards, next_q, terminated, truncated, gamma):
        return rewards.add_(gamma * (1 - terminated) * next_q.max(dim=1).values)
    fails("check_td_targets", "in place", td_targets=in_place)


def test_td_targets_with_torch_where_and_amax_pass():
    run("check_td_targets", td_targets=lambda r, q, term, trunc, g: torch.where(term.bool(), r, r + g * q.amax(dim=1)))


# ------------------------------------------------------------------------ one DQN update
def _dqn_update(target_from="target", no_grad=True, loss="huber", reduction="mean", taken="gather", step=True,
                zero=True, sign=1.0):
    def dqn_update(online_net, target_net, optimizer, batch, gamma, targets_from=None):
        q_all = online_net(batch["states"])
        q = q_all.max(dim=1).values if taken == "max" else q_all.gather(1, batch["actions"][:, None])[:, 0]
        net = online_net if target_from == "online" else target_net
        with torch.set_grad_enabled(not no_grad):
            y = targets_from(batch["rewards"], net(batch["next_states"]), batch["terminated"], batch["truncated"], gamma)
        value = (F.smooth_l1_loss if loss == "huber" else F.mse_loss)(q, y, reduction=reduction)
        if zero:
            optimizer.zero_grad()
        (sign * value).backward()
        if step:
            optimizer.step()
        return value.item()
    return dqn_update


@pytest.mark.parametrize("mistake, match", [
    ({"target_from": "online"}, "targets come from the online network"),
    ({"target_from": "online", "no_grad": False}, "gradients flow through the targets"),
    ({"loss": "mse"}, "mean squared error"),
    ({"reduction": "sum"}, "summed over the batch"),
    ({"taken": "max"}, "the action taken"),
    ({"step": False}, "online_net did not change"),
    ({"sign": -1.0}, "uphill"),
    ({"zero": False}, "zero_grad")])
def test_dqn_update_mistakes_are_named(mistake, match):
    fails("check_dqn_update", match, dqn_update=_dqn_update(**mistake))


def test_dqn_update_with_detach_and_huber_loss_passes():
    def detached(online_net, target_net, optimizer, batch, gamma, targets_from=None):
        q = online_net(batch["states"])[torch.arange(len(batch["actions"])), batch["actions"]]
        y = targets_from(batch["rewards"], target_net(batch["next_states"]).detach(), batch["terminated"],
                         batch["truncated"], gamma)
        loss = F.huber_loss(q, y, delta=1.0)
        optimizer.zero_grad(set_to_none=False)
        loss.backward()
        optimizer.step()
        return loss
    run("check_dqn_update", dqn_update=detached)


# ------------------------------------------------------------------------ the target network
def _update_target(rule="soft", alias=False, rebind=False):
    def update_target(target_net, online_net, tau):
        if rebind:
            target_net = online_net  # noqa: F841 (the classic no-op)
            return
        with torch.no_grad():
            for p_t, p_o in zip(target_net.parameters(), online_net.parameters()):
                if alias and tau == 1.0:
                    p_t.data = p_o.data
                elif rule == "swapped":
                    p_t.copy_((1 - tau) * p_o + tau * p_t)
                elif rule == "hard":
                    p_t.copy_(p_o)
                else:
                    p_t.copy_(tau * p_o + (1 - tau) * p_t)
    return update_target


@pytest.mark.parametrize("mistake, match", [
    ({"rule": "swapped"}, "tau weighs the wrong network"),
    ({"rule": "hard"}, "that is a hard copy"),
    ({"rebind": True}, "target_net did not change"),
    ({"alias": True}, "shares its tensors")])
def test_update_target_mistakes_are_named(mistake, match):
    fails("check_update_target", match, update_target=_update_target(**mistake))


def test_update_target_with_lerp_and_load_state_dict_passes():
    def lerp(target_net, online_net, tau):
        if tau == 1.0:
            target_net.load_state_dict(online_net.state_dict())
            return
        with torch.no_grad():
            for p_t, p_o in zip(target_net.parameters(), online_net.parameters()):
                p_t.lerp_(p_o, tau)
    run("check_update_target", update_target=lerp)


# ------------------------------------------------------------------------ returns-to-go
def _forwards(rewards, gamma):
    out, running = np.zeros(len(rewards)), 0.0
    for t, r in enumerate(rewards):
        running = gamma * running + r
        out[t] = running
    return out


@pytest.mark.parametrize("wrong, match", [
    (_forwards, "summed forwards"),
    (lambda r, g: np.array([np.sum(np.asarray(r)[t:] * g ** np.arange(t, len(r))) for t in range(len(r))]),
     "from the episode's start"),
    (lambda r, g: np.full(len(r), np.sum(np.asarray(r) * g ** np.arange(len(r)))), "whole episode"),
    (lambda r, g: np.cumsum(np.asarray(r, dtype=float)[::-1])[::-1].copy(), "not discounted")])
def test_returns_to_go_mistakes_are_named(wrong, match):
    fails("check_returns_to_go", match, returns_to_go=wrong)


def test_returns_to_go_with_two_loops_is_refused():
    def quadratic(rewards, gamma):
        out = np.zeros(len(rewards))
        for t in range(len(rewards)):
            for k in range(t, len(rewards)):
                out[t] += gamma ** (k - t) * rewards[k]
        return out
    fails("check_returns_to_go", "may loop over one dimension only", returns_to_go=quadratic)


def test_returns_to_go_with_torch_is_refused():
    def with_torch(rewards, gamma):
        r = torch.as_tensor(np.asarray(rewards, dtype=np.float64))
        out, running = torch.zeros_like(r), torch.zeros(())
        for t in range(len(r) - 1, -1, -1):
            running = r[t] + gamma * running
            out[t] = running
        return out.numpy()
    fails("check_returns_to_go", "written by hand with NumPy", returns_to_go=with_torch)


def test_returns_to_go_with_scipy_lfilter_passes():
    from scipy.signal import lfilter
    run("check_returns_to_go",
        returns_to_go=lambda r, g: lfilter([1.0], [1.0, -g], np.asarray(r, dtype=np.float64)[::-1])[::-1].copy())


# ------------------------------------------------------------------------ REINFORCE
def _reinforce(detach=True, normalize_rule="torch", advantage=True, baseline=True, sign=1.0, reduction="mean",
               zero=True):
    def reinforce_update(policy_net, value_net, optimizer, states, actions, returns, normalize=True):
        b = value_net(states)[:, 0]
        A = returns - (b.detach() if detach else b) if baseline else returns.clone()
        if normalize_rule == "always" or (normalize and normalize_rule != "never"):
            std = A.std(correction=0) if normalize_rule == "biased" else A.std()
            A = (A - A.mean()) / (std + 1e-8)
        log_pi = torch.log_softmax(policy_net(states), dim=1)[torch.arange(len(actions)), actions]
        terms = log_pi * A if advantage else log_pi
        policy_loss = -sign * (terms.mean() if reduction == "mean" else terms.sum())
        value_loss = F.mse_loss(b, returns)
        if zero:
            optimizer.zero_grad()
        (policy_loss + value_loss).backward()
        optimizer.step()
        return policy_loss.item(), value_loss.item()
    return reinforce_update


@pytest.mark.parametrize("mistake, match", [
    ({"advantage": False}, "no return factor"),
    ({"baseline": False}, "baseline is not subtracted"),
    ({"sign": -1.0}, "the sign is wrong"),
    ({"normalize_rule": "biased"}, "biased std"),
    ({"normalize_rule": "always"}, "normalised although normalize=False"),
    ({"detach": False}, "baseline's gradients leak into the policy loss"),
    ({"reduction": "sum"}, "summed over the steps"),
    ({"zero": False}, "zero them first")])
def test_reinforce_mistakes_are_named(mistake, match):
    fails("check_reinforce_update", match, reinforce_update=_reinforce(**mistake))


def test_reinforce_with_torch_distributions_passes():
    def with_categorical(policy_net, value_net, optimizer, states, actions, returns, normalize=True):
        baselines = value_net(states).squeeze(-1)
        with torch.no_grad():
            advantages = returns - baselines
            if normalize:
                advantages = (advantages - advantages.mean()) / (advantages.std(unbiased=True) + 1e-8)
        log_pi = torch.distributions.Categorical(logits=policy_net(states)).log_prob(actions)
        policy_loss = -(log_pi * advantages).mean()
        value_loss = ((baselines - returns) ** 2).mean()
        optimizer.zero_grad()
        policy_loss.backward()
        value_loss.backward()
        optimizer.step()
        return policy_loss.item(), value_loss.item()
    run("check_reinforce_update", reinforce_update=with_categorical)
