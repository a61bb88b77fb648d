"""Measuring where time and memory go: timing a call, the bytes autograd keeps, compiling with a fallback.

- `time_call`: the median wall-clock time of a call, after a warm-up (GPU work waited for).
- `saved_activation_bytes`: the bytes of the tensors autograd saves for the backward pass (the
  activations a training step keeps), each storage once, parameters not counted.
- `compile_or_script`: torch.compile, or torch.jit.script with a message saying why when
  torch.compile cannot compile here (no C++ compiler, an unsupported platform, the grader).
"""

from __future__ import annotations

import statistics
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import torch

from dlcourse.device import is_grading


def _synchronize() -> None:
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_call(function: Callable, *args: Any, repeats: int = 5, warmup: int = 1) -> float:
    """Median seconds of `function(*args)` over `repeats` timed calls, after `warmup` untimed ones.

    The warm-up pays for one-off costs (allocations, caches, a compilation); the median ignores a
    call slowed down by another program. On a GPU the clock is read after its queued work is done.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    for _ in range(warmup):
        function(*args)
    seconds = []
    for _ in range(repeats):
        _synchronize()
        start = time.perf_counter()
        function(*args)
        _synchronize()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def _parameter_storages(values: Any) -> set[int]:
    """Storage addresses of the parameters of the modules among `values` (lists and tuples searched)."""
    found: set[int] = set()
    for value in values:
        if isinstance(value, torch.nn.Module):
            found |= {p.untyped_storage().data_ptr() for p in value.parameters()}
        elif isinstance(value, torch.Tensor) and value.is_leaf and value.requires_grad:
            found.add(value.untyped_storage().data_ptr())
        elif isinstance(value, (list, tuple)):
            found |= _parameter_storages(value)
    return found


def saved_activation_bytes(function: Callable, *args: Any) -> int:
    """Bytes of the tensors that autograd saves for the backward pass while `function(*args)` runs.

    These are the activations a training step keeps until its backward pass. Each storage is
    counted once (a view shares its base's memory); parameters are not counted (they are kept
    anyway): the parameters of modules among `args` (also inside lists), and tensors of `args`
    that require grad. Returns an int (bytes).
    """
    excluded = _parameter_storages(args)
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in excluded and tensor.device.type != "meta":
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        function(*args)
    return sum(saved.values())


@dataclass
class Compiled:
    """What `compile_or_script` made: the function to call, how ("torch.compile", "torch.jit.script"),
    the seconds its first call took (compilation included), and a message saying what happened."""

    function: Callable
    how: str
    first_call_seconds: float
    message: str


def _first_call(function: Callable, args: tuple) -> float:
    _synchronize()
    start = time.perf_counter()
    function(*args)
    _synchronize()
    return time.perf_counter() - start


def _script(function: Callable, args: tuple, why: str) -> Compiled:
    with warnings.catch_warnings():  # TorchScript is deprecated; it is only the fallback here
        warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=DeprecationWarning)
        scripted = torch.jit.script(function)
        seconds = _first_call(scripted, args)
    return Compiled(scripted, "torch.jit.script", seconds,
                    f"torch.compile is not used ({why}): falling back to torch.jit.script (TorchScript, "
                    "deprecated but still in PyTorch), which builds a static graph but fuses nothing on a CPU.")


def compile_or_script(function: Callable, *example_args: Any) -> Compiled:
    """`function` compiled by torch.compile, else by torch.jit.script, and called once on `example_args`.

    torch.compile compiles at the first call, so that call is timed (`first_call_seconds`). On a
    CPU its Inductor backend writes C++ and runs the system's C++ compiler: without one, on an
    unsupported platform, or while the autograder runs the notebook (it may not start processes),
    torch.jit.script is used instead, and the message says why. Inductor settings for a small
    machine: compile in this process (no pool of compile workers), and take the CPU's vector
    instructions from what it reports instead of compiling a test program for each (tens of
    seconds on a busy 2-core machine).
    """
    if is_grading():
        return _script(function, example_args, "skipped while the notebook is graded")
    try:
        with warnings.catch_warnings():  # parts of TorchScript that Inductor loads announce their deprecation
            warnings.filterwarnings("ignore", message=r".*torch\.jit\..*deprecated", category=DeprecationWarning)
            import torch._inductor.config as inductor_config

            inductor_config.compile_threads = 1
            if inductor_config.cpp.vec_isa_ok is None:
                inductor_config.cpp.vec_isa_ok = True
            compiled = torch.compile(function)
            seconds = _first_call(compiled, example_args)
    except Exception as error:  # noqa: BLE001 (any failure to compile means: use the fallback)
        if hasattr(torch, "_dynamo"):
            torch._dynamo.reset()   # forget the failed attempt
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        return _script(function, example_args, f"it failed here: {type(error).__name__}: {reason}")
    return Compiled(compiled, "torch.compile", seconds,
                    f"torch.compile (Inductor) compiled it; the first call took {seconds:.1f} s, compilation included.")
