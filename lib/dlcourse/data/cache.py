"""What every dataset loader shares: the `Splits` container, the cache folder, atomic writes."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class DatasetUnavailable(RuntimeError):
    """A dataset is not on disk (or is damaged); the message says how to get it and what to use instead."""


@dataclass(frozen=True, repr=False)
class Splits:
    """A dataset split three ways. X arrays are float32 (N, ...), y arrays int64 (N,)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_val: np.ndarray
    y_val: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return (
            f"Splits(train {self.X_train.shape}, val {self.X_val.shape}, "
            f"test {self.X_test.shape}, {len(self.class_names)} classes)"
        )


def cache_dir() -> Path:
    """The folder for downloaded and generated data: $DLCOURSE_DATA, else the user's cache folder.

    Linux: $XDG_CACHE_HOME/dlcourse or ~/.cache/dlcourse; macOS: ~/Library/Caches/dlcourse;
    Windows: %LOCALAPPDATA%\\dlcourse\\Cache. Created when missing.
    """
    if os.environ.get("DLCOURSE_DATA"):
        folder = Path(os.environ["DLCOURSE_DATA"]).expanduser()
    elif sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(Path.home() / "AppData" / "Local")
        folder = Path(base) / "dlcourse" / "Cache"
    elif sys.platform == "darwin":
        folder = Path.home() / "Library" / "Caches" / "dlcourse"
    else:
        folder = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dlcourse"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write arrays to `path` (.npz) through a temp file in the same folder, then os.replace."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
