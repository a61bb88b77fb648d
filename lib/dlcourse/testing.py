"""Assertions for grade cells that a student can read.

Every failure is an AssertionError whose message says what was expected, what came
back (shapes first, then values: the largest absolute and relative error, where it is,
NaN/inf counts) and, when given, a hint naming the likely mistake. Every success prints
one short line such as `✓ dW matches (max abs error 3.1e-09)`. Nothing goes to stderr.

Values may be numpy arrays, torch tensors (any device, with or without grad), python
scalars or nested lists.
"""

from __future__ import annotations

import ast
import dis
import inspect
import textwrap
from typing import Any, Callable, Sequence

import numpy as np
import torch

from dlcourse.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array

_SHOW_ALL_UP_TO = 20  # arrays with at most this many elements are printed in full


def _to_numpy(name: str, value: Any) -> np.ndarray:
    """`value` as a numpy array; a friendly AssertionError when it is not numeric."""
    if value is None:
        raise AssertionError(f"{name} is None: did the function forget to `return` it?")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise AssertionError(f"{name} could not be read as an array ({error}).") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise AssertionError(
            f"{name} should be numeric, got {type(value).__name__} with dtype {array.dtype}."
        )
    return array


def _with_hint(message: str, hint: str | None) -> str:
    return f"{message}\nHint: {hint}" if hint else message


def _show(label: str, array: np.ndarray) -> str:
    return label + np.array2string(array, precision=6, separator=", ", prefix=label)


def _position(flat_index: int, shape: tuple[int, ...]) -> str:
    return str(tuple(int(i) for i in np.unravel_index(flat_index, shape))) if shape else "()"


def _nonfinite_report(name: str, actual: np.ndarray, expected: np.ndarray) -> str | None:
    """A message when `actual` has NaN/inf where `expected` does not hold the same value."""
    bad = ~np.isfinite(actual) & ~((actual == expected) | (np.isnan(actual) & np.isnan(expected)))
    if not bad.any():
        return None
    first = int(np.flatnonzero(bad)[0])
    return (
        f"{name} contains non-finite values: {int(np.isnan(actual[bad]).sum())} NaN and "
        f"{int(np.isinf(actual[bad]).sum())} inf of {actual.size} elements "
        f"(first at index {_position(first, actual.shape)}, where {expected.flat[first]:.6g} "
        "was expected).\nNaN or inf usually means an overflow (exp of a large number, "
        "log of 0, division by 0)."
    )


def assert_close(
    name: str,
    actual: Any,
    expected: Any,
    rtol: float = 1e-5,
    atol: float = 1e-8,
    hint: str | None = None,
) -> None:
    """Check that `actual` equals `expected` elementwise within |a - e| <= atol + rtol * |e|.

    Shapes must match exactly (checked before values). Prints `✓ <name> matches ...` on success.
    """
    actual_np, expected_np = _to_numpy(name, actual), _to_numpy("the expected value", expected)
    if actual_np.shape != expected_np.shape:
        raise AssertionError(
            _with_hint(
                f"{name} has the wrong shape: expected {expected_np.shape}, got {actual_np.shape}.",
                hint,
            )
        )
    actual_f, expected_f = actual_np.astype(np.float64), expected_np.astype(np.float64)
    nonfinite = _nonfinite_report(name, actual_f, expected_f)
    if nonfinite:
        raise AssertionError(_with_hint(nonfinite, hint))
    mismatched = ~np.isclose(actual_f, expected_f, rtol=rtol, atol=atol, equal_nan=True)
    with np.errstate(all="ignore"):  # inf - inf is nan here; those entries are replaced
        both_finite = np.isfinite(actual_f) & np.isfinite(expected_f)
        abs_err = np.where(both_finite, np.abs(actual_f - expected_f), np.where(mismatched, np.inf, 0.0))
        rel_err = np.where(both_finite, abs_err / np.maximum(np.abs(actual_f) + np.abs(expected_f), 1e-8), abs_err)
    max_abs = float(abs_err.max(initial=0.0))
    if not mismatched.any():
        print(f"✓ {name} matches (max abs error {max_abs:.1e})")
        return
    worst = int(np.argmax(np.where(mismatched, abs_err, -1.0)))
    lines = [
        f"{name} does not match the expected values.",
        f"  shape:          {actual_np.shape} (as expected)",
        f"  mismatched:     {int(mismatched.sum())} of {actual_np.size} elements "
        f"(allowed: |got - expected| <= {atol:g} + {rtol:g} * |expected|)",
        f"  max abs error:  {max_abs:.3e} at index {_position(worst, actual_np.shape)}: "
        f"got {actual_f.flat[worst]:.6g}, expected {expected_f.flat[worst]:.6g}",
        f"  max rel error:  {float(rel_err.max(initial=0.0)):.3e} (|got - expected| / (|got| + |expected|))",
    ]
    if actual_np.size <= _SHOW_ALL_UP_TO:
        lines += [_show("  expected: ", expected_np), _show("  got:      ", actual_np)]
    raise AssertionError(_with_hint("\n".join(lines), hint))


