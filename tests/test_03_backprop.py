"""Notebook 03_backprop: every grade cell passes on the solution, on valid alternatives, and names each mistake.

Each wrong version of one student function (or of the `Value` class) is written here from scratch,
the way students write them, and its grade cell (visible and hidden checks, from the solution
notebook) must fail with a message naming the mistake. Valid alternatives (another way of writing
the same computation) must pass. A mistake in a layer must not cost the two-layer net's points.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradecells import grade_cell_fails, run_grade_cell, solution_notebook
from scipy.special import logsumexp

NOTEBOOK = "03_backprop"
GRADE_IDS = {
    "check_value_ops": 2,
    "check_value_backward": 3,
    "check_affine_forward": 1,
    "check_affine_backward": 2,
    "check_relu_forward": 1,
    "check_relu_backward": 1,
    "check_softmax_loss": 2,
    "check_regression_loss": 2,
    "check_two_layer_net": 3,
    "check_affine_function": 2,
    "check_train_torch": 2,
}


def fails_with(grade_id: str, match: str, **overrides) -> None:
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


def passes(grade_id: str, **overrides) -> None:
    run_grade_cell(NOTEBOOK, grade_id, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id: str) -> None:
    passes(grade_id)


def test_grade_cells_have_their_points_and_end_their_visible_part_with_checks_passed() -> None:
    cells = json.loads(solution_notebook(NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    graded = {c["metadata"]["nbgrader"]["grade_id"]: c for c in cells
              if c["cell_type"] == "code" and c.get("metadata", {}).get("nbgrader", {}).get("grade")}
    assert {k: c["metadata"]["nbgrader"]["points"] for k, c in graded.items()} == GRADE_IDS
    for grade_id, cell in graded.items():
        source = "".join(cell["source"])
        visible = source.split("### BEGIN HIDDEN TESTS")[0].rstrip()
        assert visible.splitlines()[-1] == f"checks_passed({GRADE_IDS[grade_id]})", grade_id
        assert "raise AssertionError" not in source and "\nassert " not in source, grade_id


# ================================================================== a scalar engine with mistakes
def make_value_class(*, accumulate=True, tanh_derivative="1-t^2", backward_order="reverse_topo", seed_root=True,
                     relu_at_zero=0.0, chain=True, exp_derivative="out", record_children=True):
    """A micrograd-style Value class; each keyword switches in one classic mistake.

    accumulate=False: `child.grad = ...` instead of `+=`. tanh_derivative="1-t": without the square.
    backward_order: "reverse_topo" (right), "preorder" (no topological order), "topo" (leaves first).
    seed_root=False: root.grad is never set to 1. relu_at_zero=1: relu's derivative at 0 is 1.
    chain=False: the local derivative is not multiplied by out.grad. exp_derivative="input": d e^a = a.
    record_children=False: the result's _prev is empty.
    """

    def deposit(node, amount, out):
        amount = amount * (out.grad if chain else 1.0)
        node.grad = node.grad + amount if accumulate else amount

    class Value:
        def __init__(self, data, _children=(), _op=""):
            self.data, self.grad = float(data), 0.0
            self._prev, self._op = tuple(_children), _op
            self._backward = lambda: None

        @staticmethod
        def _wrap(x):
            return x if isinstance(x, Value) else Value(x)

        def _make(self, data, children, backward_fn):
            out = Value(data, children if record_children else ())
            out._backward = lambda: backward_fn(out)
            return out

        def __add__(self, other):
            other = Value._wrap(other)
            return self._make(self.data + other.data, (self, other),
                              lambda out: (deposit(self, 1.0, out), deposit(other, 1.0, out)))

        def __mul__(self, other):
            other = Value._wrap(other)
            return self._make(self.data * other.data, (self, other),
                              lambda out: (deposit(self, other.data, out), deposit(other, self.data, out)))

        def __pow__(self, n):
            return self._make(self.data**n, (self,), lambda out: deposit(self, n * self.data ** (n - 1), out))

        def tanh(self):
            t = math.tanh(self.data)
            local = 1 - t * t if tanh_derivative == "1-t^2" else 1 - t
            return self._make(t, (self,), lambda out: deposit(self, local, out))

        def relu(self):
            local = 1.0 if self.data > 0 else (relu_at_zero if self.data == 0 else 0.0)
            return self._make(max(self.data, 0.0), (self,), lambda out: deposit(self, local, out))

        def exp(self):
            e = math.exp(self.data)
            return self._make(e, (self,), lambda out: deposit(self, e if exp_derivative == "out" else self.data, out))

        def __neg__(self):
            return self * -1.0

        def __sub__(self, other):
            return self + (-Value._wrap(other))

        def __truediv__(self, other):
            return self * Value._wrap(other) ** -1

        def __radd__(self, other):
            return self + other

        def __rmul__(self, other):
            return self * other

        def __rsub__(self, other):
            return Value(other) + (-self)

        def __rtruediv__(self, other):
            return Value(other) * self**-1

        def backward(self):
            if seed_root:
                self.grad = 1.0
            if backward_order == "preorder":
                seen = set()

                def run(node):
                    if node not in seen:
                        seen.add(node)
                        node._backward()
                        for child in node._prev:
                            run(child)

                run(self)
                return
            order, seen = [], set()

            def visit(node):
                if node not in seen:
                    seen.add(node)
                    for child in node._prev:
                        visit(child)
                    order.append(node)

            visit(self)
            for node in order if backward_order == "topo" else reversed(order):
                node._backward()

    return Value


def test_the_reference_engine_in_this_file_passes() -> None:
    passes("check_value_ops", Value=make_value_class())
    passes("check_value_backward", Value=make_value_class())


@pytest.mark.parametrize("mistake, grade_id, match", [
    (dict(accumulate=False), "check_value_ops", r"overwrote \.grad instead of accumulating"),
    (dict(accumulate=False), "check_value_backward", r"\+= in _backward, not ="),
    (dict(tanh_derivative="1-t"), "check_value_ops", r"1 - tanh\(a\)\*\*2"),
    (dict(relu_at_zero=1.0), "check_value_ops", "self.data > 0, not >= 0"),
    (dict(chain=False), "check_value_ops", "not multiplied by the upstream gradient"),
    (dict(exp_derivative="input"), "check_value_ops", "the output itself"),
    (dict(record_children=False), "check_value_ops", "must list its inputs in _prev"),
    (dict(backward_order="preorder"), "check_value_backward", "REVERSE topological order"),
    (dict(backward_order="topo"), "check_value_backward", "topological order"),
    (dict(seed_root=False), "check_value_backward", r"self\.grad = 1\.0"),
])
def test_engine_mistakes_are_named(mistake, grade_id, match) -> None:
    fails_with(grade_id, match, Value=make_value_class(**mistake))


# ========================================================================================= layers
def affine_forward_ok(x, w, b):
    return x.reshape(len(x), -1) @ w + b, (x, w, b)


def affine_forward_einsum(x, w, b):
    """Valid: einsum on the flattened input, the cache as a tuple."""
    return np.einsum("nd,dm->nm", x.reshape(x.shape[0], -1), w) + b[None, :], (x, w, b)


@pytest.mark.parametrize("valid", [affine_forward_ok, affine_forward_einsum])
def test_valid_affine_forwards_pass(valid) -> None:
    passes("check_affine_forward", affine_forward=valid)


@pytest.mark.parametrize("wrong, match", [
    (lambda x, w, b: (x @ w + b, (x, w, b)), r"x\.reshape\(x\.shape\[0\], -1\)"),
    (lambda x, w, b: (x.reshape(len(x), -1) @ w, (x, w, b)), "the bias is missing"),
    (lambda x, w, b: (np.stack([row.reshape(-1) @ w + b for row in x]), (x, w, b)), "must not loop in Python"),
    (lambda x, w, b: ((torch.as_tensor(x).flatten(1) @ torch.as_tensor(w) + torch.as_tensor(b)).numpy(), (x, w, b)),
     "must be written by hand with NumPy"),
])
def test_affine_forward_mistakes_are_named(wrong, match) -> None:
    fails_with("check_affine_forward", match, affine_forward=wrong)


def test_affine_forward_that_flattens_x_in_place_is_named() -> None:
    def wrong(x, w, b):
        x.shape = (x.shape[0], -1)  # reshapes the caller's array
        return x @ w + b, (x, w, b)

    fails_with("check_affine_forward", "in place", affine_forward=wrong)


def affine_backward_reference(dout, cache, *, transpose_dw=False, flat_dx=False, db_axis=0, db_mean=False,
                              dw_mean=False, in_place=False):
    x, w, b = cache
    flat = x.reshape(len(x), -1)
    dx = dout @ w.T
    dw = dout.T @ flat if transpose_dw else flat.T @ dout
    db = dout.mean(axis=db_axis) if db_mean else dout.sum(axis=db_axis)
    if dw_mean:
        dw = dw / len(x)
    if in_place:
        dout *= 1.0 + 1e-9  # "rescales" the upstream gradient in place
    return (dx if flat_dx else dx.reshape(x.shape)), dw, db


def affine_backward_einsum(dout, cache):
    """Valid: einsum, with dx computed from a flattened view and reshaped."""
    x, w, b = cache
    N = x.shape[0]
    return (np.einsum("nm,dm->nd", dout, w).reshape(x.shape), np.einsum("nd,nm->dm", x.reshape(N, -1), dout),
            np.einsum("nm->m", dout))


@pytest.mark.parametrize("valid", [affine_backward_reference, affine_backward_einsum])
def test_valid_affine_backwards_pass(valid) -> None:
    passes("check_affine_backward", affine_backward=valid)


@pytest.mark.parametrize("mistake, match", [
    (dict(transpose_dw=True), "transpose of the right answer"),
    (dict(flat_dx=True), "not reshaped back to x's shape"),
    (dict(db_axis=1), "db sums over the wrong axis"),
    (dict(db_mean=True), "db is the mean over the batch"),
    (dict(dw_mean=True), "dw is divided by N"),
    (dict(in_place=True), "changed its argument 1 in place"),
])
def test_affine_backward_mistakes_are_named(mistake, match) -> None:
    fails_with("check_affine_backward", match,
               affine_backward=lambda dout, cache: affine_backward_reference(dout, cache, **mistake))


def test_affine_backward_transposed_on_square_weights_only_is_named() -> None:
    def wrong(dout, cache):  # right when w is not square; transposed when D == M (e.g. a reshape bug)
        x, w, b = cache
        dw = x.reshape(len(x), -1).T @ dout
        return (dout @ w.T).reshape(x.shape), (dw.T if dw.shape[0] == dw.shape[1] else dw), dout.sum(axis=0)

    fails_with("check_affine_backward", "transpose of the right answer", affine_backward=wrong)


def test_affine_backward_through_torch_autograd_is_named() -> None:
    def wrong(dout, cache):
        x, w, b = (torch.tensor(a, requires_grad=True) for a in cache)
        (x.flatten(1) @ w + b).backward(torch.as_tensor(dout))
        return x.grad.numpy(), w.grad.numpy(), b.grad.numpy()

    fails_with("check_affine_backward", "must be written by hand with NumPy", affine_backward=wrong)


def relu_forward_in_place(x):
    x[x < 0] = 0
    return x, x


@pytest.mark.parametrize("valid", [lambda x: (np.maximum(x, 0), x), lambda x: (x * (x > 0), x),
                                   lambda x: (np.where(x > 0, x, 0), x), lambda x: (x.clip(min=0), x)])
def test_valid_relu_forwards_pass(valid) -> None:
    passes("check_relu_forward", relu_forward=valid)


@pytest.mark.parametrize("wrong, match", [
    (relu_forward_in_place, "in place"),
    (lambda x: (np.maximum(np.zeros(x.shape), x), x), "has dtype float64, expected float32"),
    (lambda x: (np.minimum(0, x), x), "min"),
    (lambda x: (torch.relu(torch.as_tensor(x)).numpy(), x), "must be written by hand"),
    (lambda x: (np.array([max(v, 0) for v in x.reshape(-1)], dtype=x.dtype).reshape(x.shape), x), "must not loop"),
])
def test_relu_forward_mistakes_are_named(wrong, match) -> None:
    fails_with("check_relu_forward", match, relu_forward=wrong)


@pytest.mark.parametrize("valid", [lambda dout, x: dout * (x > 0), lambda dout, x: np.where(x > 0, dout, 0.0),
                                   lambda dout, x: dout * (np.maximum(x, 0) > 0)])
def test_valid_relu_backwards_pass(valid) -> None:
    passes("check_relu_backward", relu_backward=valid)


def relu_backward_in_place(dout, cache):
    dout[cache <= 0] = 0
    return dout


@pytest.mark.parametrize("wrong, match", [
    (lambda dout, x: dout * (np.maximum(x, 0) >= 0), "lets gradient through where x < 0"),
    (lambda dout, x: dout.copy(), "lets gradient through where x < 0"),
    (lambda dout, x: dout * (x >= 0), "lets gradient through at x = 0"),
    (relu_backward_in_place, "in place"),
])
def test_relu_backward_mistakes_are_named(wrong, match) -> None:
    fails_with("check_relu_backward", match, relu_backward=wrong)


def softmax_loss_reference(scores, y, *, shift="row", mean_grad=True, mean_loss=True, minus_one=True, in_place=False):
    N = len(scores)
    if in_place:
        scores -= scores.max(axis=1, keepdims=True)
    elif shift == "row":
        scores = scores - scores.max(axis=1, keepdims=True)
    elif shift == "global":
        scores = scores - scores.max()
    with np.errstate(all="ignore"):
        exp = np.exp(scores)
        probs = exp / exp.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(N), y]).sum() / (N if mean_loss else 1)
    if minus_one:
        probs[np.arange(N), y] -= 1
    return loss, probs / (N if mean_grad else 1)


def softmax_loss_logsumexp(scores, y):
    """Valid: scipy's logsumexp and a one-hot matrix from np.eye."""
    log_probs = scores - logsumexp(scores, axis=1, keepdims=True)
    onehot = np.eye(scores.shape[1])[y]
    return float(-np.mean(np.sum(onehot * log_probs, axis=1))), (np.exp(log_probs) - onehot) / len(scores)


