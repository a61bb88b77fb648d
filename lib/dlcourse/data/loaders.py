"""Torch data loaders from arrays."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset

from dlcourse.device import get_device


def _as_tensor(values: Any) -> torch.Tensor:
    """numpy arrays and tensors to tensors; float64 becomes float32, the dtype torch models use."""
    tensor = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
    return tensor.float() if tensor.dtype == torch.float64 else tensor


def make_loader(
    X: Any,
    y: Any = None,
    batch_size: int = 64,
    shuffle: bool = True,
    seed: int = 0,
    num_workers: int = 0,
    device: torch.device | str | None = None,
    drop_last: bool = False,
) -> DataLoader:
    """A DataLoader over (X, y) pairs, or over X alone when y is None.

    X: (N, ...) array or tensor (float64 is cast to float32); y: (N,) labels or targets.
    shuffle: reshuffles every epoch with a generator seeded by `seed`, so runs repeat.
    num_workers: 0 (load in the main process) works everywhere, Windows included.
    Memory is pinned only when `device` (default: get_device()) is cuda.
    Yields batches [X_batch (B, ...), y_batch (B,)] or [X_batch].
    """
    tensors = [_as_tensor(X)] if y is None else [_as_tensor(X), _as_tensor(y)]
    if y is not None and len(tensors[0]) != len(tensors[1]):
        raise ValueError(f"X and y must have the same length, got {len(tensors[0])} and {len(tensors[1])}")
    device = torch.device(device) if device is not None else get_device()
    return DataLoader(
        TensorDataset(*tensors),
        batch_size=batch_size,
        shuffle=shuffle,
        generator=torch.Generator().manual_seed(seed) if shuffle else None,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        drop_last=drop_last,
    )
