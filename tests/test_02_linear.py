"""Notebook 02_linear: every grade cell passes on the solution, on valid alternatives, and names each mistake.

Each wrong version is written the way students write them (from scratch here, independently of
the solution), and its grade cell (visible and hidden checks, from the solution notebook) must
fail with a message that names the mistake. Valid alternatives (another vectorization, another
loop order, float32 arithmetic, documented-equivalent argument handling) must pass.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradecells import grade_cell_fails, notebook_namespace, run_grade_cell, solution_notebook
from scipy.special import logsumexp, xlogy

NOTEBOOK = "02_linear"
GRADE_IDS = {
    "check_svm_loss_naive": 3,
    "check_svm_loss_vectorized": 2,
    "check_entropy_terms": 2,
    "check_softmax_loss_naive": 3,
    "check_softmax_loss_vectorized": 2,
    "check_linear_classifier": 3,
    "check_perceptron": 2,
    "check_random_search": 2,
    "check_smoothed_softmax_loss": 2,
}


def fails_with(grade_id: str, match: str, **overrides) -> None:
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


def passes(grade_id: str, **overrides) -> None:
    run_grade_cell(NOTEBOOK, grade_id, **overrides)


# =========================================================================== the notebook
@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_every_grade_cell(grade_id):
    passes(grade_id)


def test_grade_cells_have_their_points_and_end_their_visible_part_with_checks_passed():
    cells = json.loads(solution_notebook(NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    meta = [c["metadata"]["nbgrader"] for c in cells if "nbgrader" in c.get("metadata", {})]
    ids = [m["grade_id"] for m in meta]
    assert len(ids) == len(set(ids))
    graded = {c["metadata"]["nbgrader"]["grade_id"]: c for c in cells
              if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert {k: c["metadata"]["nbgrader"]["points"] for k, c in graded.items()} == GRADE_IDS
    for grade_id, cell in graded.items():
        visible = "".join(cell["source"]).split("### BEGIN HIDDEN TESTS")[0].rstrip()
        assert visible.splitlines()[-1] == f"checks_passed({GRADE_IDS[grade_id]})", grade_id
        assert "assert " not in visible and "AssertionError" not in "".join(cell["source"]), grade_id


# =========================================================================== SVM
def svm_reference(W, X, y, reg, *, count_correct=False, reg_grad=2.0, reg_loss=1.0, mean=True,
                  kink=">", grad_sign=1.0, squared=False, transpose=False):
    """The hinge loss, vectorized; each keyword switches in one classic mistake."""
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W
    raw = scores - scores[rows, y][:, None] + 1.0
    margins = np.maximum(0.0, raw)
    if not count_correct:
        margins[rows, y] = 0.0
    active = (raw > 0) if kink == ">" else (raw >= 0)
    active[rows, y] = False
    pulls = (2 * margins if squared else active).astype(np.float64)
    pulls[rows, y] = -pulls.sum(axis=1)
    scale = N if mean else 1
    data = (margins ** 2 if squared else margins).sum() / scale
    dW = grad_sign * (X.T @ pulls / scale)
    loss = data + reg_loss * reg * np.sum(W * W)
    dW = dW + reg_grad * reg * W
    return loss, (dW.T if transpose else dW)


def svm_loops_classes_outer(W, X, y, reg):
    """Valid: naive, with the loop over the classes outside the loop over the examples."""
    loss, dW = 0.0, np.zeros(W.shape)
    for j in range(W.shape[1]):
        for i in range(X.shape[0]):
            if j == y[i]:
                continue
            margin = X[i] @ W[:, j] - X[i] @ W[:, y[i]] + 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]
    return loss / X.shape[0] + reg * np.sum(W ** 2), dW / X.shape[0] + 2 * reg * W


def svm_add_at(W, X, y, reg):
    """Valid: a one-hot matrix, einsum and np.add.at instead of X.T @ pulls."""
    N, C = X.shape[0], W.shape[1]
    scores = np.einsum("nd,dc->nc", X, W)
    onehot = np.eye(C, dtype=bool)[y]
    correct = np.sum(np.where(onehot, scores, 0.0), axis=1, keepdims=True)
    margins = np.where(onehot, 0.0, np.maximum(scores - correct + 1, 0))
    pulls = (margins > 0).astype(float)
    dW = np.zeros_like(W, dtype=np.float64)
    np.add.at(dW.T, y, -(pulls.sum(axis=1)[:, None] * X))
    dW += X.T @ pulls
    return float(margins.sum() / N + reg * (W ** 2).sum()), dW / N + 2 * reg * W


def svm_in_float32(W, X, y, reg):
    """Valid: computed in float32 (loss as a 0-d float32 array)."""
    loss, dW = svm_reference(W.astype(np.float32), X.astype(np.float32), y, np.float32(reg))
    return np.float32(loss), dW.astype(np.float32)


@pytest.mark.parametrize("grade_id, name", [("check_svm_loss_naive", "svm_loss_naive"),
                                            ("check_svm_loss_vectorized", "svm_loss_vectorized")])
@pytest.mark.parametrize("valid", [svm_reference, svm_add_at, svm_in_float32])
def test_valid_svm_versions_pass(grade_id, name, valid):
    passes(grade_id, **{name: valid})


def test_naive_svm_with_the_class_loop_outside_passes():
    passes("check_svm_loss_naive", svm_loss_naive=svm_loops_classes_outer)


SVM_MISTAKES = [
    (dict(count_correct=True), "counted the correct class"),
    (dict(mean=False), "N times too large"),
    (dict(reg_grad=1.0), "missing the factor of 2"),
    (dict(reg_grad=1.0, reg_loss=0.5), "other convention.*no factor 1/2"),
    (dict(reg_grad=0.0), "dW does not change with reg"),
    (dict(reg_loss=0.0), "loss does not change with reg"),
    (dict(grad_sign=-1.0), "wrong sign"),
    (dict(kink=">="), r">= instead of >"),
    (dict(squared=True), "squared hinge"),
    (dict(transpose=True), "transposed"),
]


@pytest.mark.parametrize("grade_id, name", [("check_svm_loss_naive", "svm_loss_naive"),
                                            ("check_svm_loss_vectorized", "svm_loss_vectorized")])
@pytest.mark.parametrize("mistake, match", SVM_MISTAKES)
def test_svm_mistakes_are_named(grade_id, name, mistake, match):
    fails_with(grade_id, match, **{name: lambda W, X, y, reg: svm_reference(W, X, y, reg, **mistake)})


def test_svm_gradient_that_is_not_divided_by_n_is_named():
    def wrong(W, X, y, reg):
        loss, dW = svm_reference(W, X, y, reg)
        return loss, (dW - 2 * reg * W) * X.shape[0] + 2 * reg * W

    fails_with("check_svm_loss_vectorized", "dW is N times too large", svm_loss_vectorized=wrong)


def test_svm_with_an_aliased_gradient_that_changes_w_is_named():
    def wrong(W, X, y, reg):  # dW = W then dW *= ...: W changes too
        loss, dW_ok = svm_reference(W, X, y, reg)
        dW = W
        dW *= 0
        dW += dW_ok
        return loss, dW

    fails_with("check_svm_loss_naive", "changed its argument 1 in place", svm_loss_naive=wrong)


def test_svm_through_torch_autograd_is_not_hand_written():
    def wrong(W, X, y, reg):
        W_t = torch.tensor(W, dtype=torch.float64, requires_grad=True)
        scores = torch.as_tensor(X, dtype=torch.float64) @ W_t
        loss = F.multi_margin_loss(scores, torch.as_tensor(y), margin=1.0) * W.shape[1] + reg * (W_t ** 2).sum()
        loss.backward()
        return loss.item(), W_t.grad.numpy()

    fails_with("check_svm_loss_vectorized", "must be written by hand with NumPy", svm_loss_vectorized=wrong)


def test_svm_that_hard_codes_ten_classes_fails():
    def wrong(W, X, y, reg):
        onehot = np.eye(10)[y]  # the digits have 10 classes...
        scores = X @ W
        margins = np.maximum(0, scores - (scores * onehot).sum(1, keepdims=True) + 1) * (1 - onehot)
        return margins.sum() / len(X) + reg * np.sum(W ** 2), svm_reference(W, X, y, reg)[1]

    with pytest.raises(Exception):
        passes("check_svm_loss_vectorized", svm_loss_vectorized=wrong)


def test_svm_loss_as_an_array_is_named():
    def wrong(W, X, y, reg):
        loss, dW = svm_reference(W, X, y, reg)
        return np.array([loss]), dW

    fails_with("check_svm_loss_naive", "must be one number", svm_loss_naive=wrong)


def loop_in_a_comprehension(W, X, y, reg):
    parts = [svm_reference(W, X[i : i + 1], y[i : i + 1], 0.0) for i in range(X.shape[0])]
    loss = sum(p[0] for p in parts) / X.shape[0] + reg * np.sum(W ** 2)
    return loss, sum(p[1] for p in parts) / X.shape[0] + 2 * reg * W


def _one_row(W, x, label):
    scores = x @ W
    margins = np.maximum(0, scores - scores[label] + 1)
    margins[label] = 0
    return margins.sum()


def loop_in_a_helper(W, X, y, reg):
    def total(W, X, y):  # the loop hides in a helper
        value = 0.0
        for i in range(len(X)):
            value += _one_row(W, X[i], y[i])
        return value

    return total(W, X, y) / len(X) + reg * np.sum(W ** 2), svm_reference(W, X, y, reg)[1]


def loop_in_a_callback(W, X, y, reg):
    per_row = np.vectorize(lambda i: _one_row(W, X[i], y[i]))(np.arange(len(X)))
    return per_row.mean() + reg * np.sum(W ** 2), svm_reference(W, X, y, reg)[1]


def loop_in_apply_along_axis(W, X, y, reg):
    rows = np.hstack([X, y[:, None]])
    per_row = np.apply_along_axis(lambda r: _one_row(W, r[:-1], int(r[-1])), 1, rows)
    return per_row.mean() + reg * np.sum(W ** 2), svm_reference(W, X, y, reg)[1]


@pytest.mark.parametrize("wrong", [loop_in_a_comprehension, loop_in_a_helper, loop_in_a_callback,
                                   loop_in_apply_along_axis])
def test_vectorized_svm_with_a_hidden_loop_is_named(wrong):
    fails_with("check_svm_loss_vectorized", "must not loop in Python", svm_loss_vectorized=wrong)


def test_softmax_vectorized_calling_naive_is_named():
    naive = notebook_namespace(NOTEBOOK)["softmax_loss_naive"]
    fails_with("check_softmax_loss_vectorized", r"must not loop in Python", softmax_loss_vectorized=naive)


# =========================================================================== softmax
def softmax_reference(W, X, y, reg, *, shift="row", reg_grad=2.0, minus_one=True, log=np.log, axis=1,
                      mean=True, grad_sign=1.0):
    """The softmax loss, vectorized; each keyword switches in one classic mistake."""
    N = X.shape[0]
    rows = np.arange(N)
    scores = X @ W
    if shift == "row":
        scores = scores - scores.max(axis=1, keepdims=True)
    elif shift == "global":
        scores = scores - scores.max()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        exp = np.exp(scores)
        probs = exp / exp.sum(axis=axis, keepdims=True)
        data = -log(probs[rows, y]).sum() / (N if mean else 1)
    if minus_one:
        probs[rows, y] -= 1.0
    return data + reg * np.sum(W ** 2), grad_sign * X.T @ probs / N + reg_grad * reg * W


def softmax_with_logsumexp(W, X, y, reg):
    """Valid: scipy's logsumexp and a one-hot matrix."""
    scores = X @ W
    log_probs = scores - logsumexp(scores, axis=1, keepdims=True)
    onehot = np.eye(W.shape[1])[y]
    loss = -np.mean(np.sum(onehot * log_probs, axis=1)) + reg * np.sum(W ** 2)
    return loss, X.T @ (np.exp(log_probs) - onehot) / len(X) + 2 * reg * W