@pytest.mark.parametrize("valid", [softmax_loss_reference, softmax_loss_logsumexp])
def test_valid_softmax_losses_pass(valid) -> None:
    passes("check_softmax_loss", softmax_loss=valid)


@pytest.mark.parametrize("mistake, match", [
    (dict(shift="none"), "Subtract each row's own maximum"),
    (dict(shift="global"), "Subtract each row's own maximum"),
    (dict(mean_grad=False), "divide the gradient by N"),
    (dict(mean_loss=False, mean_grad=False), "average over the batch"),
    (dict(minus_one=False), "misses the -1"),
    (dict(in_place=True), "changed its argument 1 in place"),
])
def test_softmax_loss_mistakes_are_named(mistake, match) -> None:
    fails_with("check_softmax_loss", match, softmax_loss=lambda s, y: softmax_loss_reference(s, y, **mistake))


# ================================================================================ regression
def regression_reference(pred, target, kind="l2", beta=1.0, *, half_l2=False, total=False, per_row=False,
                         sign_zero=0.0, raw_quadratic=False, raw_linear=False, flip=False, error=ValueError):
    r = pred - target
    n = len(r) if per_row else (1 if total else r.size)
    if kind == "l2":
        values, grads = (0.5 * r**2, r) if half_l2 else (r**2, 2 * r)
    elif kind == "l1":
        values, grads = np.abs(r), np.where(r == 0, sign_zero, np.sign(r))
    elif kind == "smooth_l1":
        quadratic = np.abs(r) < beta
        values = np.where(quadratic, 0.5 * r**2 / (1.0 if raw_quadratic else beta),
                          np.abs(r) - 0.5 * (1.0 if raw_linear else beta))
        grads = np.where(quadratic, r / (1.0 if raw_quadratic else beta), np.sign(r))
    else:
        raise error(f"unknown kind {kind!r}; use 'l2', 'l1' or 'smooth_l1'")
    return values.sum() / n, (-1 if flip else 1) * grads / n


