"""Notebook 01_knn: the solution passes every grade cell; classic mistakes fail with a named message.

Each test builds a wrong version of one student function, runs that function's grade cell
(visible and hidden checks) with it, and asserts the failure message names the mistake.
"""

from __future__ import annotations

import numpy as np
import pytest
from gradecells import run_grade_cell

NOTEBOOK = "01_knn"
GRADE_IDS = ["check_two_loops", "check_one_loop", "check_no_loops", "check_predict_labels",
             "check_cross_validate"]
DISTANCE_CELLS = {"check_two_loops": "compute_distances_two_loops",
                  "check_one_loop": "compute_distances_one_loop",
                  "check_no_loops": "compute_distances_no_loops"}


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run_grade_cell(NOTEBOOK, grade_id)


# ------------------------------------------------------------------------ distances
def squared_distances(X_train, X_test):
    return ((X_test[:, None, :] - X_train[None, :, :]) ** 2).sum(axis=2)


def transposed_distances(X_train, X_test):
    return np.sqrt(((X_train[:, None, :] - X_test[None, :, :]) ** 2).sum(axis=2))


@pytest.mark.parametrize("grade_id", DISTANCE_CELLS)
def test_distance_without_square_root_is_named(grade_id):
    with pytest.raises(AssertionError, match="square root"):
        run_grade_cell(NOTEBOOK, grade_id, **{DISTANCE_CELLS[grade_id]: squared_distances})


@pytest.mark.parametrize("grade_id", DISTANCE_CELLS)
def test_transposed_distances_are_named(grade_id):
    with pytest.raises(AssertionError, match="transposed"):
        run_grade_cell(NOTEBOOK, grade_id, **{DISTANCE_CELLS[grade_id]: transposed_distances})


def test_l1_instead_of_l2_is_named():
    def l1(X_train, X_test):
        return np.abs(X_test[:, None, :] - X_train[None, :, :]).sum(axis=2)

    with pytest.raises(AssertionError, match="L1"):
        run_grade_cell(NOTEBOOK, "check_two_loops", compute_distances_two_loops=l1)


def test_one_loop_summing_over_all_axes_is_named():
    def sum_everything(X_train, X_test):
        dists = np.zeros((X_test.shape[0], X_train.shape[0]))
        for i in range(X_test.shape[0]):
            dists[i] = np.sqrt(np.sum((X_train - X_test[i]) ** 2))
        return dists

    with pytest.raises(AssertionError, match="axis=1"):
        run_grade_cell(NOTEBOOK, "check_one_loop", compute_distances_one_loop=sum_everything)


def test_no_loop_version_with_a_for_loop_is_named():
    def with_loop(X_train, X_test):
        dists = np.zeros((X_test.shape[0], X_train.shape[0]))
        for i in range(X_test.shape[0]):
            dists[i] = np.sqrt(np.maximum(((X_train - X_test[i]) ** 2).sum(axis=1), 0))
        return dists

    with pytest.raises(AssertionError, match=r"must not loop in Python.*`for i in range"):
        run_grade_cell(NOTEBOOK, "check_no_loops", compute_distances_no_loops=with_loop)


def test_no_loop_version_with_a_comprehension_is_named():
    def with_comprehension(X_train, X_test):
        return np.array([np.sqrt(((X_train - x) ** 2).sum(axis=1)) for x in X_test])

    with pytest.raises(AssertionError, match=r"must not loop in Python.*listcomp"):
        run_grade_cell(NOTEBOOK, "check_no_loops", compute_distances_no_loops=with_comprehension)


def test_no_loop_version_without_source_is_still_counted():
    namespace = {"np": np}
    exec(  # no source file: the lines run are counted all the same
        "def hidden(X_train, X_test):\n"
        "    i, rows = 0, []\n"
        "    while i < len(X_test):\n"
        "        rows.append(np.sqrt(((X_train - X_test[i]) ** 2).sum(axis=1)))\n"
        "        i += 1\n"
        "    return np.array(rows)\n",
        namespace,
    )
    with pytest.raises(AssertionError, match=r"must not loop in Python.*line 3 of hidden"):
        run_grade_cell(NOTEBOOK, "check_no_loops", compute_distances_no_loops=namespace["hidden"])


def test_no_loop_version_calling_a_loop_version_is_named():
    namespace = run_grade_cell(NOTEBOOK, "check_one_loop")  # defines the notebook's one-loop version
    exec(
        "def delegate(X_train, X_test):\n"
        "    return compute_distances_one_loop(X_train, X_test)\n",
        namespace,
    )
    with pytest.raises(AssertionError, match=r"must not loop in Python.*of compute_distances_one_loop"):
        run_grade_cell(NOTEBOOK, "check_no_loops", compute_distances_no_loops=namespace["delegate"])


def test_no_loop_version_without_clipping_is_named():
    def unclipped(X_train, X_test):
        dists_sq = (X_test ** 2).sum(1)[:, None] + (X_train ** 2).sum(1) - 2 * X_test @ X_train.T
        with np.errstate(invalid="ignore"):
            return np.sqrt(dists_sq)

    with pytest.raises(AssertionError, match="nan.*np.maximum"):
        run_grade_cell(NOTEBOOK, "check_no_loops", compute_distances_no_loops=unclipped)