def softmax_naive_outer_products(W, X, y, reg):
    """Valid: naive, one example at a time, with np.outer and math.log."""
    loss, dW = 0.0, np.zeros(W.shape)
    for i in range(len(X)):
        s = X[i] @ W
        s = s - s.max()
        p = np.exp(s) / np.exp(s).sum()
        loss -= math.log(p[y[i]])
        p[y[i]] -= 1
        dW += np.outer(X[i], p)
    return loss / len(X) + reg * (W * W).sum(), dW / len(X) + 2 * reg * W


@pytest.mark.parametrize("grade_id, name", [("check_softmax_loss_naive", "softmax_loss_naive"),
                                            ("check_softmax_loss_vectorized", "softmax_loss_vectorized")])
@pytest.mark.parametrize("valid", [softmax_reference, softmax_with_logsumexp])
def test_valid_softmax_versions_pass(grade_id, name, valid):
    passes(grade_id, **{name: valid})


def test_naive_softmax_with_outer_products_passes():
    passes("check_softmax_loss_naive", softmax_loss_naive=softmax_naive_outer_products)


SOFTMAX_MISTAKES = [
    (dict(shift="none"), r"scores near \+3000.*max-shift"),
    (dict(shift="global"), r"each row's own maximum"),
    (dict(minus_one=False), "-1 at the correct class"),
    (dict(log=np.log10), "log base 10"),
    (dict(log=np.log2), "log base 2"),
    (dict(axis=0), "normalised over the examples"),
    (dict(axis=0, shift="none"), "normalised over the examples"),
    (dict(mean=False), "N times too large"),
    (dict(reg_grad=1.0), "missing the factor of 2"),
    (dict(grad_sign=-1.0), "wrong sign"),
]