def regression_with_huber(pred, target, kind="l2", beta=1.0):
    """Valid: smooth L1 as Huber / beta, L1 through np.abs's subgradient by np.sign, dict dispatch."""
    r = pred - target
    if kind not in ("l2", "l1", "smooth_l1"):
        raise ValueError("kind must be one of 'l2', 'l1', 'smooth_l1'")
    if kind == "smooth_l1":
        huber = np.where(np.abs(r) <= beta, 0.5 * r * r, beta * (np.abs(r) - 0.5 * beta))
        return float(np.mean(huber) / beta), np.clip(r / beta, -1, 1) / r.size
    return {"l2": (np.mean(r * r), 2 * r / r.size), "l1": (np.mean(np.abs(r)), np.sign(r) / r.size)}[kind]


@pytest.mark.parametrize("valid", [regression_reference, regression_with_huber])
def test_valid_regression_losses_pass(valid) -> None:
    passes("check_regression_loss", regression_loss=valid)


@pytest.mark.parametrize("mistake, match", [
    (dict(half_l2=True), "other convention"),
    (dict(total=True), "the loss is summed"),
    (dict(per_row=True), "divided by N only"),
    (dict(sign_zero=1.0), "at r = 0 the L1 gradient"),
    (dict(raw_quadratic=True), "quadratic part is not divided by beta"),
    (dict(raw_linear=True), "linear part ignores beta"),
    (dict(flip=True), "wrong sign"),
    (dict(error=KeyError), "must raise ValueError"),
])
def test_regression_mistakes_are_named(mistake, match) -> None:
    fails_with("check_regression_loss", match,
               regression_loss=lambda p, t, kind="l2", beta=1.0: regression_reference(p, t, kind, beta, **mistake))


