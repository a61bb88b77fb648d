"""Notebook 02_linear: every grade cell passes on the solution and names each classic mistake.

Each test builds a wrong version of one student function, runs that function's grade cell
(visible and hidden checks, from the solution notebook) against it, and asserts that the
cell fails with a message naming the mistake.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from gradecells import grade_cell_fails, notebook_namespace, run_grade_cell, solution_notebook

NOTEBOOK = "02_linear"
GRADE_IDS = [
    "check_svm_loss_naive",
    "check_svm_loss_vectorized",
    "check_softmax_loss_naive",
    "check_softmax_loss_vectorized",
    "check_linear_classifier",
    "check_random_search",
]


def fails_with(grade_id: str, match: str, **overrides) -> None:
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


# --------------------------------------------------------------------------- correct versions
def svm_correct(W, X, y, reg, *, count_correct=False, reg_grad_factor=2.0, mean=True):
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W
    margins = np.maximum(0.0, scores - scores[rows, y][:, None] + 1.0)
    if not count_correct:
        margins[rows, y] = 0.0
    pulls = (margins > 0).astype(np.float64)
    pulls[rows, y] = 0.0
    pulls[rows, y] = -pulls.sum(axis=1)
    scale = N if mean else 1
    loss = margins.sum() / scale + reg * np.sum(W**2)
    return loss, X.T @ pulls / scale + reg_grad_factor * reg * W


def softmax_correct(W, X, y, reg, *, shift=True, reg_grad_factor=2.0, minus_one=True):
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W
    if shift:
        scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    probs = exp / exp.sum(axis=1, keepdims=True)
    loss = -np.log(probs[rows, y]).mean() + reg * np.sum(W**2)
    if minus_one:
        probs[rows, y] -= 1.0
    return loss, X.T @ probs / N + reg_grad_factor * reg * W


class GoodClassifier:
    """A correct LinearClassifier, written here so that wrong variants can override one piece."""

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn
        self.W = None

    def batch(self, rng, num_train, batch_size):
        return rng.integers(0, num_train, size=batch_size)

    def step(self, dW, learning_rate):
        return self.W - learning_rate * dW

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
        rng = np.random.default_rng(seed)
        if self.W is None:
            self.W = 0.001 * rng.standard_normal((X.shape[1], int(np.max(y)) + 1))
        history = []
        for _ in range(num_iters):
            index = self.batch(rng, X.shape[0], batch_size)
            loss, dW = self.loss_fn(self.W, X[index], y[index], reg)
            history.append(float(loss))
            self.W = self.step(dW, learning_rate)
        return history

    def predict(self, X):
        return np.argmax(X @ self.W, axis=1)


def search(X_train, y_train, X_val, y_val, loss_fn, num_trials=10, lr_range=(1e-3, 1e1),
           reg_range=(1e-6, 1e-1), num_iters=300, batch_size=200, seed=0, *, log_space=True,
           judge_on_train=False):
    rng = np.random.default_rng(seed)
    results, best, best_acc = [], None, -1.0
    for trial in range(num_trials):
        if log_space:
            lr = 10 ** rng.uniform(np.log10(lr_range[0]), np.log10(lr_range[1]))
            reg = 10 ** rng.uniform(np.log10(reg_range[0]), np.log10(reg_range[1]))
        else:
            lr, reg = rng.uniform(*lr_range), rng.uniform(*reg_range)
        model = GoodClassifier(loss_fn)
        model.train(X_train, y_train, lr, reg, num_iters, batch_size, seed=trial)
        train_acc = float(np.mean(model.predict(X_train) == y_train))
        val_acc = float(np.mean(model.predict(X_val) == y_val))
        results.append({"learning_rate": lr, "reg": reg, "train_acc": train_acc, "val_acc": val_acc})
        judged = train_acc if judge_on_train else val_acc
        if judged > best_acc:
            best_acc, best = judged, model
    return results, best


# --------------------------------------------------------------------------- the notebook
def test_solution_passes_every_grade_cell():
    for grade_id in GRADE_IDS:
        run_grade_cell(NOTEBOOK, grade_id)


def test_grade_cells_have_points_and_unique_ids():
    cells = json.loads(solution_notebook(NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    meta = [c["metadata"]["nbgrader"] for c in cells if "nbgrader" in c.get("metadata", {})]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids))
    graded = {m["grade_id"]: m["points"] for m in meta if m["grade"]}
    assert set(GRADE_IDS) <= set(graded) and all(points > 0 for points in graded.values())


def test_reference_versions_pass():
    """The wrong versions below differ from these in one place only."""
    run_grade_cell(NOTEBOOK, "check_svm_loss_vectorized", svm_loss_vectorized=svm_correct)
    run_grade_cell(NOTEBOOK, "check_softmax_loss_vectorized", softmax_loss_vectorized=softmax_correct)
    run_grade_cell(NOTEBOOK, "check_linear_classifier", LinearClassifier=GoodClassifier)
    run_grade_cell(NOTEBOOK, "check_random_search", random_search=search)


# --------------------------------------------------------------------------- SVM
@pytest.mark.parametrize("grade_id, name", [("check_svm_loss_naive", "svm_loss_naive"),
                                            ("check_svm_loss_vectorized", "svm_loss_vectorized")])
def test_hinge_counting_the_correct_class_is_named(grade_id, name):
    def wrong(W, X, y, reg):
        return svm_correct(W, X, y, reg, count_correct=True)

    fails_with(grade_id, "counted the correct class", **{name: wrong})


@pytest.mark.parametrize("grade_id, name", [("check_svm_loss_naive", "svm_loss_naive"),
                                            ("check_svm_loss_vectorized", "svm_loss_vectorized"),
                                            ("check_softmax_loss_naive", "softmax_loss_naive"),
                                            ("check_softmax_loss_vectorized", "softmax_loss_vectorized")])
def test_regulariser_gradient_without_factor_2_is_named(grade_id, name):
    base = svm_correct if "svm" in name else softmax_correct

    def wrong(W, X, y, reg):
        return base(W, X, y, reg, reg_grad_factor=1.0)

    fails_with(grade_id, "missing the factor of 2", **{name: wrong})


def test_regulariser_with_one_half_is_named():
    def wrong(W, X, y, reg):
        loss, dW = svm_correct(W, X, y, reg, reg_grad_factor=1.0)
        return loss - 0.5 * reg * np.sum(W**2), dW

    fails_with("check_svm_loss_vectorized", "no factor 1/2", svm_loss_vectorized=wrong)


def test_hinge_summed_instead_of_averaged_is_named():
    def wrong(W, X, y, reg):
        return svm_correct(W, X, y, reg, mean=False)

    fails_with("check_svm_loss_naive", "divide by N", svm_loss_naive=wrong)


def test_vectorized_svm_with_a_loop_is_named():
    def wrong(W, X, y, reg):
        losses = [svm_correct(W, X[i : i + 1], y[i : i + 1], 0.0) for i in range(X.shape[0])]
        loss = sum(l for l, _ in losses) / X.shape[0] + reg * np.sum(W**2)
        return loss, sum(g for _, g in losses) / X.shape[0] + 2 * reg * W

    fails_with("check_svm_loss_vectorized", r"must not loop in Python.*`losses = \[svm_correct", svm_loss_vectorized=wrong)


def test_softmax_vectorized_calling_naive_is_named():
    naive = notebook_namespace(NOTEBOOK)["softmax_loss_naive"]

    def wrong(W, X, y, reg):
        return naive(W, X, y, reg)

    fails_with("check_softmax_loss_vectorized", r"must not loop in Python.*of softmax_loss_naive",
               softmax_loss_vectorized=wrong)


# --------------------------------------------------------------------------- softmax
@pytest.mark.parametrize("grade_id, name", [("check_softmax_loss_naive", "softmax_loss_naive"),
                                            ("check_softmax_loss_vectorized", "softmax_loss_vectorized")])
def test_softmax_without_max_shift_is_named(grade_id, name):
    def wrong(W, X, y, reg):
        return softmax_correct(W, X, y, reg, shift=False)

    fails_with(grade_id, "max-shift", **{name: wrong})


def test_softmax_without_max_shift_in_python_floats_is_named():
    import math

    def wrong(W, X, y, reg):  # math.exp raises OverflowError instead of returning inf
        scores = X @ W
        for row in scores:
            sum(math.exp(s) for s in row)
        return softmax_correct(W, X, y, reg)

    fails_with("check_softmax_loss_naive", "max-shift", softmax_loss_naive=wrong)


def test_softmax_gradient_without_minus_one_is_named():
    def wrong(W, X, y, reg):
        return softmax_correct(W, X, y, reg, minus_one=False)

    fails_with("check_softmax_loss_vectorized", "-1 at the correct class", softmax_loss_vectorized=wrong)


# --------------------------------------------------------------------------- LinearClassifier
def test_gradient_ascent_is_named():
    class Wrong(GoodClassifier):
        def step(self, dW, learning_rate):
            return self.W + learning_rate * dW

    fails_with("check_linear_classifier", "against the gradient", LinearClassifier=Wrong)


def test_full_batch_instead_of_minibatch_is_named():
    class Wrong(GoodClassifier):
        def batch(self, rng, num_train, batch_size):
            return np.arange(num_train)

    fails_with("check_linear_classifier", "minibatch of batch_size", LinearClassifier=Wrong)


def test_same_minibatch_every_step_is_named():
    class Wrong(GoodClassifier):
        def batch(self, rng, num_train, batch_size):
            return np.arange(batch_size)

    fails_with("check_linear_classifier", "same minibatch", LinearClassifier=Wrong)


def test_predict_over_the_wrong_axis_is_named():
    class Wrong(GoodClassifier):
        def predict(self, X):
            return np.argmax(X @ self.W, axis=0)

    fails_with("check_linear_classifier", "wrong shape", LinearClassifier=Wrong)


def test_labels_drawn_apart_from_their_rows_fail():
    class Wrong(GoodClassifier):
        def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
            rng = np.random.default_rng(seed)
            if self.W is None:
                self.W = 0.001 * rng.standard_normal((X.shape[1], int(np.max(y)) + 1))
            history = []
            for _ in range(num_iters):
                rows = rng.integers(0, X.shape[0], size=batch_size)
                labels = rng.integers(0, X.shape[0], size=batch_size)  # a second, different draw
                loss, dW = self.loss_fn(self.W, X[rows], y[labels], reg)
                history.append(float(loss))
                self.W = self.W - learning_rate * dW
            return history

    with pytest.raises(AssertionError):
        run_grade_cell(NOTEBOOK, "check_linear_classifier", LinearClassifier=Wrong)


# --------------------------------------------------------------------------- random search
def test_search_in_linear_space_is_named():
    def wrong(*args, **kwargs):
        return search(*args, **kwargs, log_space=False)

    fails_with("check_random_search", "log space", random_search=wrong)


def test_best_chosen_on_training_accuracy_is_named():
    def wrong(*args, **kwargs):
        return search(*args, **kwargs, judge_on_train=True)

    fails_with("check_random_search", "highest validation accuracy", random_search=wrong)
