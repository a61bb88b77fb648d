"""Checks of how a function behaves, not only what it returns.

- Loops: the Python lines a call executes are counted (helpers, callbacks handed to
  np.vectorize or map, and comprehensions included) at two problem sizes; vectorized code
  runs the same number of lines whatever the size.
- Hand-written: whether a call went into torch (or another library that would do the work).
- Side effects: whether a call changed its inputs in place, or returned a view of one.
- Devices: a probe model that records where it ran, on torch's `meta` device, so that
  forgetting `.to(device)` is caught on a machine without a GPU.
- Distributions: a Kolmogorov-Smirnov distance, so that a uniform draw with the right
  variance does not pass for a normal one.

Each measurement (`count_lines`, `library_calls`, `shared_inputs`) returns plain data, and each `assert_*`
turns it into a ✓ line or a CheckFailed that names the mistake.
"""

from __future__ import annotations

import copy
import linecache
import os
import sys
import sysconfig
from collections import Counter
from functools import lru_cache
from typing import Any, Callable, Sequence

import numpy as np
import torch

import dlcourse
from dlcourse.testing.checks import CheckFailed, _fail

Line = tuple[str, int, str]  # (file name, line number, function name)

# Set by the autograder's grading process, where the student's code runs in another process:
# (kind, function, args, kwargs[, options]) -> (result, measured data), measured where the code runs.
measure_elsewhere: Callable[..., tuple[Any, Any]] | None = None