def test_regression_loss_that_changes_pred_in_place_is_named() -> None:
    def wrong(pred, target, kind="l2", beta=1.0):
        pred -= target  # the residual, in the caller's array
        return regression_reference(pred, np.zeros_like(pred), kind, beta)

    fails_with("check_regression_loss", "changed its argument 1 in place", regression_loss=wrong)


# =============================================================================== two-layer net
def make_two_layer_net(*, reg_grad=2.0, reg_loss=1.0, regularize_biases=False, relu_mask="x>0", use_self=True,
                       probabilities=False, keep_grads=False, update_params=False, torch_grads=False):
    """A two-layer net written from scratch; each keyword switches in one mistake."""

    def affine_forward_broken(x, w, b):  # a wrong layer of the student's own (outside the net)
        return x.reshape(len(x), -1) @ w, (x, w, b)

    class Net:
        def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-2, reg=0.0, seed=0):
            rng = np.random.default_rng(seed)
            self.params = {"W1": weight_scale * rng.standard_normal((input_dim, hidden_dim)),
                           "b1": np.zeros(hidden_dim),
                           "W2": weight_scale * rng.standard_normal((hidden_dim, num_classes)),
                           "b2": np.zeros(num_classes)}
            self.reg = reg
            self.kept = None
            self.affine_forward = affine_forward_broken  # the student's (wrong) layer, swapped out by the check
            self.affine_backward = self.relu_forward = self.relu_backward = self.softmax_loss = None

        def loss(self, X, y=None):
            p, reg = self.params, self.reg
            X = X.reshape(len(X), -1)
            if torch_grads:
                t = {k: torch.tensor(v, requires_grad=True) for k, v in p.items()}
                scores_t = torch.relu(torch.as_tensor(X) @ t["W1"] + t["b1"]) @ t["W2"] + t["b2"]
                if y is None:
                    return scores_t.detach().numpy()
                loss_t = F.cross_entropy(scores_t, torch.as_tensor(y)) + reg * ((t["W1"] ** 2).sum() + (t["W2"] ** 2).sum())
                loss_t.backward()
                return loss_t.item(), {k: v.grad.numpy() for k, v in t.items()}
            if use_self:
                a, _ = self.affine_forward(X, p["W1"], p["b1"])
            else:
                a = X @ p["W1"] + p["b1"]
            h = np.maximum(a, 0)
            scores = h @ p["W2"] + p["b2"]
            if y is None:
                if probabilities:
                    e = np.exp(scores - scores.max(axis=1, keepdims=True))
                    return e / e.sum(axis=1, keepdims=True)
                return scores
            loss, dscores = softmax_loss_reference(scores, y)
            names = ("W1", "W2", "b1", "b2") if regularize_biases else ("W1", "W2")
            loss += reg_loss * reg * sum(np.sum(p[k] ** 2) for k in names)
            dh = dscores @ p["W2"].T
            mask = {"x>0": a > 0, "out>=0": h >= 0}[relu_mask]
            da = dh * mask
            grads = {"W1": X.T @ da, "b1": da.sum(axis=0), "W2": h.T @ dscores, "b2": dscores.sum(axis=0)}
            for k in names:
                grads[k] = grads[k] + reg_grad * reg * p[k]
            if keep_grads:  # accumulates into arrays kept on self
                if self.kept is None:
                    self.kept = {k: np.zeros_like(v) for k, v in grads.items()}
                for k in grads:
                    self.kept[k] += grads[k]
                grads = self.kept
            if update_params:
                for k in ("W1", "W2"):
                    p[k] *= 1.0 - 1e-3  # "weight decay" applied inside the loss
            return loss, {k: v.copy() for k, v in grads.items()}

    return Net