@pytest.mark.parametrize("grade_id, name", [("check_softmax_loss_naive", "softmax_loss_naive"),
                                            ("check_softmax_loss_vectorized", "softmax_loss_vectorized")])
@pytest.mark.parametrize("mistake, match", SOFTMAX_MISTAKES)
def test_softmax_mistakes_are_named(grade_id, name, mistake, match):
    fails_with(grade_id, match, **{name: lambda W, X, y, reg: softmax_reference(W, X, y, reg, **mistake)})


def test_softmax_without_max_shift_in_python_floats_is_named():
    def wrong(W, X, y, reg):  # math.exp raises OverflowError instead of returning inf
        for row in X @ W:
            sum(math.exp(s) for s in row)
        return softmax_reference(W, X, y, reg)

    fails_with("check_softmax_loss_naive", "OverflowError.*max-shift", softmax_loss_naive=wrong)


def test_softmax_that_shifts_the_scores_in_place_on_x_is_named():
    def wrong(W, X, y, reg):  # "normalises" X in place
        X -= 0.0
        X *= 1.0 + 1e-3
        return softmax_reference(W, X, y, reg)

    fails_with("check_softmax_loss_vectorized", "changed its argument 2 in place", softmax_loss_vectorized=wrong)


def test_softmax_through_torch_is_not_hand_written():
    def wrong(W, X, y, reg):
        W_t = torch.tensor(W, dtype=torch.float64, requires_grad=True)
        loss = F.cross_entropy(torch.as_tensor(X, dtype=torch.float64) @ W_t, torch.as_tensor(y)) + reg * (W_t ** 2).sum()
        loss.backward()
        return loss.item(), W_t.grad.numpy()

    fails_with("check_softmax_loss_naive", "must be written by hand with NumPy", softmax_loss_naive=wrong)