@lru_cache(maxsize=None)
def _library_prefixes() -> tuple[str, ...]:
    paths = {sysconfig.get_paths()[key] for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.add(os.path.dirname(dlcourse.__file__))
    return tuple(os.path.realpath(path) + os.sep for path in paths)


@lru_cache(maxsize=4096)
def is_user_code(filename: str) -> bool:
    """True for code a person wrote in a notebook or script; False for Python's and installed packages'."""
    if filename.startswith("<frozen"):
        return False
    if filename.startswith("<"):  # "<cell ...>", "<ipython-input-...>", "<string>"
        return True
    return not os.path.realpath(filename).startswith(_library_prefixes())


def count_lines(function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, Counter]:
    """Call `function(*args, **kwargs)` and count every line of user code it executes.

    Returns (the result, Counter of (file, line, function name) -> times executed). Library
    code is not counted; user code it calls back (a function handed to np.vectorize) is.
    """
    if measure_elsewhere is not None:
        result, data = measure_elsewhere("count_lines", function, args, kwargs)
        return result, Counter(data)
    counts: Counter = Counter()

    def trace_lines(frame, event, _arg):
        if event == "line":
            counts[(frame.f_code.co_filename, frame.f_lineno, frame.f_code.co_name)] += 1
        return trace_lines

    def trace_calls(frame, _event, _arg):
        return trace_lines if is_user_code(frame.f_code.co_filename) else None

    previous = sys.gettrace()
    sys.settrace(trace_calls)
    try:
        result = function(*args, **kwargs)
    finally:
        sys.settrace(previous)
    return result, counts


def _describe(line: Line, small: int, large: int, sizes: tuple[int, int]) -> str:
    filename, lineno, function_name = line
    text = linecache.getline(filename, lineno).strip()
    shown = f" (`{text}`)" if text else ""
    return (f"line {lineno} of {function_name}{shown} ran {small} times for size {sizes[0]} "
            f"and {large} times for size {sizes[1]}")


def _grown_lines(small: Counter, large: Counter, function: Callable) -> list[Line]:
    """Lines that ran more often on the larger problem: the function's own first, then those
    of comprehensions, then the least grown (an outer loop grows less than what it repeats)."""
    own = getattr(function, "__name__", None)
    grown = [line for line in large if large[line] > small.get(line, 0)]
    return sorted(grown, key=lambda line: (line[2] != own, not line[2].endswith("comp>"),
                                           large[line] - small.get(line, 0), line[1]))


def _run_sizes(function: Callable, make_args: Callable[[int], Sequence], sizes: tuple[int, int]):
    """Line counts at each size, after one warm-up call (imports and caches happen there)."""
    measured = []
    for size in (sizes[0], *sizes):
        args = make_args(size)
        _, counts = count_lines(function, *(args if isinstance(args, (tuple, list)) else (args,)))
        measured.append(counts)
    return measured[1:]


def assert_no_loops(name: str, function: Callable, make_args: Callable[[int], Sequence],
                    sizes: tuple[int, int] = (8, 32), hint: str | None = None) -> None:
    """Check that `function` runs no Python loop over the data.

    make_args(n) returns the positional arguments of a problem of size n (every dimension
    that a loop could run over should grow with n). The user-code lines executed are counted
    at both sizes: vectorized code runs the same lines whatever n; a loop (in the function,
    in a helper, in a comprehension, or a per-element callback) runs more.
    """
    __tracebackhide__ = True
    small, large = _run_sizes(function, make_args, sizes)
    grown = _grown_lines(small, large, function)
    if sum(large.values()) > sum(small.values()) + 2 and grown:
        raise _fail(f"{name} must not loop in Python over the data, but "
                    f"{_describe(grown[0], small[grown[0]], large[grown[0]], sizes)}.", hint)
    print(f"✓ {name} runs no Python loop over the data")


def assert_at_most_one_loop(name: str, function: Callable, make_args: Callable[[int], Sequence],
                            sizes: tuple[int, int] = (8, 32), hint: str | None = None) -> None:
    """Check that the Python work of `function` grows at most linearly with the problem size.

    make_args(n) as in `assert_no_loops`, with every size that a loop could run over growing
    with n: one loop then runs about n times, two nested loops about n^2 times.
    """
    __tracebackhide__ = True
    small, large = _run_sizes(function, make_args, sizes)
    ratio = sizes[1] / sizes[0]
    if sum(large.values()) > 1.5 * ratio * sum(small.values()) + 4:
        grown = _grown_lines(small, large, function)
        raise _fail(f"{name} may loop over one dimension only, but its Python work grows faster than "
                    f"the data: {_describe(grown[0], small[grown[0]], large[grown[0]], sizes)} "
                    "(two nested loops?).", hint)
    print(f"✓ {name} loops over one dimension at most")


def _package_dirs(packages: Sequence[str]) -> tuple[str, ...]:
    import importlib.util

    dirs = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        dirs += [os.path.realpath(d) + os.sep for d in (spec.submodule_search_locations or [])] if spec else []
    return tuple(dirs)


def library_calls(packages: Sequence[str], function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """Call `function(*args, **kwargs)`; also return what it called in `packages` (e.g. ("torch",)).

    Only the calls made from outside those packages are listed (not their own internals).
    """
    if measure_elsewhere is not None:
        return measure_elsewhere("library_calls", function, args, kwargs, {"packages": tuple(packages)})
    prefixes = _package_dirs(packages)
    used: list[str] = []

    def inside(frame) -> bool:
        return frame is not None and os.path.realpath(frame.f_code.co_filename).startswith(prefixes)

    def named(module: str) -> str | None:
        return next((p for p in packages if module == p or module.startswith(p + ".")), None)

    def profile(frame, event, arg):
        if event == "c_call" and not inside(frame):
            owner = getattr(arg, "__objclass__", None)
            package = named(getattr(arg, "__module__", None) or getattr(owner, "__module__", None) or "")
            if package:
                used.append(f"{'Tensor' if owner is not None and package == 'torch' else package}."
                            f"{getattr(arg, '__name__', '?')}")
        elif event == "call" and inside(frame) and not inside(frame.f_back):
            module = frame.f_globals.get("__name__", "")
            used.append(f"{module}.{frame.f_code.co_name}")

    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        result = function(*args, **kwargs)
    finally:
        sys.setprofile(previous)
    return result, list(dict.fromkeys(used))


def torch_calls(function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, list[str]]:
    """`library_calls(("torch",), ...)`: the torch functions a call used."""
    return library_calls(("torch",), function, *args, **kwargs)


def assert_hand_written(name: str, function: Callable, *args: Any,
                        forbidden: Sequence[str] = ("torch",), **kwargs: Any) -> Any:
    """Call `function`; fail when it used a library (torch by default) where the exercise asks for NumPy by hand.

    forbidden: packages that would do the exercise's work, e.g. ("torch", "sklearn", "scipy.spatial").
    Returns the function's result, so the cell can check its value next.
    """
    __tracebackhide__ = True
    result, used = library_calls(forbidden, function, *args, **kwargs)
    if used:
        raise CheckFailed(f"{name} must be written by hand with NumPy, but it calls {', '.join(used[:3])}: "
                          f"{' and '.join(forbidden)} are the oracle here, not the answer.")
    print(f"✓ {name} is written with NumPy (no {', '.join(forbidden)})")
    return result


def _same(before: Any, after: Any) -> bool:
    if isinstance(before, np.ndarray):
        return isinstance(after, np.ndarray) and before.shape == after.shape and np.array_equal(
            before, after, equal_nan=before.dtype.kind in "fc")
    if isinstance(before, torch.Tensor):
        return isinstance(after, torch.Tensor) and _same(before.detach().cpu().double().numpy(),
                                                         after.detach().cpu().double().numpy())
    if isinstance(before, dict):
        return isinstance(after, dict) and before.keys() == after.keys() and all(
            _same(before[k], after[k]) for k in before)
    if isinstance(before, (list, tuple)):
        return type(before) is type(after) and len(before) == len(after) and all(
            _same(b, a) for b, a in zip(before, after))
    try:
        return bool(before == after)
    except Exception:  # objects without a meaningful ==: only their identity can be compared
        return True


def assert_inputs_unchanged(name: str, function: Callable, *args: Any,
                            may_change: Sequence[int | str] = (), **kwargs: Any) -> Any:
    """Call `function(*args, **kwargs)` and fail if it changed an input in place.

    may_change: positions (ints) or keyword names of arguments the docstring lets it change
    (a config dict that stores state, say). Returns the function's result.
    """
    __tracebackhide__ = True
    copies = copy.deepcopy((args, kwargs))
    result = function(*args, **kwargs)
    changed = [f"argument {i + 1}" for i, (before, after) in enumerate(zip(copies[0], args))
               if i not in may_change and not _same(before, after)]
    changed += [f"argument {key!r}" for key, before in copies[1].items()
                if key not in may_change and not _same(before, kwargs[key])]
    if changed:
        raise CheckFailed(f"{name} changed its {', '.join(changed)} in place: the caller's data is now "
                          "different. Work on a copy (x = x.copy(), or out = x + ... instead of x += ...).")
    return result


def student_side(function: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call `function(*args, **kwargs)` where the student's code runs, and return its result.

    In a notebook that is here. While grading, a function of the course's locked cells runs
    in the student's process, beside the objects it works on (a custom autograd Function's
    backward pass, say), and only its result comes back.
    """
    if measure_elsewhere is not None:
        return measure_elsewhere("call", function, args, kwargs)[0]
    return function(*args, **kwargs)


def _arrays(value: Any) -> list:
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return [value]
    if isinstance(value, (tuple, list)):
        return [array for item in value for array in _arrays(item)]
    return []


def _shares(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.shares_memory(a, b))
    if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor) and a.device.type != "meta":
        return a.untyped_storage().data_ptr() == b.untyped_storage().data_ptr()
    return False


def shared_inputs(function: Callable, *args: Any, **kwargs: Any) -> tuple[Any, list[int]]:
    """Call `function`; also return the positions of the arguments that its result shares memory with.

    Measured where the function runs: a copy of the result would share nothing.
    """
    if measure_elsewhere is not None:
        return measure_elsewhere("shared_inputs", function, args, kwargs)
    result = function(*args, **kwargs)
    outputs = _arrays(result)
    return result, [index for index, value in enumerate(args) if any(_shares(out, value) for out in outputs)]


def assert_not_a_view(name: str, function: Callable, *args: Any, **kwargs: Any) -> Any:
    """Call `function(*args, **kwargs)`; fail if its result is a view of (shares memory with) an argument.

    Returns the function's result, so the cell can check its value next.
    """
    __tracebackhide__ = True
    result, shared = shared_inputs(function, *args, **kwargs)
    if shared:
        raise CheckFailed(f"{name} returns a view of its argument {shared[0] + 1}: a change to one changes the "
                          "other. Return a new array (.copy(), or an operation that makes one).")
    return result


class DeviceProbe(torch.nn.Module):
    """A linear model (in_features -> out_features) that records where each forward pass ran.

    Give it, with the device `meta`, to a function that should move a model and its data to a
    device: `calls` then holds one (input device, parameter device, grad enabled) triple per forward pass.
    On `meta` it returns zeros on the CPU, so that the function can copy its result out.
    """

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(in_features, out_features)
        self.calls: list[tuple[str, str, bool]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append((x.device.type, self.linear.weight.device.type, torch.is_grad_enabled()))
        if "meta" in self.calls[-1][:2]:
            return torch.zeros(x.shape[0], self.linear.out_features, dtype=x.dtype)
        return self.linear(x)


def assert_moves_to_device(name: str, run: Callable[[torch.nn.Module, torch.device], Any],
                           in_features: int, out_features: int, without_grad: bool = False) -> None:
    """Check that `run(model, device)` moves the model and its inputs to `device` before using them.

    run: calls the function under test with a DeviceProbe model and the device `meta` (a device
    that has shapes but no data, present on every machine). without_grad: the forward pass
    must also run under torch.no_grad() (inference).
    """
    __tracebackhide__ = True
    probe = DeviceProbe(in_features, out_features)
    run(probe, torch.device("meta"))
    if not probe.calls:
        raise CheckFailed(f"{name} never called the model.")
    inputs, params, grads = zip(*probe.calls)
    if any(device != "meta" for device in params):
        raise CheckFailed(f"{name} ran the model with its parameters on {params[0]}, not on the device it "
                          "was given: call model.to(device) first (a machine without a GPU hides this).")
    if any(device != "meta" for device in inputs):
        raise CheckFailed(f"{name} gave the model inputs on {inputs[0]}, not on the device it was given: "
                          "create them with device=device, or move them with .to(device).")
    if without_grad and any(grads):
        raise CheckFailed(f"{name} ran the model with gradients recorded: wrap the forward pass in "
                          "`with torch.no_grad():` (inference needs no graph, and the graph costs memory).")
    print(f"✓ {name} moves the model and its inputs to the device")


def assert_distribution(name: str, samples: Any, kind: str, mean: float = 0.0, std: float = 1.0,
                        hint: str | None = None) -> None:
    """Check that `samples` look drawn from a normal or uniform law with this mean and std.

    kind: "normal" or "uniform" (a uniform with this mean and std spans mean +- sqrt(3) std).
    The Kolmogorov-Smirnov distance must stay below its 0.1% critical value, so a law with
    the right mean and variance but the wrong shape fails on a few thousand samples.
    """
    __tracebackhide__ = True
    from scipy import stats

    values = np.asarray(samples.detach().cpu() if isinstance(samples, torch.Tensor) else samples,
                        dtype=np.float64).ravel()
    law = stats.norm(mean, std) if kind == "normal" else stats.uniform(mean - 3 ** 0.5 * std, 2 * 3 ** 0.5 * std)
    distance = stats.kstest(values, law.cdf).statistic
    critical = 1.95 / np.sqrt(values.size)
    if distance > critical:
        other = {"normal": "uniform", "uniform": "normal"}[kind]
        shape = f"N({mean:g}, {std:.3g}^2)" if kind == "normal" else f"a uniform with mean {mean:g}, std {std:.3g}"
        raise _fail(f"{name} does not look like {shape}: its Kolmogorov-Smirnov distance is {distance:.3f}, "
                    f"more than {critical:.3f} for {values.size} samples (a {other} draw, or the wrong "
                    f"scale? sample mean {values.mean():.3g}, std {values.std():.3g}).", hint)
    print(f"✓ {name} looks like {kind} samples with mean {mean:g} and std {std:.3g}")
