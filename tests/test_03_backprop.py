"""Notebook 03_backprop: every grade cell passes on the solution and names each classic mistake.

Each test builds a wrong version of one student function (or of the `Value` class), runs
that function's grade cell (visible and hidden checks, from the solution notebook) against
it, and asserts that the cell fails with a message naming the mistake. The wrong versions
are written here from scratch, independently of the solution.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from gradecells import grade_cell_fails, run_grade_cell

NOTEBOOK = "03_backprop"
GRADE_IDS = [
    "check_value_ops",
    "check_value_backward",
    "check_affine_forward",
    "check_affine_backward",
    "check_relu_forward",
    "check_relu_backward",
    "check_softmax_loss",
    "check_two_layer_net",
]


def fails_with(grade_id: str, match: str, **overrides) -> None:
    grade_cell_fails(NOTEBOOK, grade_id, match, **overrides)


@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id: str) -> None:
    run_grade_cell(NOTEBOOK, grade_id)


# ------------------------------------------------------------------ a scalar engine with mistakes
def make_value_class(*, accumulate: bool = True, tanh_derivative: str = "1-t^2", backward_order: str = "reverse_topo",
                     seed_root: bool = True):
    """A micrograd-style Value class; the keyword arguments switch in one classic mistake each.

    accumulate=False: every _backward writes `child.grad = ...` instead of `+=`.
    tanh_derivative="1-t": the local derivative of tanh without the square.
    backward_order: "reverse_topo" (right), "preorder" (each node runs _backward, then its
    children are visited depth first: no topological order), "topo" (leaves first).
    seed_root=False: backward() never sets root.grad = 1.
    """

    def deposit(node, amount):
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
            out = Value(data, children)
            out._backward = lambda: backward_fn(out)
            return out

        def __add__(self, other):
            other = Value._wrap(other)
            return self._make(self.data + other.data, (self, other),
                              lambda out: (deposit(self, out.grad), deposit(other, out.grad)))

        def __mul__(self, other):
            other = Value._wrap(other)
            return self._make(self.data * other.data, (self, other),
                              lambda out: (deposit(self, other.data * out.grad), deposit(other, self.data * out.grad)))

        def __pow__(self, n):
            return self._make(self.data**n, (self,), lambda out: deposit(self, n * self.data ** (n - 1) * out.grad))

        def tanh(self):
            t = math.tanh(self.data)
            local = 1 - t * t if tanh_derivative == "1-t^2" else 1 - t
            return self._make(t, (self,), lambda out: deposit(self, local * out.grad))

        def relu(self):
            return self._make(max(self.data, 0.0), (self,), lambda out: deposit(self, (self.data > 0) * out.grad))

        def exp(self):
            e = math.exp(self.data)
            return self._make(e, (self,), lambda out: deposit(self, e * out.grad))

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
    run_grade_cell(NOTEBOOK, "check_value_ops", Value=make_value_class())
    run_grade_cell(NOTEBOOK, "check_value_backward", Value=make_value_class())


def test_op_that_overwrites_grad_is_named() -> None:
    fails_with("check_value_ops", r"overwrote \.grad instead of accumulating", Value=make_value_class(accumulate=False))


def test_overwriting_is_named_in_backward_check_too() -> None:
    fails_with("check_value_backward", r"\+= in _backward, not =",
               Value=make_value_class(accumulate=False))


def test_tanh_without_square_is_named() -> None:
    fails_with("check_value_ops", r"1 - tanh\(a\)\*\*2", Value=make_value_class(tanh_derivative="1-t"))


def test_backward_without_topological_order_is_named() -> None:
    fails_with("check_value_backward", "REVERSE topological order", Value=make_value_class(backward_order="preorder"))


def test_backward_in_forward_order_is_named() -> None:
    fails_with("check_value_backward", "topological order", Value=make_value_class(backward_order="topo"))


def test_backward_that_does_not_seed_the_root_is_named() -> None:
    fails_with("check_value_backward", r"self\.grad = 1\.0", Value=make_value_class(seed_root=False))


# ------------------------------------------------------------------------------ layers
def affine_forward_ok(x, w, b):
    return x.reshape(len(x), -1) @ w + b, (x, w, b)


def affine_forward_unflattened(x, w, b):
    return x @ w + b, (x, w, b)


def test_affine_forward_that_does_not_flatten_is_named() -> None:
    fails_with("check_affine_forward", r"x\.reshape\(x\.shape\[0\], -1\)", affine_forward=affine_forward_unflattened)


def test_affine_forward_reference_in_this_file_passes() -> None:
    run_grade_cell(NOTEBOOK, "check_affine_forward", affine_forward=affine_forward_ok)


def affine_backward_transposed_dw(dout, cache):
    x, w, b = cache
    flat = x.reshape(len(x), -1)
    return (dout @ w.T).reshape(x.shape), dout.T @ flat, dout.sum(axis=0)


def affine_backward_transposed_square_only(dout, cache):
    """Right when w is not square; shaped (D, M) but transposed when D == M (e.g. a reshape bug)."""
    x, w, b = cache
    flat = x.reshape(len(x), -1)
    dw = flat.T @ dout
    return (dout @ w.T).reshape(x.shape), (dw.T if dw.shape[0] == dw.shape[1] else dw), dout.sum(axis=0)


def affine_backward_flat_dx(dout, cache):
    x, w, b = cache
    flat = x.reshape(len(x), -1)
    return dout @ w.T, flat.T @ dout, dout.sum(axis=0)


def affine_backward_db_wrong_axis(dout, cache):
    x, w, b = cache
    flat = x.reshape(len(x), -1)
    return (dout @ w.T).reshape(x.shape), flat.T @ dout, dout.sum(axis=1)


def test_affine_backward_with_transposed_weight_gradient_is_named() -> None:
    fails_with("check_affine_backward", "transposed", affine_backward=affine_backward_transposed_dw)


def test_affine_backward_transposed_on_square_weights_is_named() -> None:
    fails_with("check_affine_backward", "transpose of the right answer",
               affine_backward=affine_backward_transposed_square_only)


def test_affine_backward_dx_not_reshaped_is_named() -> None:
    fails_with("check_affine_backward", "reshaped back to x's shape", affine_backward=affine_backward_flat_dx)


def test_affine_backward_bias_summed_over_wrong_axis_is_named() -> None:
    fails_with("check_affine_backward", "sums dout over the batch", affine_backward=affine_backward_db_wrong_axis)


def relu_forward_in_place(x):
    x[x < 0] = 0
    return x, x


def test_relu_forward_in_place_is_named() -> None:
    fails_with("check_relu_forward", "in place", relu_forward=relu_forward_in_place)


def relu_backward_mask_from_output(dout, cache):
    x = cache
    return dout * (np.maximum(x, 0) >= 0)


def relu_backward_passthrough(dout, cache):
    return dout.copy()


@pytest.mark.parametrize("wrong", [relu_backward_mask_from_output, relu_backward_passthrough])
def test_relu_backward_leaking_through_negative_inputs_is_named(wrong) -> None:
    fails_with("check_relu_backward", "lets gradient through where x < 0", relu_backward=wrong)


def softmax_loss_reference(scores, y, *, shift=True, mean_grad=True, mean_loss=True):
    N = len(scores)
    if shift:
        scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    probs = exp / exp.sum(axis=1, keepdims=True)
    loss = -np.log(probs[np.arange(N), y]).sum() / (N if mean_loss else 1)
    probs[np.arange(N), y] -= 1
    return loss, probs / (N if mean_grad else 1)


def test_softmax_reference_in_this_file_passes() -> None:
    run_grade_cell(NOTEBOOK, "check_softmax_loss", softmax_loss=softmax_loss_reference)


def test_softmax_loss_without_max_shift_is_named() -> None:
    fails_with("check_softmax_loss", "Subtract each row's maximum",
               softmax_loss=lambda s, y: softmax_loss_reference(s, y, shift=False))


def test_softmax_gradient_not_divided_by_n_is_named() -> None:
    fails_with("check_softmax_loss", "divide the gradient by N",
               softmax_loss=lambda s, y: softmax_loss_reference(s, y, mean_grad=False))


def test_softmax_loss_summed_instead_of_averaged_is_named() -> None:
    fails_with("check_softmax_loss", "average over the batch",
               softmax_loss=lambda s, y: softmax_loss_reference(s, y, mean_loss=False, mean_grad=False))


# ------------------------------------------------------------------------------ two-layer net
def make_two_layer_net(*, reg_grad: float = 2.0, reg_loss: float = 1.0, regularize_biases: bool = False,
                       relu_mask_from_output: bool = False):
    """A two-layer net written from scratch; the keyword arguments switch in one mistake each."""

    class Net:
        def __init__(self, input_dim, hidden_dim, num_classes, weight_scale=1e-2, reg=0.0, seed=0):
            rng = np.random.default_rng(seed)
            self.params = {"W1": weight_scale * rng.standard_normal((input_dim, hidden_dim)),
                           "b1": np.zeros(hidden_dim),
                           "W2": weight_scale * rng.standard_normal((hidden_dim, num_classes)),
                           "b2": np.zeros(num_classes)}
            self.reg = reg

        def loss(self, X, y=None):
            p, reg = self.params, self.reg
            a = X @ p["W1"] + p["b1"]
            h = np.maximum(a, 0)
            scores = h @ p["W2"] + p["b2"]
            if y is None:
                return scores
            loss, dscores = softmax_loss_reference(scores, y)
            names = ("W1", "W2", "b1", "b2") if regularize_biases else ("W1", "W2")
            loss += reg_loss * reg * sum(np.sum(p[k] ** 2) for k in names)
            dh = dscores @ p["W2"].T
            da = dh * ((h >= 0) if relu_mask_from_output else (a > 0))
            grads = {"W1": X.T @ da, "b1": da.sum(axis=0), "W2": h.T @ dscores, "b2": dscores.sum(axis=0)}
            for k in names:
                grads[k] = grads[k] + reg_grad * reg * p[k]
            return loss, grads

    return Net


def test_two_layer_reference_in_this_file_passes() -> None:
    run_grade_cell(NOTEBOOK, "check_two_layer_net", TwoLayerNet=make_two_layer_net())


def test_two_layer_net_without_regulariser_gradient_is_named() -> None:
    fails_with("check_two_layer_net", "lacks the regulariser's gradient", TwoLayerNet=make_two_layer_net(reg_grad=0.0))


def test_two_layer_net_with_half_regulariser_gradient_is_named() -> None:
    fails_with("check_two_layer_net", "only half the regulariser's gradient",
               TwoLayerNet=make_two_layer_net(reg_grad=1.0))


def test_two_layer_net_with_half_regulariser_loss_is_named() -> None:
    fails_with("check_two_layer_net", r"0\.5 \* reg", TwoLayerNet=make_two_layer_net(reg_loss=0.5, reg_grad=1.0))


def test_two_layer_net_regularising_biases_is_named() -> None:
    fails_with("check_two_layer_net", "biases", TwoLayerNet=make_two_layer_net(regularize_biases=True))


def test_two_layer_net_with_leaky_relu_backward_fails() -> None:
    fails_with("check_two_layer_net", "grads\\['W1'\\]", TwoLayerNet=make_two_layer_net(relu_mask_from_output=True))