# =========================================================================== entropy, KL
def entropy_reference(p, q, *, log=np.log, masked=True, reverse_kl=False, swap_ce=False):
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if masked:
            entropy = -np.sum(xlogy(p, p), axis=1) * log(np.e)  # in the unit of `log`
            cross = -np.sum(xlogy(q, p) if swap_ce else xlogy(p, q), axis=1) * log(np.e)
        else:
            entropy = -np.sum(p * log(p), axis=1)
            cross = -np.sum(p * log(q), axis=1)
        kl = np.sum(q * log(q / p), axis=1) if reverse_kl else cross - entropy
    return entropy, cross, kl


def entropy_where(p, q):
    """Valid: np.where with the warnings silenced around it, KL computed directly."""
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(p > 0, p * np.log(p), 0.0).sum(axis=1)
        cross = -np.where(p > 0, p * np.log(q), 0.0).sum(axis=1)
        kl = np.where(p > 0, p * np.log(p / q), 0.0).sum(axis=1)
    return entropy, cross, kl


def entropy_log_where(p, q):
    """Valid: np.log(..., where=...) into zeros, float32 stays float32."""
    log_p = np.log(p, out=np.zeros_like(p), where=p > 0)
    log_q = np.log(q, out=np.zeros_like(q), where=p > 0)
    return -(p * log_p).sum(1), -(p * log_q).sum(1), (p * (log_p - log_q)).sum(1)


