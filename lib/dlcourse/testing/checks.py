"""Value checks for grade cells: each prints one ✓ line, or raises CheckFailed naming the problem.

A failed check is a `CheckFailed` (an AssertionError). In Jupyter it shows as one red
"✗ message" block with the hint below it, not as a traceback through this library: the
student sees the ✓ lines of the checks that passed, then what is wrong. Nothing goes to stderr.

Values may be numpy arrays, torch tensors (any device, with or without grad), python
scalars or nested lists.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from dlcourse.gradcheck import eval_numerical_gradient, eval_numerical_gradient_array

_SHOW_ALL_UP_TO = 20  # arrays with at most this many elements are printed in full
_RED, _RESET = "\x1b[0;31m", "\x1b[0m"


class CheckFailed(AssertionError):
    """A check of a grade cell failed; `str()` is the message, the hint on its last line.

    IPython shows an exception through its `_render_traceback_` when it has one: here, the
    message alone, so the named mistake is the first thing the student reads.
    """

    def _render_traceback_(self) -> list[str]:
        first, *rest = str(self).splitlines() or [""]
        return [f"{_RED}✗ {first}{_RESET}", *rest]


def _fail(message: str, hint: str | None = None) -> CheckFailed:
    return CheckFailed(f"{message}\nHint: {hint}" if hint else message)


def _to_numpy(name: str, value: Any) -> np.ndarray:
    """`value` as a numpy array; a CheckFailed when it is not numeric."""
    if value is None:
        raise CheckFailed(f"{name} is None: did the function forget to `return` it?")
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError) as error:
        raise CheckFailed(f"{name} could not be read as an array ({error}).") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise CheckFailed(f"{name} should be numeric, got {type(value).__name__} with dtype {array.dtype}.")
    return array


def _precision(value: Any) -> str:
    """'exact', 'float64', 'float32' or 'half': the precision a value was computed in."""
    dtype = value.dtype if hasattr(value, "dtype") else np.asarray(value).dtype
    if isinstance(dtype, torch.dtype):
        if not dtype.is_floating_point and not dtype.is_complex:
            return "exact"
        return {torch.float64: "float64", torch.complex128: "float64", torch.float32: "float32",
                torch.complex64: "float32"}.get(dtype, "half")
    dtype = np.dtype(dtype)
    if dtype.kind in "biu":
        return "exact"
    bytes_per_real = dtype.itemsize // 2 if dtype.kind == "c" else dtype.itemsize
    return "float64" if bytes_per_real >= 8 else "float32" if bytes_per_real == 4 else "half"


_ORDER = ("exact", "float64", "float32", "half")
# (rtol, atol as a fraction of the largest |expected|): the defaults, and the floors that an
# explicit tolerance is raised to, because no answer is more precise than its dtype allows.
_DEFAULT = {"exact": (0.0, 0.0), "float64": (1e-6, 1e-9), "float32": (1e-4, 1e-5), "half": (2e-2, 1e-2)}
_FLOOR = {"exact": (0.0, 0.0), "float64": (0.0, 0.0), "float32": (1e-5, 1e-6), "half": (1e-2, 5e-3)}


def tolerances(actual: Any, expected: Any, rtol: float | None = None, atol: float | None = None,
               inputs: Sequence[Any] = (), scale: float | None = None) -> tuple[float, float]:
    """The (rtol, atol) used to compare `actual` with `expected`.

    The coarsest precision of `actual`, `expected` and `inputs` (what `actual` was computed
    from) decides: a float32 answer, or one computed from float32 inputs, gets a float32
    tolerance. atol scales with `scale`, by default the largest |expected| (1 if all are 0);
    give the size of the numbers involved when the result is a small difference of large ones.
    Explicit values are used as given, but never tighter than that precision allows.
    """
    precision = max([_precision(actual), _precision(expected)] +
                    [_precision(x) for x in inputs if hasattr(x, "dtype")], key=_ORDER.index)
    if scale is None:
        values = np.abs(_to_numpy("the expected value", expected).astype(np.float64))
        finite = values[np.isfinite(values)]
        scale = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    default_rtol, default_atol = _DEFAULT[precision]
    floor_rtol, floor_atol = _FLOOR[precision]
    rtol = default_rtol if rtol is None else max(rtol, floor_rtol)
    atol = default_atol * scale if atol is None else max(atol, floor_atol * scale)
    return rtol, atol


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
    return (f"{name} contains non-finite values: {int(np.isnan(actual[bad]).sum())} NaN and "
            f"{int(np.isinf(actual[bad]).sum())} inf of {actual.size} elements "
            f"(first at index {_position(first, actual.shape)}, where {expected.flat[first]:.6g} "
            "was expected).\nNaN or inf usually means an overflow (exp of a large number, "
            "log of 0, division by 0).")


def _mismatch(actual: np.ndarray, expected: np.ndarray, rtol: float, atol: float) -> np.ndarray:
    return ~np.isclose(actual.astype(np.float64), expected.astype(np.float64), rtol=rtol, atol=atol,
                       equal_nan=True)


def _named_mistake(actual: np.ndarray, mistakes: Mapping[str, Any], rtol: float, atol: float) -> str | None:
    """The message of the first known wrong answer that `actual` matches."""
    for message, wrong in mistakes.items():
        wrong_np = _to_numpy("a known mistake", wrong)
        if wrong_np.shape == actual.shape and not _mismatch(actual, wrong_np, rtol, atol).any():
            return message
    return None


def assert_close(name: str, actual: Any, expected: Any, rtol: float | None = None,
                 atol: float | None = None, hint: str | None = None,
                 mistakes: Mapping[str, Any] | None = None, inputs: Sequence[Any] = (),
                 scale: float | None = None) -> None:
    """Check that `actual` equals `expected` elementwise within |a - e| <= atol + rtol * |e|.

    Shapes must match exactly (checked before values). rtol/atol default to the precision
    of the values and of `inputs` (see `tolerances`, also for `scale`). `mistakes` maps a message to the value a classic
    mistake (or another convention) would give; when `actual` matches one, the failure
    says that message instead of listing numbers. Prints `✓ <name> matches ...` on success.
    """
    __tracebackhide__ = True
    actual_np, expected_np = _to_numpy(name, actual), _to_numpy("the expected value", expected)
    rtol, atol = tolerances(actual, expected, rtol, atol, inputs, scale)
    if mistakes:
        named = _named_mistake(actual_np, mistakes, rtol, atol)
        if named and (actual_np.shape != expected_np.shape or _mismatch(actual_np, expected_np, rtol, atol).any()):
            raise _fail(f"{name}: {named}", hint)
    if actual_np.shape != expected_np.shape:
        raise _fail(f"{name} has the wrong shape: expected {expected_np.shape}, got {actual_np.shape}.", hint)
    actual_f, expected_f = actual_np.astype(np.float64), expected_np.astype(np.float64)
    nonfinite = _nonfinite_report(name, actual_f, expected_f)
    if nonfinite:
        raise _fail(nonfinite, hint)
    mismatched = _mismatch(actual_f, expected_f, rtol, atol)
    with np.errstate(all="ignore"):  # inf - inf is nan here; those entries are replaced
        both_finite = np.isfinite(actual_f) & np.isfinite(expected_f)
        abs_err = np.where(both_finite, np.abs(actual_f - expected_f), np.where(mismatched, np.inf, 0.0))
        rel_err = np.where(both_finite, abs_err / np.maximum(np.abs(actual_f) + np.abs(expected_f), 1e-300),
                           abs_err)
    max_abs = float(abs_err.max(initial=0.0))
    if not mismatched.any():
        print(f"✓ {name} matches (max abs error {max_abs:.1e})")
        return
    worst = int(np.argmax(np.where(mismatched, abs_err, -1.0)))
    lines = [
        f"{name} does not match the expected values.",
        f"  shape:          {actual_np.shape} (as expected)",
        f"  mismatched:     {int(mismatched.sum())} of {actual_np.size} elements "
        f"(allowed: |got - expected| <= {atol:.3g} + {rtol:.3g} * |expected|)",
        f"  max abs error:  {max_abs:.3e} at index {_position(worst, actual_np.shape)}: "
        f"got {actual_f.flat[worst]:.6g}, expected {expected_f.flat[worst]:.6g}",
        f"  max rel error:  {float(rel_err.max(initial=0.0)):.3e} (|got - expected| / (|got| + |expected|))",
    ]
    if actual_np.size <= _SHOW_ALL_UP_TO:
        lines += [_show("  expected: ", expected_np), _show("  got:      ", actual_np)]
    raise _fail("\n".join(lines), hint)


def assert_shape(name: str, actual: Any, expected_shape: Sequence[int | None], hint: str | None = None) -> None:
    """Check `actual.shape == expected_shape`; a `None` entry matches any size."""
    __tracebackhide__ = True
    shape = tuple(actual.shape) if hasattr(actual, "shape") else _to_numpy(name, actual).shape
    expected = tuple(expected_shape)
    fits = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))
    if not fits:
        shown = str(tuple("any" if e is None else e for e in expected)).replace("'", "")
        raise _fail(f"{name} has the wrong shape: expected {shown}, got {shape}.", hint)
    print(f"✓ {name} has shape {shape}")


def _dtype_name(dtype: Any) -> str:
    if isinstance(dtype, torch.dtype):
        return str(dtype).removeprefix("torch.")
    return np.dtype(dtype).name


def assert_dtype(name: str, actual: Any, expected_dtype: Any, hint: str | None = None) -> None:
    """Check the dtype of `actual`; `expected_dtype` may be a numpy dtype, a string or a torch dtype."""
    __tracebackhide__ = True
    got = _dtype_name(actual.dtype if hasattr(actual, "dtype") else _to_numpy(name, actual).dtype)
    want = _dtype_name(expected_dtype)
    if got != want:
        raise _fail(f"{name} has dtype {got}, expected {want}.", hint)
    print(f"✓ {name} has dtype {got}")


def check(condition: Any, message: str, success: str | None = None) -> None:
    """Raise CheckFailed(message) when `condition` is false; print `✓ success` if given.

    Use it to name a classic mistake: `check(loss > 0, "the loss is 0: did you forget the margin?")`.
    """
    __tracebackhide__ = True
    if not bool(condition):
        raise CheckFailed(message)
    if success:
        print(f"✓ {success}")


def checks_passed(points: float, hidden: bool = True) -> None:
    """The last line of every grade cell's visible part: all its checks passed, and its points.

    `points` must equal the cell's points in its nbgrader metadata (`dlcourse check` compares);
    `hidden` says whether the autograder adds hidden checks to this cell.
    """
    worth = f"{points:g} point{'' if points == 1 else 's'}"
    more = "the autograder also runs hidden checks" if hidden else "these are all of its checks"
    print(f"✓ All visible checks passed ({worth}; {more}).")


def assert_gradient(name: str, f: Callable[[np.ndarray], Any], x: np.ndarray, analytic_grad: Any,
                    upstream: np.ndarray | None = None, h: float = 1e-5, rtol: float = 1e-5,
                    atol: float = 1e-7, hint: str | None = None) -> None:
    """Compare `analytic_grad` with a centered-difference gradient of `f` at `x` (float64).

    `f(x)` is a scalar, or an array when `upstream` (the gradient flowing into f's output,
    same shape as f(x)) is given. `x` is perturbed in place and restored. A sanity check:
    the numeric gradient of a student's own function is not an independent oracle.
    """
    __tracebackhide__ = True
    numeric = (eval_numerical_gradient(f, x, h=h) if upstream is None
               else eval_numerical_gradient_array(f, x, upstream, h=h))
    assert_close(name, analytic_grad, numeric, rtol=rtol, atol=atol, hint=hint)