def assert_shape(
    name: str, actual: Any, expected_shape: Sequence[int | None], hint: str | None = None
) -> None:
    """Check `actual.shape == expected_shape`; a `None` entry matches any size."""
    shape = tuple(actual.shape) if hasattr(actual, "shape") else _to_numpy(name, actual).shape
    expected = tuple(expected_shape)
    fits = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))
    if not fits:
        shown = str(tuple("any" if e is None else e for e in expected)).replace("'", "")
        raise AssertionError(
            _with_hint(f"{name} has the wrong shape: expected {shown}, got {shape}.", hint)
        )
    print(f"✓ {name} has shape {shape}")


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    return np.dtype(dtype).name


def assert_dtype(name: str, actual: Any, expected_dtype: Any, hint: str | None = None) -> None:
    """Check the dtype of `actual`; `expected_dtype` may be a numpy dtype, a string or a torch dtype."""
    got = _dtype_name(actual.dtype if hasattr(actual, "dtype") else _to_numpy(name, actual).dtype)
    want = _dtype_name(expected_dtype)
    if got != want:
        raise AssertionError(_with_hint(f"{name} has dtype {got}, expected {want}.", hint))
    print(f"✓ {name} has dtype {got}")


def check(condition: Any, message: str, success: str | None = None) -> None:
    """Raise AssertionError(message) when `condition` is false; print `✓ success` if given.

    Use it to name a classic mistake: `check(loss > 0, "the loss is 0: did you forget the margin?")`.
    """
    if not bool(condition):
        raise AssertionError(message)
    if success:
        print(f"✓ {success}")


def assert_gradient(
    name: str,
    f: Callable[[np.ndarray], Any],
    x: np.ndarray,
    analytic_grad: Any,
    upstream: np.ndarray | None = None,
    h: float = 1e-5,
    rtol: float = 1e-5,
    atol: float = 1e-7,
    hint: str | None = None,
) -> None:
    """Compare `analytic_grad` with a centered-difference gradient of `f` at `x` (float64).

    `f(x)` is a scalar, or an array when `upstream` (the gradient flowing into f's output,
    same shape as f(x)) is given. `x` is perturbed in place and restored.
    """
    numeric = (
        eval_numerical_gradient(f, x, h=h)
        if upstream is None
        else eval_numerical_gradient_array(f, x, upstream, h=h)
    )
    assert_close(name, analytic_grad, numeric, rtol=rtol, atol=atol, hint=hint)


_LOOP_NODES = {ast.For: "a for loop", ast.While: "a while loop", ast.ListComp: "a list comprehension",
               ast.SetComp: "a set comprehension", ast.DictComp: "a dict comprehension",
               ast.GeneratorExp: "a generator expression"}
_LOOPING_CALLS = ("vectorize", "apply_along_axis", "frompyfunc", "fromiter", "map")


def python_loops(function: Callable) -> list[str]:
    """The Python loops in `function`, described in words ("a for loop (line 3)").

    Read from the source when there is one, else from the bytecode of the function and of
    every function or comprehension nested in it (a function defined by `exec` has no source).
    """
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except (OSError, TypeError, SyntaxError):
        tree = None
    if tree is not None:
        return [f"{_LOOP_NODES[type(node)]} (line {node.lineno} of the function)"
                for node in ast.walk(tree) if type(node) in _LOOP_NODES]
    found, codes = [], [function.__code__]
    while codes:
        code = codes.pop()
        codes.extend(const for const in code.co_consts if inspect.iscode(const))
        for instruction in dis.get_instructions(code):
            backwards = "JUMP" in instruction.opname and isinstance(instruction.argval, int) \
                and instruction.argval < instruction.offset
            if instruction.opname == "FOR_ITER" or backwards:
                found.append("a loop (for, while or a comprehension)")
    return found


def assert_no_loops(name: str, function: Callable, forbidden_calls: Sequence[str] = (),
                    hint: str | None = None) -> None:
    """Check that `function` runs no Python loop: no for/while/comprehension in it, no call to
    `forbidden_calls` (e.g. the looping version it replaces), nor to np.vectorize and friends."""
    loops = sorted(set(python_loops(function)))
    if loops:
        raise AssertionError(_with_hint(
            f"{name} must contain no Python loop, but it has {', '.join(loops)}.", hint))
    called = set(function.__code__.co_names)
    for other in forbidden_calls:
        if other in called:
            raise AssertionError(_with_hint(f"{name} calls {other}, which loops: that is still a Python loop.", hint))
    looping = called & set(_LOOPING_CALLS)
    if looping:
        raise AssertionError(_with_hint(
            f"{name} uses {', '.join(sorted(looping))}, which runs a Python loop inside.", hint))
    print(f"✓ {name} has no Python loop")