def test_no_loop_version_with_wrong_sign_is_named():
    def plus_cross_term(X_train, X_test):
        dists_sq = (X_test ** 2).sum(1)[:, None] + (X_train ** 2).sum(1) + 2 * X_test @ X_train.T
        return np.sqrt(np.maximum(dists_sq, 0))

    with pytest.raises(AssertionError, match="sign error"):
        run_grade_cell(NOTEBOOK, "check_no_loops", compute_distances_no_loops=plus_cross_term)


# ------------------------------------------------------------------------ votes
def vote(dists, y_train, k, break_tie):
    nearest = np.argsort(dists, axis=1, kind="stable")[:, :k]
    y_pred = np.zeros(dists.shape[0], dtype=np.int64)
    for i, row in enumerate(nearest):
        labels, counts = np.unique(y_train[row], return_counts=True)
        tied = labels[counts == counts.max()]
        y_pred[i] = break_tie(tied, y_train[row])
    return y_pred


def test_ties_to_the_largest_label_are_named():
    def largest(dists, y_train, k=1):
        return vote(dists, y_train, k, lambda tied, ordered: tied.max())

    with pytest.raises(AssertionError, match="LARGEST label"):
        run_grade_cell(NOTEBOOK, "check_predict_labels", predict_labels=largest)


def test_ties_to_the_nearest_neighbour_are_named():
    def nearest_first(dists, y_train, k=1):
        return vote(dists, y_train, k, lambda tied, ordered: next(y for y in ordered if y in tied))

    with pytest.raises(AssertionError, match="smallest label"):
        run_grade_cell(NOTEBOOK, "check_predict_labels", predict_labels=nearest_first)


def test_voting_among_the_farthest_is_named():
    def farthest(dists, y_train, k=1):
        return vote(-dists, y_train, k, lambda tied, ordered: tied.min())

    with pytest.raises(AssertionError, match="SMALLEST distances"):
        run_grade_cell(NOTEBOOK, "check_predict_labels", predict_labels=farthest)


def test_float_labels_are_named():
    def floats(dists, y_train, k=1):
        return vote(dists, y_train, k, lambda tied, ordered: tied.min()).astype(np.float64)

    with pytest.raises(AssertionError, match="integer labels"):
        run_grade_cell(NOTEBOOK, "check_predict_labels", predict_labels=floats)


# ------------------------------------------------------------------------ cross-validation
def make_cross_validate(split):
    """A cross_validate whose folds come from split(N, num_folds) -> list of (train, val) indices."""

    def cross_validate(X, y, k_choices, num_folds=5):
        accuracies = {k: [] for k in k_choices}
        for train_index, val_index in split(len(X), num_folds):
            dists = compute_distances_no_loops(X[train_index], X[val_index])  # noqa: F821
            for k in k_choices:
                y_pred = predict_labels(dists, y[train_index], k=k)  # noqa: F821
                accuracies[k].append(float(np.mean(y_pred == y[val_index])))
        return accuracies

    return cross_validate


def test_overlapping_folds_are_named():
    def overlapping(n, num_folds):  # each validation fold also takes the first point of the next one
        folds = np.array_split(np.arange(n), num_folds)
        for f, fold in enumerate(folds):
            val = np.concatenate([fold, folds[(f + 1) % num_folds][:1]])
            yield np.setdiff1d(np.arange(n), val), val

    with pytest.raises(AssertionError, match="folds overlap"):
        run_grade_cell(NOTEBOOK, "check_cross_validate", cross_validate=make_cross_validate(overlapping))


def test_validation_fold_in_training_set_is_named():
    def leaking(n, num_folds):  # trains on everything, validation points included
        for fold in np.array_split(np.arange(n), num_folds):
            yield np.arange(n), fold

    with pytest.raises(AssertionError, match="overlap"):
        run_grade_cell(NOTEBOOK, "check_cross_validate", cross_validate=make_cross_validate(leaking))


def test_fold_never_validated_is_named():
    def skip_last(n, num_folds):  # the last fold is never used for validation
        folds = np.array_split(np.arange(n), num_folds)
        for f in range(num_folds - 1):
            yield np.concatenate([g for i, g in enumerate(folds) if i != f]), folds[f]

    with pytest.raises(AssertionError, match="never in a validation fold|one per fold"):
        run_grade_cell(NOTEBOOK, "check_cross_validate", cross_validate=make_cross_validate(skip_last))


def test_shuffled_folds_fail_the_accuracy_check():
    def shuffled(n, num_folds):
        order = np.random.default_rng(0).permutation(n)
        for fold in np.array_split(order, num_folds):
            yield np.setdiff1d(order, fold), fold

    with pytest.raises(AssertionError, match="array_split"):
        run_grade_cell(NOTEBOOK, "check_cross_validate", cross_validate=make_cross_validate(shuffled))


def test_cross_validate_grade_cell_restores_the_notebook_functions():
    namespace = run_grade_cell(NOTEBOOK, "check_cross_validate")
    assert namespace["compute_distances_no_loops"].__name__ == "compute_distances_no_loops"
    assert namespace["predict_labels"].__name__ == "predict_labels"
