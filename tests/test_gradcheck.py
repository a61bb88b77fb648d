"""dlcourse.gradcheck: numeric gradients, relative error, sparse checks."""

import numpy as np
import pytest
import torch

from dlcourse.gradcheck import (
    eval_numerical_gradient,
    eval_numerical_gradient_array,
    grad_check_sparse,
    rel_error,
    torch_gradient,
)


def _x(shape=(3, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape)


def test_scalar_gradient_matches_torch_and_restores_x():
    x = _x()
    before = x.copy()
    numeric = eval_numerical_gradient(lambda v: np.sum(np.tanh(v) * v), x)
    expected = torch_gradient(lambda t: torch.sum(torch.tanh(t) * t), x)
    assert rel_error(numeric, expected) < 1e-7
    np.testing.assert_array_equal(x, before)


def test_array_gradient_uses_upstream_gradient():
    x, df = _x((2, 3)), _x((2, 3), seed=1)
    numeric = eval_numerical_gradient_array(lambda v: v**2, x, df)
    np.testing.assert_allclose(numeric, 2 * x * df, rtol=1e-6)


def test_array_gradient_with_different_output_shape():
    x, W, df = _x((2, 3)), _x((3, 4), seed=1), _x((2, 4), seed=2)
    numeric = eval_numerical_gradient_array(lambda v: v @ W, x, df)
    np.testing.assert_allclose(numeric, df @ W.T, rtol=1e-6)


def test_x_is_restored_even_when_f_raises():
    x = _x((2, 2))
    before = x.copy()
    calls = []

    def failing(v):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("boom")
        return v.sum()

    with pytest.raises(RuntimeError):
        eval_numerical_gradient(failing, x)
    np.testing.assert_array_equal(x, before)


def test_function_returning_its_input_view_is_handled():
    x = _x((3,))
    numeric = eval_numerical_gradient_array(lambda v: v, x, np.ones(3))  # f returns x itself
    np.testing.assert_allclose(numeric, np.ones(3), rtol=1e-8)


def test_integer_input_is_refused():
    with pytest.raises(TypeError, match="float"):
        eval_numerical_gradient(lambda v: v.sum(), np.arange(3))


def test_rel_error_values():
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0.0
    assert rel_error(1.0, 3.0) == pytest.approx(0.5)
    assert rel_error(np.array([1.0, 100.0]), np.array([1.0, 101.0])) == pytest.approx(1 / 201)
    with pytest.raises(ValueError, match="same shape"):
        rel_error(np.zeros(2), np.zeros(3))


def test_sparse_check_is_small_for_right_and_large_for_wrong_gradient(capsys):
    x = _x()
    before = x.copy()
    good = grad_check_sparse(lambda v: np.sum(v**3), x, 3 * x**2, num_checks=5)
    bad = grad_check_sparse(lambda v: np.sum(v**3), x, 2 * x**2, num_checks=5)
    assert len(good) == 5 and max(good) < 1e-7 and min(bad) > 0.1
    assert capsys.readouterr().out.count("relative error") == 10
    np.testing.assert_array_equal(x, before)
    assert grad_check_sparse(lambda v: np.sum(v**3), x, 3 * x**2, 5, seed=1) != good


def test_torch_gradient_with_upstream():
    x, up = _x((2, 2)), _x((2, 2), seed=3)
    np.testing.assert_allclose(torch_gradient(lambda t: t**2, x, upstream=up), 2 * x * up)