@pytest.mark.parametrize("valid", [entropy_reference, entropy_where, entropy_log_where])
def test_valid_entropy_versions_pass(valid):
    passes("check_entropy_terms", entropy_terms=valid)


@pytest.mark.parametrize("mistake, match", [
    (dict(log=np.log2), "in bits"),
    (dict(log=np.log10), "log base 10"),
    (dict(masked=False), r"0 \* log\(0\) is nan"),
    (dict(reverse_kl=True), r"KL\(q \|\| p\), the reverse"),
    (dict(swap_ce=True), "p and q swapped"),
])
def test_entropy_mistakes_are_named(mistake, match):
    fails_with("check_entropy_terms", match, entropy_terms=lambda p, q: entropy_reference(p, q, **mistake))


def test_entropy_with_a_loop_over_rows_is_named():
    def wrong(p, q):
        rows = [entropy_reference(p[i : i + 1], q[i : i + 1]) for i in range(len(p))]
        return tuple(np.concatenate([r[k] for r in rows]) for k in range(3))

    fails_with("check_entropy_terms", "must not loop in Python", entropy_terms=wrong)


# =========================================================================== LinearClassifier
class GoodClassifier:
    """A correct LinearClassifier, written here so that wrong variants can override one piece."""

    def __init__(self, loss_fn):
        self.loss_fn = loss_fn
        self.W = None

    def batch(self, rng, num_train, batch_size):
        return rng.integers(0, num_train, size=batch_size)

    def step(self, dW, learning_rate, reg, batch_size):
        return self.W - learning_rate * dW

    def init(self, rng, dim, num_classes):
        if self.W is None:
            self.W = 0.001 * rng.standard_normal((dim, num_classes))

    def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
        rng = np.random.default_rng(seed)
        self.init(rng, X.shape[1], int(np.max(y)) + 1)
        history = []
        for _ in range(num_iters):
            index = self.batch(rng, X.shape[0], batch_size)
            loss, dW = self.loss_fn(self.W, X[index], y[index], reg)
            history.append(float(loss))
            self.W = self.step(dW, learning_rate, reg, batch_size)
        return history

    def predict(self, X):
        return np.argmax(X @ self.W, axis=1)


class ChoiceClassifier(GoodClassifier):
    """Valid: rng.choice with replacement, an in-place update and an argmax through argsort."""

    def batch(self, rng, num_train, batch_size):
        return rng.choice(num_train, size=batch_size, replace=True)

    def step(self, dW, learning_rate, reg, batch_size):
        W = self.W.copy()
        W -= learning_rate * dW
        return W

    def predict(self, X):
        scores = X @ self.W
        return np.argsort(-scores, axis=1, kind="stable")[:, 0]


def test_valid_classifiers_pass():
    passes("check_linear_classifier", LinearClassifier=GoodClassifier)
    passes("check_linear_classifier", LinearClassifier=ChoiceClassifier)


def classifier_with(**methods):
    return type("Wrong", (GoodClassifier,), methods)