def test_two_layer_reference_in_this_file_passes() -> None:
    passes("check_two_layer_net", TwoLayerNet=make_two_layer_net())


def test_two_layer_net_that_does_not_call_the_layers_through_self_passes() -> None:
    """Valid when its own layers are right: the computation is written inline."""
    passes("check_two_layer_net", TwoLayerNet=make_two_layer_net(use_self=False))


def test_a_wrong_layer_does_not_cost_the_two_layer_net_its_points() -> None:
    """The student's affine_backward (and affine_forward) are wrong; their net is right: it passes."""
    passes("check_two_layer_net", affine_backward=lambda dout, cache: affine_backward_reference(dout, cache, transpose_dw=True),
           affine_forward=lambda x, w, b: (x.reshape(len(x), -1) @ w, (x, w, b)))


@pytest.mark.parametrize("mistake, match", [
    (dict(reg_grad=0.0), "lacks the regulariser's gradient"),
    (dict(reg_grad=1.0), "only half the regulariser's gradient"),
    (dict(reg_loss=0.5, reg_grad=1.0), r"0\.5 \* reg.*other convention"),
    (dict(regularize_biases=True), "biases"),
    (dict(relu_mask="out>=0"), r"grads\['W1'\]"),
    (dict(probabilities=True), "not the softmax probabilities"),
    (dict(keep_grads=True), "second call's gradient holds the first call's"),
    (dict(update_params=True), r"changed self\.params"),
    (dict(torch_grads=True), "must be written by hand with NumPy"),
])
def test_two_layer_net_mistakes_are_named(mistake, match) -> None:
    fails_with("check_two_layer_net", match, TwoLayerNet=make_two_layer_net(**mistake))


