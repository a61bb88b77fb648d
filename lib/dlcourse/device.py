"""Devices, seeds and the grading switch.

`get_device()` picks the fastest device there is (cuda, then mps, then cpu); the
environment variable `DLCOURSE_DEVICE` overrides the choice. `is_grading()` tells a
notebook that nbgrader is running it, so long experiments can shrink.
"""

from __future__ import annotations

import os
import platform
import random
from typing import TypeVar

import numpy as np
import torch

VALID_DEVICES = ("cuda", "mps", "cpu")

T = TypeVar("T")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return _mps_available()
    return True


def get_device(prefer: str | None = None) -> torch.device:
    """The device to run torch work on.

    Order of choice: the environment variable `DLCOURSE_DEVICE` (one of cuda, mps, cpu;
    an index such as `cuda:1` is allowed), then `prefer` when that device is available,
    then cuda, then mps, then cpu.

    Raises ValueError for an unknown name and RuntimeError when `DLCOURSE_DEVICE` asks
    for a device that this machine does not have.
    """
    forced = os.environ.get("DLCOURSE_DEVICE", "").strip().lower()
    if forced:
        kind = _check_name(forced, "DLCOURSE_DEVICE")
        if not _available(kind):
            raise RuntimeError(
                f"DLCOURSE_DEVICE={forced!r} but no {kind} device is available here; "
                "unset DLCOURSE_DEVICE or set it to 'cpu'."
            )
        return torch.device(forced)
    if prefer is not None:
        kind = _check_name(prefer.strip().lower(), "prefer")
        if _available(kind):
            return torch.device(prefer.strip().lower())
    return torch.device(next(kind for kind in VALID_DEVICES if _available(kind)))


def _check_name(name: str, source: str) -> str:
    kind = name.split(":", 1)[0]
    if kind not in VALID_DEVICES:
        raise ValueError(
            f"{source}={name!r} is not a device; valid values are "
            f"{', '.join(VALID_DEVICES)} (optionally with an index, e.g. cuda:0)."
        )
    return kind


def seed_everything(seed: int = 0) -> None:
    """Seed python's `random`, numpy's global generator and torch (cpu and every cuda device)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every cuda device
    os.environ["PYTHONHASHSEED"] = str(seed)


class _Report(str):
    """A str that a notebook shows as its text (not as an escaped one-line repr)."""

    def __repr__(self) -> str:
        return str(self)


def describe_environment() -> str:
    """A few lines with python, torch and numpy versions, the device and its name, threads.

    Returned as a str that displays as plain lines when it is the last value of a cell.
    """
    device = get_device()
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    elif device.type == "mps":
        name = "Apple GPU (Metal)"
    else:
        name = platform.processor() or platform.machine()
    lines = [
        f"python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}",
        f"device: {device} ({name})",
        f"torch threads: {torch.get_num_threads()}, cpu cores: {os.cpu_count()}",
    ]
    return _Report("\n".join(lines))


def is_grading() -> bool:
    """True while nbgrader executes the notebook (it sets NBGRADER_EXECUTION)."""
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def scale_for_grading(full: T, reduced: T) -> T:
    """`reduced` while nbgrader runs the notebook, else `full` (e.g. epochs=scale_for_grading(20, 2)).

    The course's own tests also run the notebooks reduced (DLCOURSE_QUICK=1, set by `dlcourse
    test`): they check that every cell runs; `dlcourse bench` times the full size.
    """
    return reduced if is_grading() or os.environ.get("DLCOURSE_QUICK") else full
