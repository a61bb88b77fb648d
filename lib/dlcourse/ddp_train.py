"""The training script of notebook 13's data-parallel experiment: torchrun runs it in every process.

Every process (rank r of W) builds the same MLP from the same weights, takes its shard of each
batch (the r-th of W equal contiguous chunks, `x_batch.chunk(W)[r]`) and trains it with SGD twice:
1. "by_hand": after each backward pass, every gradient is all-reduced (summed over the processes)
   and divided by W, so that each process steps with the gradient of the whole batch;
2. "ddp": the model wrapped in DistributedDataParallel, which does the same averaging, in buckets
   of gradients while the backward pass is still running.
Backend: nccl with one GPU per process when there are that many GPUs, else gloo on the CPU.

inputs: {"sizes": [D_0, ..., D_L], "state_dict": the MLP's initial weights, "x": (S, B, D_0) float32
         (S batches of B examples, B divisible by W), "y": (S, B) int64, "lr": float}
Returns, per rank: {"backend", "device", "by_hand": {...}, "ddp": {...}} where each mode holds
"params" (the parameters after training, CPU tensors, model.parameters() order), "losses" (this
rank's shard loss at each step) and "seconds_per_step".
"""

from __future__ import annotations

import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from dlcourse.distributed import run_worker


def build_mlp(sizes: list[int]) -> nn.Sequential:
    """Linear(sizes[0], sizes[1]), ReLU, Linear(sizes[1], sizes[2]), ..., with no ReLU after the last layer."""
    layers: list[nn.Module] = []
    for index, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.ReLU()] if index else []
        layers.append(nn.Linear(d_in, d_out))
    return nn.Sequential(*layers)


def average_gradients(model: nn.Module, world_size: int) -> None:
    """The all-reduce by hand: afterwards every process holds the mean of all processes' gradients."""
    for parameter in model.parameters():
        dist.all_reduce(parameter.grad, op=dist.ReduceOp.SUM)
        parameter.grad /= world_size


def train(model: nn.Module, step_model: nn.Module, x: torch.Tensor, y: torch.Tensor, lr: float, rank: int,
          world_size: int, by_hand: bool) -> tuple[list[float], float]:
    """SGD on this rank's shard of every batch; step_model is model itself or its DDP wrapper.

    Returns (the shard's loss at each step, seconds per step after the first, which sets up buffers and connections).
    """
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    losses = []
    for step, (x_batch, y_batch) in enumerate(zip(x, y)):
        if step == min(1, len(x) - 1):
            dist.barrier()
            start = time.perf_counter()
        x_shard, y_shard = x_batch.chunk(world_size)[rank], y_batch.chunk(world_size)[rank]
        optimizer.zero_grad()
        loss = F.cross_entropy(step_model(x_shard), y_shard)
        loss.backward()                       # DDP averages the gradients here, while backward runs
        if by_hand:
            average_gradients(model, world_size)
        optimizer.step()
        losses.append(loss.item())
    dist.barrier()
    return losses, (time.perf_counter() - start) / max(1, len(x) - 1)


def main(inputs: dict, rank: int, world_size: int) -> dict:
    cuda = torch.cuda.is_available() and torch.cuda.device_count() >= world_size
    device = torch.device("cuda", rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if cuda else "gloo")   # rank, world size and address from torchrun
    try:
        x, y = inputs["x"].to(device), inputs["y"].to(device)
        results: dict = {"backend": dist.get_backend(), "device": str(device)}
        for mode in ("by_hand", "ddp"):
            model = build_mlp(inputs["sizes"]).to(device)
            model.load_state_dict(inputs["state_dict"])
            step_model = model if mode == "by_hand" else DistributedDataParallel(
                model, device_ids=[rank] if cuda else None)
            losses, seconds = train(model, step_model, x, y, inputs["lr"], rank, world_size, mode == "by_hand")
            results[mode] = {"params": [p.detach().cpu() for p in model.parameters()], "losses": losses,
                             "seconds_per_step": seconds}
        return results
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    run_worker(main)