CLASSIFIER_MISTAKES = [
    (dict(step=lambda self, dW, lr, reg, B: self.W + lr * dW), "moved up the gradient"),
    (dict(step=lambda self, dW, lr, reg, B: self.W - lr * dW / B), "divided by the batch size"),
    (dict(step=lambda self, dW, lr, reg, B: self.W - lr * (dW + 2 * reg * self.W)), "decay twice"),
    (dict(step=lambda self, dW, lr, reg, B: self.W - lr * (dW + reg * self.W)), "decay twice"),
    (dict(batch=lambda self, rng, N, B: np.arange(N)), "minibatch of batch_size = 16"),
    (dict(batch=lambda self, rng, N, B: np.arange(B)), "same minibatch"),
    (dict(batch=lambda self, rng, N, B: rng.permutation(N)[:B]), "without replacement"),
    (dict(batch=lambda self, rng, N, B: rng.choice(N, B, replace=False)), "without replacement"),
    (dict(batch=lambda self, rng, N, B: rng.integers(0, N - 1, size=B)), "draw from all N rows"),
    (dict(batch=lambda self, rng, N, B: np.random.randint(0, N, size=B)), "same seed drew different"),
    (dict(batch=lambda self, rng, N, B: np.random.default_rng(0).integers(0, N, size=B)), "same minibatch"),
    (dict(predict=lambda self, X: np.argmax(X @ self.W, axis=0)), r"argmax over the examples"),
    (dict(predict=lambda self, X: self.W.shape[1] - 1 - np.argmax((X @ self.W)[:, ::-1], axis=1)),
     "largest class index"),
    (dict(predict=lambda self, X: np.argmax(X @ self.W, axis=1).astype(np.float64)), "integer labels"),
    (dict(init=lambda self, rng, D, C: setattr(self, "W", 0.001 * rng.standard_normal((D, C)))),
     "only when it is None"),
]


@pytest.mark.parametrize("methods, match", CLASSIFIER_MISTAKES)
def test_classifier_mistakes_are_named(methods, match):
    fails_with("check_linear_classifier", match, LinearClassifier=classifier_with(**methods))


def test_labels_drawn_apart_from_their_rows_are_named():
    class Wrong(GoodClassifier):
        def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
            rng = np.random.default_rng(seed)
            self.init(rng, X.shape[1], int(np.max(y)) + 1)
            history = []
            for _ in range(num_iters):
                rows = rng.integers(0, X.shape[0], size=batch_size)
                labels = rng.integers(0, X.shape[0], size=batch_size)  # a second, different draw
                loss, dW = self.loss_fn(self.W, X[rows], y[labels], reg)
                history.append(float(loss))
                self.W = self.W - learning_rate * dW
            return history

    fails_with("check_linear_classifier", "labels do not belong to the minibatch rows", LinearClassifier=Wrong)


def test_loss_recorded_after_the_update_is_named():
    class Wrong(GoodClassifier):
        def train(self, X, y, learning_rate=1e-3, reg=1e-5, num_iters=100, batch_size=200, seed=0):
            rng = np.random.default_rng(seed)
            self.init(rng, X.shape[1], int(np.max(y)) + 1)
            history = []
            for _ in range(num_iters):
                index = rng.integers(0, X.shape[0], size=batch_size)
                _, dW = self.loss_fn(self.W, X[index], y[index], reg)
                self.W = self.W - learning_rate * dW
                history.append(float(self.loss_fn(self.W, X[index], y[index], reg)[0]))
            return history

    fails_with("check_linear_classifier", "loss after each update", LinearClassifier=Wrong)


# =========================================================================== perceptron
def perceptron_reference(X, y, num_epochs=10, *, strict=False, count_before=False, use_label=True, online=True):
    w = np.zeros(X.shape[1])
    mistakes = []
    for _ in range(num_epochs):
        if count_before:
            mistakes.append(int(np.sum(y * (X @ w) <= 0)))
        w_epoch = w.copy()
        for i in range(len(X)):
            score = X[i] @ (w if online else w_epoch)
            if (y[i] * score < 0) if strict else (y[i] * score <= 0):
                w = w + (y[i] if use_label else 1) * X[i]
        if not count_before:
            mistakes.append(int(np.sum(y * (X @ w) <= 0)))
    return w, mistakes


def perceptron_with_sign(X, y, num_epochs=10):
    """Valid: np.sign(x . w) != y is the same rule (sign(0) = 0 is never a label); numbers as Python ints."""
    w = np.zeros(X.shape[1], dtype=np.float64)
    mistakes = []
    for _ in range(num_epochs):
        for x_i, y_i in zip(X, y):
            if np.sign(np.dot(x_i, w)) != y_i:
                w += y_i * x_i
        mistakes.append(sum(1 for x_i, y_i in zip(X, y) if y_i * (x_i @ w) <= 0))
    return w, mistakes


@pytest.mark.parametrize("valid", [perceptron_reference, perceptron_with_sign])
def test_valid_perceptrons_pass(valid):
    passes("check_perceptron", perceptron=valid)