# ================================================================== autograd.Function, training loop
def make_affine_function(*, transpose_dw=False, flat_dx=False, db_mean=False, no_bias=False, dw_mean=False):
    class AffineFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, w, b):
            ctx.save_for_backward(x, w)
            ctx.x_shape = x.shape
            out = x.reshape(x.shape[0], -1) @ w
            return out if no_bias else out + b

        @staticmethod
        def backward(ctx, dout):
            x, w = ctx.saved_tensors
            dx = dout @ w.T
            transpose = transpose_dw is True or (transpose_dw == "square" and w.shape[0] == w.shape[1])
            dw = dout.T @ x.flatten(1) if transpose else x.flatten(1).T @ dout
            if dw_mean:
                dw = dw / x.shape[0]
            db = dout.mean(0) if db_mean else dout.sum(0)
            dx = dx if flat_dx else dx.reshape(ctx.x_shape)
            return (dx if ctx.needs_input_grad[0] else None), dw, db

    def gradients(x, w, b, dout):  # the given helper of the notebook, for this class
        out = AffineFunction.apply(x, w, b)
        out.backward(dout)
        return out.detach(), type(out.grad_fn).__name__

    return {"AffineFunction": AffineFunction, "affine_function_gradients": gradients}


def test_affine_function_written_another_way_passes() -> None:
    passes("check_affine_function", **make_affine_function())


