"""One training loop for every torch model of the course: device-aware, with history and early stop."""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

import torch
from tqdm.auto import tqdm

from dlcourse.device import get_device, is_grading


@dataclass
class History:
    """Per-epoch numbers from `fit`. Accuracies are NaN when the task is not classification,
    validation numbers NaN when there is no validation loader; epoch_time in seconds."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    epoch_time: list[float] = field(default_factory=list)
    stopped_early: bool = False


def _correct(outputs: torch.Tensor, targets: torch.Tensor) -> float:
    """Number of right argmax predictions for logits (B, C) and class ids (B,); NaN otherwise."""
    if outputs.ndim == 2 and targets.ndim == 1 and not targets.is_floating_point():
        return float((outputs.argmax(dim=1) == targets).sum())
    return math.nan


def _autocast(device: torch.device, amp: bool) -> contextlib.AbstractContextManager:
    if amp and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _run_epoch(
    model: torch.nn.Module,
    loader: Iterable,
    loss_fn: Callable,
    device: torch.device,
    amp: bool,
    optimizer: torch.optim.Optimizer | None = None,
    scaler: torch.amp.GradScaler | None = None,
) -> tuple[float, float]:
    """Mean loss and accuracy over one pass of `loader`; trains when an optimizer is given."""
    total_loss, total_correct, count = 0.0, 0.0, 0
    for inputs, targets in loader:
        inputs = inputs.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        with _autocast(device, amp):
            outputs = model(inputs)
            loss = loss_fn(outputs, targets)
        if optimizer is not None:
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
        batch = len(targets)
        total_loss += float(loss.detach()) * batch
        total_correct += _correct(outputs.detach(), targets)
        count += batch
    if count == 0:
        raise ValueError("the data loader is empty")
    return total_loss / count, total_correct / count


def evaluate(
    model: torch.nn.Module,
    loader: Iterable,
    loss_fn: Callable,
    device: torch.device | str | None = None,
    amp: bool = False,
) -> tuple[float, float]:
    """Mean loss and accuracy (argmax of logits (B, C) vs class ids (B,); NaN otherwise) over `loader`.

    Runs in eval mode without gradients, then puts the model back in the mode it was in.
    """
    device = torch.device(device) if device is not None else get_device()
    was_training = model.training
    model.to(device).eval()
    try:
        with torch.no_grad():
            return _run_epoch(model, loader, loss_fn, device, amp)
    finally:
        model.train(was_training)


def fit(
    model: torch.nn.Module,
    train_loader: Iterable,
    val_loader: Iterable | None,
    loss_fn: Callable,
    optimizer: torch.optim.Optimizer,
    epochs: int,
    device: torch.device | str | None = None,
    scheduler: Any = None,
    progress: bool = True,
    amp: bool = False,
    early_stop_patience: int | None = None,
) -> History:
    """Train `model` for `epochs` passes over train_loader, evaluating on val_loader after each.

    Batches are (inputs (B, ...), targets (B,) or (B, ...)) and go to `device` (default
    get_device()). scheduler: stepped once per epoch (with the validation loss for
    ReduceLROnPlateau). amp: float16 mixed precision, used on cuda only.
    early_stop_patience: stop after this many epochs without a better validation loss
    (training loss when there is no val_loader).
    The progress bar is hidden when progress=False and while nbgrader grades.
    """
    device = torch.device(device) if device is not None else get_device()
    model.to(device)
    if amp and device.type != "cuda":
        print(f"note: mixed precision (amp) is used on cuda only; training in float32 on {device}.")
    scaler = torch.amp.GradScaler("cuda") if amp and device.type == "cuda" else None
    history, best, stale = History(), math.inf, 0
    bar = tqdm(range(epochs), desc="epochs", disable=not progress or is_grading())
    for _epoch in bar:
        start = time.perf_counter()
        model.train()
        train_loss, train_acc = _run_epoch(model, train_loader, loss_fn, device, amp, optimizer, scaler)
        val_loss, val_acc = math.nan, math.nan
        if val_loader is not None:
            val_loss, val_acc = evaluate(model, val_loader, loss_fn, device, amp)
        monitored = val_loss if val_loader is not None else train_loss
        if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            scheduler.step(monitored)
        elif scheduler is not None:
            scheduler.step()
        history.train_loss.append(train_loss)
        history.train_acc.append(train_acc)
        history.val_loss.append(val_loss)
        history.val_acc.append(val_acc)
        history.epoch_time.append(time.perf_counter() - start)
        bar.set_postfix(train_loss=f"{train_loss:.4f}", val_loss=f"{val_loss:.4f}", val_acc=f"{val_acc:.3f}")
        if early_stop_patience is not None:
            best, stale = (monitored, 0) if monitored < best else (best, stale + 1)
            if stale >= early_stop_patience:
                history.stopped_early = True
                break
    bar.close()
    return history
