"""Numeric gradients by centered differences, to check hand-written backward passes.

    df/dx_i ~= (f(x + h e_i) - f(x - h e_i)) / (2 h)

The error of this estimate is O(h^2), so with float64 inputs and h = 1e-5 a correct
analytic gradient typically agrees to a relative error below 1e-7. Use float64: in
float32 the rounding error of f swamps the difference. Every function here perturbs
`x` in place, one element at a time, and restores it (even when `f` raises).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch


def _centered_difference(
    f: Callable[[np.ndarray], Any], x: np.ndarray, index: tuple, h: float
) -> tuple[np.ndarray, np.ndarray]:
    """(f(x + h e_index), f(x - h e_index)) as float64 arrays; x[index] is restored."""
    original = x[index]
    try:
        x[index] = original + h
        plus = np.array(f(x), dtype=np.float64)  # copy: f may return a view of its own buffer
        x[index] = original - h
        minus = np.array(f(x), dtype=np.float64)
    finally:
        x[index] = original
    return plus, minus


def _check_float(x: np.ndarray) -> None:
    if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
        kind = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(f"x must be a float numpy array (float64 is best), got {kind}")


def eval_numerical_gradient(f: Callable[[np.ndarray], Any], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Numeric gradient of a scalar function.

    f: takes x (any shape) and returns a scalar.
    x: float array of any shape; perturbed in place and restored.
    Returns: array of the shape of x, d f / d x.
    """
    _check_float(x)
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        plus, minus = _centered_difference(f, x, index, h)
        grad[index] = (plus - minus).item() / (2 * h)
    return grad


def eval_numerical_gradient_array(
    f: Callable[[np.ndarray], Any], x: np.ndarray, df: np.ndarray, h: float = 1e-5
) -> np.ndarray:
    """Numeric gradient of sum(f(x) * df) for an array-valued f.

    f: takes x and returns an array of the shape of df.
    x: float array of any shape; perturbed in place and restored.
    df: upstream gradient d loss / d f(x).
    Returns: array of the shape of x, d loss / d x.
    """
    _check_float(x)
    df = np.asarray(df, dtype=np.float64)
    grad = np.zeros(x.shape, dtype=np.float64)
    for index in np.ndindex(x.shape):
        plus, minus = _centered_difference(f, x, index, h)
        grad[index] = np.sum((plus - minus) * df) / (2 * h)
    return grad


def rel_error(x: Any, y: Any) -> float:
    """Largest elementwise relative error max |x - y| / max(1e-8, |x| + |y|) of same-shape arrays."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"rel_error needs arrays of the same shape, got {x.shape} and {y.shape}")
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y)), initial=0.0))


def grad_check_sparse(
    f: Callable[[np.ndarray], Any],
    x: np.ndarray,
    analytic_grad: np.ndarray,
    num_checks: int = 10,
    h: float = 1e-5,
    seed: int = 0,
) -> list[float]:
    """Compare `analytic_grad` with the numeric gradient at `num_checks` random coordinates.

    f: scalar function of x. x: float array (perturbed and restored).
    analytic_grad: array of the shape of x. Prints one line per coordinate and returns the
    relative errors, in the order checked.
    """
    _check_float(x)
    analytic_grad = np.asarray(analytic_grad, dtype=np.float64)
    if analytic_grad.shape != x.shape:
        raise ValueError(f"analytic_grad has shape {analytic_grad.shape}, x has shape {x.shape}")
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(num_checks):
        index = tuple(int(rng.integers(n)) for n in x.shape)
        plus, minus = _centered_difference(f, x, index, h)
        numeric = (plus - minus).item() / (2 * h)
        analytic = float(analytic_grad[index])
        error = rel_error(numeric, analytic)
        print(f"numerical: {numeric: .6e}  analytic: {analytic: .6e}  relative error: {error:.2e}")
        errors.append(error)
    return errors


def torch_gradient(f: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, upstream: Any = None) -> np.ndarray:
    """Gradient of a torch function at x by autograd: an independent oracle for grade cells.

    f: takes a float64 tensor of x's shape, returns a scalar tensor (or any shape when
    `upstream`, d loss / d f(x), is given).
    Returns: float64 array of the shape of x.
    """
    x_t = torch.tensor(np.asarray(x, dtype=np.float64), requires_grad=True)
    out = f(x_t)
    grad_out = None if upstream is None else torch.as_tensor(np.asarray(upstream, dtype=np.float64))
    (grad,) = torch.autograd.grad(out, x_t, grad_outputs=grad_out)
    return grad.numpy()