@pytest.mark.parametrize("mistake, match", [
    (dict(transpose_dw=True), r"with the shapes of \(x, w, b\)"),
    (dict(transpose_dw="square"), "transpose of the right answer"),
    (dict(flat_dx=True), r"with the shapes of \(x, w, b\)"),
    (dict(db_mean=True), "db is the mean"),
    (dict(no_bias=True), "bias is missing"),
    (dict(dw_mean=True), "dw is divided by N"),
])
def test_affine_function_mistakes_are_named(mistake, match) -> None:
    fails_with("check_affine_function", match, **make_affine_function(**mistake))


def test_affine_function_bypassed_by_autograd_is_named() -> None:
    def gradients(x, w, b, dout):  # never uses the Function
        out = F.linear(x.flatten(1), w.T, b)
        out.backward(dout)
        return out.detach(), type(out.grad_fn).__name__

    fails_with("check_affine_function", "not AffineFunctionBackward", affine_function_gradients=gradients)


def make_train_torch(*, zero_grad="before", momentum_used=True, record="before", item=True):
    def train_torch(model, X, y, num_steps, learning_rate, momentum=0.0):
        optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum if momentum_used else 0.0)
        losses = []
        for _ in range(num_steps):
            if zero_grad == "before":
                optimizer.zero_grad()
            loss = F.cross_entropy(model(X), y)
            loss.backward()
            if zero_grad == "between":
                optimizer.zero_grad()
            optimizer.step()
            if record == "after":
                with torch.no_grad():
                    loss = F.cross_entropy(model(X), y)
            losses.append(loss.item() if item else loss)
        return losses

    return train_torch


def train_torch_manual(model, X, y, num_steps, learning_rate, momentum=0.0):
    """Valid: zero_grad(set_to_none=False) after the step, and the optimizer's step in the same order."""
    optimizer = torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=momentum)
    optimizer.zero_grad(set_to_none=False)
    losses = []
    for _ in range(num_steps):
        loss = F.cross_entropy(model(X), y)
        losses.append(float(loss))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=False)
    return losses


@pytest.mark.parametrize("valid", [make_train_torch(), train_torch_manual])
def test_valid_training_loops_pass(valid) -> None:
    passes("check_train_torch", train_torch=valid)


@pytest.mark.parametrize("mistake, match", [
    (dict(zero_grad="never"), "gradients accumulate"),
    (dict(zero_grad="between"), "wipes the gradient"),
    (dict(momentum_used=False), "plain SGD"),
    (dict(record="after"), "losses are those after each update"),
    (dict(item=False), "Python floats"),
])
def test_training_loop_mistakes_are_named(mistake, match) -> None:
    fails_with("check_train_torch", match, train_torch=make_train_torch(**mistake))