@pytest.mark.parametrize("mistake, match", [
    (dict(strict=True), r"w is still 0.*<= 0"),
    (dict(count_before=True), "START of epoch"),
    (dict(use_label=False), "w after"),
    (dict(online=False), "w after"),
])
def test_perceptron_mistakes_fail(mistake, match):
    fails_with("check_perceptron", match, perceptron=lambda X, y, num_epochs=10: perceptron_reference(X, y, num_epochs, **mistake))


def test_perceptron_that_normalises_x_in_place_is_named():
    def wrong(X, y, num_epochs=10):
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        return perceptron_reference(X, y, num_epochs)

    fails_with("check_perceptron", "in place", perceptron=wrong)


# =========================================================================== random search
def search(X_train, y_train, X_val, y_val, loss_fn, num_trials=10, lr_range=(1e-3, 1e1),
           reg_range=(1e-6, 1e-1), num_iters=300, batch_size=200, seed=0, *, draws="log",
           judge_on_train=False, reuse=False, trial_seed=True, val_on_train=False, pass_sizes=True,
           ties_to_last=False, classifier=GoodClassifier):
    """random_search written here; the keywords switch in one mistake each."""
    rng = np.random.default_rng(seed)
    lo_lr, hi_lr, lo_reg, hi_reg = (np.log10(v) for v in (*lr_range, *reg_range))
    if draws == "vectorized":  # valid: all draws at once
        lrs, regs = 10 ** rng.uniform(lo_lr, hi_lr, num_trials), 10 ** rng.uniform(lo_reg, hi_reg, num_trials)
    results, best, best_acc = [], None, -1.0
    shared = classifier(loss_fn)
    for trial in range(num_trials):
        if draws == "vectorized":
            lr, reg = lrs[trial], regs[trial]
        elif draws == "log":
            lr, reg = 10 ** rng.uniform(lo_lr, hi_lr), 10 ** rng.uniform(lo_reg, hi_reg)
        elif draws == "natural":  # valid: e ** uniform(ln low, ln high) is the same law
            lr = np.exp(rng.uniform(np.log(lr_range[0]), np.log(lr_range[1])))
            reg = np.exp(rng.uniform(np.log(reg_range[0]), np.log(reg_range[1])))
        elif draws == "linear":
            lr, reg = rng.uniform(*lr_range), rng.uniform(*reg_range)
        elif draws == "correlated":
            u = rng.uniform()
            lr, reg = 10 ** (lo_lr + u * (hi_lr - lo_lr)), 10 ** (lo_reg + u * (hi_reg - lo_reg))
        elif draws == "global":
            lr, reg = 10 ** np.random.uniform(lo_lr, hi_lr), 10 ** np.random.uniform(lo_reg, hi_reg)
        model = shared if reuse else classifier(loss_fn)
        sizes = dict(num_iters=num_iters, batch_size=batch_size) if pass_sizes else {}
        model.train(X_train, y_train, lr, reg, seed=trial if trial_seed else seed, **sizes)
        train_acc = float(np.mean(model.predict(X_train) == y_train))
        val_acc = float(np.mean(model.predict(X_train if val_on_train else X_val) == (y_train if val_on_train else y_val)))
        results.append({"learning_rate": lr, "reg": reg, "train_acc": train_acc, "val_acc": val_acc})
        judged = train_acc if judge_on_train else val_acc
        if judged > best_acc or (ties_to_last and judged == best_acc):
            best_acc, best = judged, model
    return results, best


@pytest.mark.parametrize("options", [dict(), dict(draws="vectorized"), dict(draws="natural"),
                                     dict(ties_to_last=True)])
def test_valid_searches_pass(options):
    passes("check_random_search", random_search=lambda *a, **k: search(*a, **k, **options),
           LinearClassifier=GoodClassifier)


@pytest.mark.parametrize("options, match", [
    (dict(draws="linear"), "log space"),
    (dict(draws="correlated"), "correlated"),
    (dict(draws="global"), "same seed drew different values"),
    (dict(judge_on_train=True), "highest validation accuracy"),
    (dict(reuse=True), "train a new classifier in every trial"),
    (dict(trial_seed=False), "seed = the trial's index"),
    (dict(val_on_train=True), "val_acc on X_val"),
    (dict(pass_sizes=False), "num_iters"),
])
def test_search_mistakes_are_named(options, match):
    fails_with("check_random_search", match, random_search=lambda *a, **k: search(*a, **k, **options),
               LinearClassifier=GoodClassifier)


