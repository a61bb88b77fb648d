"""dlcourse.testing: friendly assertions for grade cells."""

import numpy as np
import pytest
import torch

from dlcourse.testing import assert_close, assert_dtype, assert_gradient, assert_shape, check


def test_assert_close_passes_and_prints_one_line(capsys):
    assert_close("dW", np.ones((2, 3)) + 1e-9, np.ones((2, 3)))
    captured = capsys.readouterr()
    assert captured.out.startswith("✓ dW matches (max abs error 1.0e-09)")
    assert captured.out.count("\n") == 1 and captured.err == ""


def test_assert_close_accepts_tensors_with_grad_and_scalars(capsys):
    actual = torch.tensor([1.0, 2.0], requires_grad=True) * 1
    assert_close("x", actual, np.array([1.0, 2.0]))
    assert_close("loss", 2.0, np.float64(2.0))
    assert_close("n", torch.tensor(3), 3)
    assert capsys.readouterr().err == ""


def test_wrong_values_report_errors_position_and_hint():
    with pytest.raises(AssertionError) as info:
        assert_close("dW", np.array([1.0, 2.0, 3.5]), np.array([1.0, 2.0, 3.0]), hint="check the bias term")
    message = str(info.value)
    for part in ("dW does not match", "1 of 3", "max abs error:  5.000e-01", "index (2,)",
                 "got 3.5, expected 3", "max rel error", "expected: [1., 2., 3.]", "Hint: check the bias term"):
        assert part in message, part


def test_tolerances_are_honoured():
    assert_close("a", 1.0 + 1e-4, 1.0, rtol=1e-3)
    with pytest.raises(AssertionError):
        assert_close("a", 1.0 + 1e-4, 1.0, rtol=1e-6, atol=0)


def test_shape_is_reported_before_values():
    with pytest.raises(AssertionError, match=r"wrong shape: expected \(3, 1\), got \(3,\)"):
        assert_close("scores", np.full(3, np.nan), np.zeros((3, 1)))


def test_non_finite_values_are_named():
    with pytest.raises(AssertionError, match=r"1 NaN and 1 inf of 3 .*index \(1,\)"):
        assert_close("probs", np.array([0.5, np.nan, np.inf]), np.array([0.5, 0.2, 0.3]))


def test_matching_infinities_pass_and_missing_ones_fail():
    assert_close("x", np.array([np.inf, 1.0]), np.array([np.inf, 1.0]))
    with pytest.raises(AssertionError, match="expected inf"):
        assert_close("x", np.array([1.0, 1.0]), np.array([np.inf, 1.0]))


def test_none_means_missing_return():
    with pytest.raises(AssertionError, match="forget to `return`"):
        assert_close("out", None, 1.0)


def test_large_arrays_are_not_dumped():
    with pytest.raises(AssertionError) as info:
        assert_close("big", np.zeros(1000), np.ones(1000))
    assert "expected:" not in str(info.value) and "1000 of 1000" in str(info.value)


def test_assert_shape_with_wildcards(capsys):
    assert_shape("h", torch.zeros(4, 7), (4, None))
    assert "✓ h has shape (4, 7)" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"expected \(any, 1\), got \(4, 7\).\nHint: keepdims"):
        assert_shape("h", np.zeros((4, 7)), (None, 1), hint="keepdims")


def test_assert_dtype_mixes_numpy_and_torch(capsys):
    assert_dtype("y", torch.zeros(2, dtype=torch.int64), np.int64)
    assert_dtype("x", np.zeros(2, dtype=np.float32), torch.float32)
    assert "✓ y has dtype int64" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="dtype float64, expected float32"):
        assert_dtype("x", np.zeros(2), "float32")


def test_check_raises_its_message_only_when_false(capsys):
    check(True, "never shown")
    check(1 < 2, "never shown", success="order is fine")
    assert capsys.readouterr().out == "✓ order is fine\n"
    with pytest.raises(AssertionError, match="^forgot the square root$"):
        check(False, "forgot the square root")


def test_assert_gradient_against_numeric_gradient():
    x = np.random.default_rng(0).normal(size=(3, 2))
    assert_gradient("dx", lambda v: np.sum(v**3), x, 3 * x**2)
    upstream = np.ones((3, 2)) * 2
    assert_gradient("dx", lambda v: np.sin(v), x, np.cos(x) * upstream, upstream=upstream)
    with pytest.raises(AssertionError, match="(?s)dx does not match.*\nHint: factor 3"):
        assert_gradient("dx", lambda v: np.sum(v**3), x, x**2, hint="factor 3")


# --------------------------------------------------------------------------- assert_no_loops
def _vectorized(x):
    return (x ** 2).sum(axis=1)


def _with_for(x):
    total = 0
    for row in x:
        total += row
    return total


def _with_comprehension(x):
    return [row.sum() for row in x]


def _with_vectorize(x):
    return np.vectorize(abs)(x)


def test_assert_no_loops_accepts_vectorized_code(capsys):
    from dlcourse.testing import assert_no_loops

    assert_no_loops("_vectorized", _vectorized)
    assert "✓ _vectorized has no Python loop" in capsys.readouterr().out


@pytest.mark.parametrize("function, words", [(_with_for, "a for loop"),
                                             (_with_comprehension, "a list comprehension"),
                                             (_with_vectorize, "vectorize")])
def test_assert_no_loops_names_the_loop(function, words):
    from dlcourse.testing import assert_no_loops

    with pytest.raises(AssertionError, match=words):
        assert_no_loops(function.__name__, function)


def test_assert_no_loops_reads_bytecode_when_there_is_no_source():
    from dlcourse.testing import assert_no_loops, python_loops

    namespace = {}
    exec("def f(x):\n    i = 0\n    while i < 3:\n        i += 1\n    return x\n"
         "def g(x):\n    return sum(v for v in x)\n"
         "def h(x):\n    return x * 2\n", namespace)
    assert python_loops(namespace["f"]) and python_loops(namespace["g"])
    assert python_loops(namespace["h"]) == []
    with pytest.raises(AssertionError, match="no Python loop"):
        assert_no_loops("f", namespace["f"])


def test_assert_no_loops_names_a_forbidden_call():
    from dlcourse.testing import assert_no_loops

    def slow(x):
        return _with_for(x)

    def fast(x):
        return _vectorized(x)

    with pytest.raises(AssertionError, match="calls _with_for"):
        assert_no_loops("fast", slow, forbidden_calls=["_with_for"])
    assert_no_loops("fast", fast, forbidden_calls=["_with_for"])