def test_a_wrong_classifier_does_not_cost_the_search_its_points():
    """Each mistake costs its own cell: the search is replayed with the student's own classifier."""
    Wrong = classifier_with(step=lambda self, dW, lr, reg, B: self.W - lr * dW / B)
    passes("check_random_search", random_search=lambda *a, **k: search(*a, **k, classifier=Wrong), LinearClassifier=Wrong)


# =========================================================================== label smoothing
def smoothed_reference(scores, y, smoothing, *, convention="torch", shift="row", mean_grad=True, mean_loss=True):
    N, C = scores.shape
    if shift == "row":
        scores = scores - scores.max(axis=1, keepdims=True)
    elif shift == "global":
        scores = scores - scores.max()
    with np.errstate(all="ignore"):
        log_probs = scores - np.log(np.exp(scores).sum(axis=1, keepdims=True))
    onehot = np.eye(C)[y]
    if convention == "torch":
        targets = (1 - smoothing) * onehot + smoothing / C
    elif convention == "wrong classes only":
        targets = (1 - smoothing) * onehot + smoothing / (C - 1) * (1 - onehot)
    elif convention == "correct class 1 - eps":
        targets = (1 - smoothing) * onehot + smoothing / C * (1 - onehot)
    else:  # no smoothing at all
        targets = onehot
    loss = -np.sum(targets * log_probs) / (N if mean_loss else 1)
    return loss, (np.exp(log_probs) - targets) / (N if mean_grad else 1)


def smoothed_via_logsumexp(scores, y, smoothing):
    """Valid: the decomposition (1 - eps) * NLL + eps * mean over classes of -log p, from scipy's logsumexp."""
    log_probs = scores - logsumexp(scores, axis=1, keepdims=True)
    N, C = scores.shape
    nll = -log_probs[np.arange(N), y]
    loss = np.mean((1 - smoothing) * nll - smoothing * log_probs.mean(axis=1))
    grad = np.exp(log_probs) - smoothing / C
    grad[np.arange(N), y] -= 1 - smoothing
    return loss, grad / N


@pytest.mark.parametrize("valid", [smoothed_reference, smoothed_via_logsumexp])
def test_valid_smoothed_losses_pass(valid):
    passes("check_smoothed_softmax_loss", smoothed_softmax_loss=valid)


@pytest.mark.parametrize("mistake, match", [
    (dict(convention="wrong classes only"), "the other convention"),
    (dict(convention="correct class 1 - eps"), "it also gets its share"),
    (dict(convention="none"), "not smoothed"),
    (dict(shift="none"), "each row's own maximum"),
    (dict(shift="global"), "each row's own maximum"),
    (dict(mean_grad=False), "dscores is N times too large"),
    (dict(mean_loss=False, mean_grad=False), "loss is N times too large"),
])
def test_smoothed_loss_mistakes_are_named(mistake, match):
    fails_with("check_smoothed_softmax_loss", match,
               smoothed_softmax_loss=lambda s, y, eps: smoothed_reference(s, y, eps, **mistake))


def test_smoothed_loss_that_shifts_the_scores_in_place_is_named():
    def wrong(scores, y, smoothing):
        scores -= scores.max(axis=1, keepdims=True)
        return smoothed_reference(scores, y, smoothing)

    fails_with("check_smoothed_softmax_loss", "changed its argument 1 in place", smoothed_softmax_loss=wrong)


def test_smoothed_loss_through_torch_is_not_hand_written():
    def wrong(scores, y, smoothing):
        s = torch.tensor(scores, dtype=torch.float64, requires_grad=True)
        loss = F.cross_entropy(s, torch.as_tensor(y), label_smoothing=smoothing)
        loss.backward()
        return loss.item(), s.grad.numpy()

    fails_with("check_smoothed_softmax_loss", "must be written by hand", smoothed_softmax_loss=wrong)
