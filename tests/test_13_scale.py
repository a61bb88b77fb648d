"""Notebook 13_scale: the solution passes every grade cell; classic mistakes fail with a named message.

Each wrong version below is written the way a student writes it, with one classic mistake; the
visible part of its grade cell (what the student runs) must fail with a message that names it. Valid alternatives
(another loop, another formula, another way to keep the state) must pass. A mistake in an earlier
function must not cost a later cell.
Conventions: one FLOP = one multiply-add; memory in bytes; Adam keeps two buffers per parameter and
SGD with momentum one; torch.amp.GradScaler's rules for the loss scaler; micro-batches from
tensor_split weighted by n_k / N; shards from chunk, gradients averaged (not summed) by the
all-reduce; torch.nn.Linear's layout (weight (M, D)) and torch's ReLU gradient at 0 (none).
"""

from __future__ import annotations

import copy
import functools
import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gradecells import graded_ids, run_grade_cell, solution_notebook
from torch.utils.checkpoint import checkpoint
from visible_checks import visible_part_fails

NOTEBOOK = "13_scale"
GRADE_IDS = ["check_training_memory", "check_training_flops", "check_loss_scaler", "check_accumulation",
             "check_checkpointing", "check_all_reduce", "check_data_parallel_step", "check_custom_function"]


def run(grade_id, **overrides):
    return run_grade_cell(NOTEBOOK, grade_id, **overrides)


def fails(grade_id, match, **overrides):
    """The mistake fails a VISIBLE check of the cell, with a message matching `match`."""
    visible_part_fails(NOTEBOOK, grade_id, match, **overrides)


# ------------------------------------------------------------------------ the notebook itself
@pytest.mark.parametrize("grade_id", GRADE_IDS)
def test_solution_passes_its_grade_cell(grade_id):
    run(grade_id)


def test_every_grade_cell_is_tested_here():
    """Every autograded cell has its tests in this file (`dlcourse check` checks each cell's form)."""
    assert sorted(graded_ids(NOTEBOOK)) == sorted(GRADE_IDS)


def test_the_torchrun_cell_is_skipped_while_grading():
    cells = json.loads(solution_notebook(NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    launching = [c for c in cells if c["cell_type"] == "code" and "run_torchrun(" in "".join(c["source"])]
    assert len(launching) == 1
    source = "".join(launching[0]["source"])
    assert "if is_grading():" in source and source.index("if is_grading():") < source.index("run_torchrun(")
    assert not launching[0]["metadata"].get("nbgrader", {}).get("grade")


# ------------------------------------------------------------------------ 1. memory and FLOPs
BUFFERS = {"sgd": 0, "momentum": 1, "adam": 2}


def memory(num_params, shapes, batch_size, optimizer="adam", bytes_per_element=4, buffers=None, batch=True,
           gradients=True, unit=1, total_parts=("parameters", "gradients", "optimizer", "activations")):
    """A student's training_memory, with switchable mistakes."""
    k = (buffers or BUFFERS)[optimizer]
    result = {"parameters": num_params * bytes_per_element * unit,
              "gradients": num_params * bytes_per_element * unit * gradients,
              "optimizer": k * num_params * bytes_per_element * unit,
              "activations": (batch_size if batch else 1) * sum(math.prod(s) for s in shapes) * bytes_per_element * unit}
    result["total"] = sum(result[part] for part in total_parts)
    return result


@pytest.mark.parametrize("mistake, match", [
    (dict(batch=False), "without the batch size"),
    (dict(buffers={"sgd": 0, "momentum": 1, "adam": 1}), "TWO buffers per parameter"),
    (dict(buffers={"sgd": 0, "momentum": 0, "adam": 2}), r"one buffer per parameter \(the velocity\)"),
    (dict(buffers={"sgd": 0, "momentum": 2, "adam": 2}), r"ONE buffer \(the velocity\), not two"),
    (dict(buffers={"sgd": 1, "momentum": 1, "adam": 2}), "plain SGD keeps no state"),
    (dict(gradients=False), "gradients are missing"),
    (dict(unit=8), "in bits"),
    (dict(unit=1 / 1024), "in kilobytes"),
    (dict(total_parts=("parameters", "optimizer", "activations")), "total leaves out the gradients"),
])
def test_training_memory_mistake_is_named(mistake, match):
    fails("check_training_memory", match, training_memory=functools.partial(memory, **mistake))


def test_training_memory_counting_numbers_not_bytes_is_named():
    fails("check_training_memory", "counts numbers, not bytes",
          training_memory=lambda n, shapes, b, opt="adam", size=4: memory(n, shapes, b, opt, 1))


def test_training_memory_with_other_keys_is_named():
    fails("check_training_memory", "dict with the keys",
          training_memory=lambda *args: {k.upper(): v for k, v in memory(*args).items()})


def test_training_memory_written_another_way_passes():
    def with_numpy(num_params, activation_shapes, batch_size, optimizer="adam", bytes_per_element=4):
        copies = np.array([1, 1, {"sgd": 0, "momentum": 1, "adam": 2}[optimizer]]) * num_params * bytes_per_element
        acts = np.int64(batch_size) * sum(int(np.prod(s)) for s in activation_shapes) * bytes_per_element
        out = dict(zip(["parameters", "gradients", "optimizer"], copies.tolist()), activations=acts)
        return {**out, "total": float(sum(out.values()))}                    # numpy ints and a float total
    run("check_training_memory", training_memory=with_numpy)


def flops(layer_sizes, batch_size, per_mac=1, backward_factor=2, first_layer=True, batch=True):
    """A student's mlp_training_flops, with switchable mistakes."""
    forward = [(batch_size if batch else 1) * a * b * per_mac for a, b in zip(layer_sizes[:-1], layer_sizes[1:])]
    backward = [f * (1 if (i == 0 and first_layer) else backward_factor) for i, f in enumerate(forward)]
    return forward, backward


@pytest.mark.parametrize("mistake, match", [
    (dict(per_mac=2), "multiply and the add separately"),
    (dict(backward_factor=1, first_layer=False), "TWO products"),
    (dict(first_layer=False), "first layer computes no dL/dx"),
    (dict(batch=False), "batch size is missing"),
])
def test_training_flops_mistake_is_named(mistake, match):
    fails("check_training_flops", match, mlp_training_flops=functools.partial(flops, **mistake))


def test_training_flops_with_a_loop_passes():
    def loop(layer_sizes, batch_size):
        forward, backward = [], []
        for index in range(1, len(layer_sizes)):
            macs = np.int64(batch_size * layer_sizes[index - 1]) * layer_sizes[index]
            forward.append(macs)
            backward.append(macs + (macs if index > 1 else 0))     # dL/dW always, dL/dx except for the first
        return tuple(forward), tuple(backward)
    run("check_training_flops", mlp_training_flops=loop)


# ------------------------------------------------------------------------ 3. the loss scaler
class Scaler:
    """A loss scaler written another way (multiply by 1/S, a state dict as GradScaler keeps), with mistakes."""

    MISTAKES: dict = {}

    def __init__(self, init_scale=2.0 ** 16, growth_factor=2.0, backoff_factor=0.5, growth_interval=2000):
        m = self.MISTAKES
        self.state = {"scale": torch.tensor(float(init_scale)), "tracker": 0, "unscaled": False, "inf": False}
        self.growth = m.get("growth", growth_factor)
        self.backoff = m.get("backoff", backoff_factor)
        self.interval = growth_interval

    def get_scale(self):
        return self.state["scale"].item()

    def scale(self, loss):
        return loss if self.MISTAKES.get("no_scale") else loss * self.state["scale"]

    def unscale_(self, optimizer):
        if self.MISTAKES.get("no_unscale"):
            self.state["unscaled"] = True
            return
        inverse = 1.0 / self.state["scale"]
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        for grad in grads:
            grad.mul_(inverse)
        check = torch.isinf if self.MISTAKES.get("isinf_only") else (lambda g: ~torch.isfinite(g))
        self.state["inf"] = any(bool(check(g).any()) for g in grads)
        if self.MISTAKES.get("zero_bad"):
            for grad in grads:
                torch.nan_to_num_(grad, nan=0.0, posinf=0.0, neginf=0.0)
            self.state["inf"] = False
        self.state["unscaled"] = True

    def step(self, optimizer):
        if not self.state["unscaled"] or self.MISTAKES.get("double_unscale"):
            self.unscale_(optimizer)
        if not self.state["inf"] or self.MISTAKES.get("step_on_inf"):
            optimizer.step()

    def update(self):
        m, found = self.MISTAKES, self.state["inf"]
        if self.MISTAKES.get("zero_bad"):
            found = False
        if found:
            if not m.get("never_reduce"):
                self.state["scale"] = self.state["scale"] * self.backoff
            if not m.get("keep_count"):
                self.state["tracker"] = 0
        else:
            self.state["tracker"] += 1
            if (m.get("grow_every_step") or self.state["tracker"] >= self.interval) and not m.get("never_grow"):
                self.state["scale"] = self.state["scale"] * self.growth
                self.state["tracker"] = 0
        self.state["unscaled"] = self.state["inf"] = False


def scaler_with(**mistakes):
    return type("WrongScaler", (Scaler,), {"MISTAKES": mistakes})


@pytest.mark.parametrize("mistake, match", [
    (dict(never_reduce=True), "not reduced after the overflow"),
    (dict(step_on_inf=True), "stepped on an inf gradient"),
    (dict(isinf_only=True), "torch.isinf misses NaN"),
    (dict(grow_every_step=True), "grew before growth_interval"),
    (dict(keep_count=True), "not restarted after an overflow"),
    (dict(never_grow=True), "did not grow after growth_interval"),
    (dict(double_unscale=True), "unscaled the gradients again"),
    (dict(no_unscale=True), "stepped with the SCALED gradients"),
    (dict(no_scale=True), "returned the loss itself"),
    (dict(growth=2.0), "growth_factor is ignored"),
    (dict(backoff=0.5), "backoff_factor is ignored"),
    (dict(zero_bad=True), "changed the parameters"),
])
def test_loss_scaler_mistake_is_named(mistake, match):
    fails("check_loss_scaler", match, DynamicLossScaler=scaler_with(**mistake))


def test_loss_scaler_written_another_way_passes():
    run("check_loss_scaler", DynamicLossScaler=Scaler)


# ------------------------------------------------------------------------ 4. accumulation and checkpointing
def accumulate(model, x, y, K, weight="share", zero_first=True, zero_inside=False, whole=False):
    """A student's accumulated_gradients, with switchable mistakes."""
    if zero_first:
        model.zero_grad()
    parts = [(x, y)] * K if whole else list(zip(x.tensor_split(K), y.tensor_split(K)))
    for xs, ys in parts:
        if zero_inside:
            model.zero_grad()
        scale = {"share": len(xs) / len(x), "one": 1.0, "k": 1.0 / K}[weight]
        (F.cross_entropy(model(xs), ys) * scale).backward()
    return [p.grad.clone() for p in model.parameters()]


@pytest.mark.parametrize("mistake, match", [
    (dict(weight="one"), "without dividing by the number of micro-batches"),
    (dict(weight="k"), "unequal sizes"),
    (dict(zero_inside=True), "only the last micro-batch"),
    (dict(zero_first=False), "old gradients were not cleared"),
    (dict(whole=True, weight="k"), "whole batch went through at once"),
])
def test_accumulation_mistake_is_named(mistake, match):
    fails("check_accumulation", match, accumulated_gradients=lambda m, x, y, K: accumulate(m, x, y, K, **mistake))


def test_accumulation_with_summed_losses_passes():
    def summed(model, x, y, K):
        for p in model.parameters():
            p.grad = None
        for xs, ys in zip(x.tensor_split(K), y.tensor_split(K)):
            (F.cross_entropy(model(xs), ys, reduction="sum") / len(x)).backward()
        return [p.grad.detach().clone() for p in model.parameters()]
    run("check_accumulation", accumulated_gradients=summed)


def plain(blocks, x):
    for block in blocks:
        x = block(x)
    return x


@pytest.mark.parametrize("forward, match", [
    (plain, "nothing was checkpointed"),
    (lambda blocks, x: functools.reduce(lambda h, b: checkpoint(b, h, use_reentrant=True), blocks, x), "use_reentrant"),
    (lambda blocks, x: functools.reduce(lambda h, b: checkpoint(b, h), blocks, x), "use_reentrant"),
])
def test_checkpointing_mistake_is_named(forward, match):
    fails("check_checkpointing", match, checkpointed_forward=forward)


def test_checkpointing_under_no_grad_is_named():
    def no_grad(blocks, x):
        with torch.no_grad():
            return plain(blocks, x)
    fails("check_checkpointing", "does not require grad", checkpointed_forward=no_grad)


def test_checkpointing_the_whole_stack_once_passes():       # keeps even less: only x
    run("check_checkpointing",
        checkpointed_forward=lambda blocks, x: checkpoint(lambda h: plain(blocks, h), x, use_reentrant=False))


# ------------------------------------------------------------------------ 5. data parallel
@pytest.mark.parametrize("wrong, match", [
    (lambda grads: [torch.stack(g).sum(0) for g in zip(*grads)], "SUMMED over the workers"),
    (lambda grads: [g.clone() for g in grads[0]], "worker 0's gradient only"),
    (lambda grads: [torch.stack(g).double().mean(0) for g in zip(*grads)], "has dtype float64"),
])
def test_all_reduce_mistake_is_named(wrong, match):
    fails("check_all_reduce", match, all_reduce_mean=wrong)


def test_all_reduce_adding_into_worker_zero_is_named():
    def in_place(worker_grads):
        total = worker_grads[0]
        for grads in worker_grads[1:]:
            for t, g in zip(total, grads):
                t += g
        return [t / len(worker_grads) for t in total]
    fails("check_all_reduce", "changed the workers' gradients in place", all_reduce_mean=in_place)


def test_all_reduce_with_a_loop_passes():
    def loop(worker_grads):
        result = [torch.zeros_like(g) for g in worker_grads[0]]
        for grads in worker_grads:
            result = [r + g for r, g in zip(result, grads)]
        return [r / len(worker_grads) for r in result]
    run("check_all_reduce", all_reduce_mean=loop)


def dp_step(model, x, y, W, lr, all_reduce=None, shared=False, whole=False, own=False, factor=1.0, in_place=False,
            sign=1.0):
    """A student's data_parallel_step, with switchable mistakes."""
    replicas = [model] * W if (shared or in_place) else [copy.deepcopy(model) for _ in range(W)]
    if shared:
        model.zero_grad()
    worker_grads = []
    for replica, xs, ys in zip(replicas, x.chunk(W), y.chunk(W)):
        if not shared:
            replica.zero_grad()
        F.cross_entropy(replica(x if whole else xs), y if whole else ys).backward()
        worker_grads.append([p.grad.clone() for p in replica.parameters()])
    averaged = all_reduce(worker_grads)
    results = []
    for k, replica in enumerate(replicas if not (shared or in_place) else [copy.deepcopy(model) for _ in range(W)]):
        grads = worker_grads[k] if own else averaged
        with torch.no_grad():
            results.append([p - sign * lr * factor * g for p, g in zip(replica.parameters(), grads)])
    if in_place:
        with torch.no_grad():
            for p, g in zip(model.parameters(), averaged):
                p -= lr * g
    return results


@pytest.mark.parametrize("mistake, match", [
    (dict(own=True), "stepped with its OWN gradient"),
    (dict(whole=True), "gradient of the WHOLE batch"),
    (dict(shared=True), "also holds the previous workers' gradients"),
    (dict(in_place=True), "changed the model it was given"),
    (dict(sign=-1.0), "uphill"),
])
def test_data_parallel_step_mistake_is_named(mistake, match):
    fails("check_data_parallel_step", match,
          data_parallel_step=lambda m, x, y, W, lr, all_reduce=None: dp_step(m, x, y, W, lr, all_reduce, **mistake))


def test_data_parallel_step_averaging_twice_is_named():
    fails("check_data_parallel_step", "averaged twice",
          data_parallel_step=lambda m, x, y, W, lr, all_reduce=None: dp_step(m, x, y, W, lr, all_reduce, factor=1 / W))


def test_data_parallel_step_with_torch_optimizers_passes():
    def with_sgd(model, x, y, num_workers, lr, all_reduce=None):
        replicas = [copy.deepcopy(model) for _ in range(num_workers)]
        optimizers = [torch.optim.SGD(r.parameters(), lr=lr) for r in replicas]
        worker_grads = []
        for replica, xs, ys in zip(replicas, x.chunk(num_workers), y.chunk(num_workers)):
            F.cross_entropy(replica(xs), ys).backward()
            worker_grads.append([p.grad for p in replica.parameters()])
        for replica, optimizer in zip(replicas, optimizers):
            for p, g in zip(replica.parameters(), all_reduce(worker_grads)):
                p.grad = g.clone()
            optimizer.step()
        return [[p.detach() for p in r.parameters()] for r in replicas]
    run("check_data_parallel_step", data_parallel_step=with_sgd)


def test_data_parallel_step_does_not_depend_on_all_reduce_mean():       # each mistake costs its own cell
    run("check_data_parallel_step", all_reduce_mean=lambda grads: [g * 0 for g in grads[0]])


# ------------------------------------------------------------------------ 6. the custom autograd Function
def linear_relu(order=(0, 1, 2), mask=">", transpose_w=False, bias_mean=False, relu_forward=True):
    """A student's LinearReLU, with switchable mistakes."""
    class Wrong(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            pre = x @ weight.T + bias
            ctx.save_for_backward(x, weight, pre)
            return pre.clamp_min(0) if relu_forward else pre

        @staticmethod
        def backward(ctx, grad_out):
            x, weight, pre = ctx.saved_tensors
            g = {">": grad_out * (pre > 0), ">=": grad_out * (pre >= 0), "none": grad_out}[mask]
            grads = [g @ weight, x.T @ g if transpose_w else g.T @ x, g.mean(0) if bias_mean else g.sum(0)]
            return tuple(grads[i] for i in order)
    return Wrong


@pytest.mark.parametrize("mistake, match", [
    (dict(order=(1, 0, 2)), "IN forward's ORDER"),
    (dict(mask="none"), "ReLU's gradient is missing"),
    (dict(mask=">="), r"use \(out > 0\), not \(out >= 0\)"),
    (dict(transpose_w=True), "grad_weight is transposed"),
    (dict(bias_mean=True), "MEAN of g over the batch"),
    (dict(relu_forward=False), "ReLU is missing in forward"),
])
def test_custom_function_mistake_is_named(mistake, match):
    fails("check_custom_function", match, LinearReLU=linear_relu(**mistake))


def test_custom_function_wrong_order_on_square_shapes_is_named():
    namespace = run("check_custom_function")        # the cell's checker, then on a square case only, where a
    namespace["LinearReLU"] = linear_relu(order=(1, 0, 2))     # wrong order keeps every shape
    with pytest.raises(AssertionError, match="gradients in the wrong order"):
        namespace["_check_linear_relu"](4, 4, 4, seed=1)


def test_custom_function_returning_two_gradients_fails():
    class Two(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            ctx.save_for_backward(x, weight)
            return F.relu(x @ weight.T + bias)

        @staticmethod
        def backward(ctx, grad_out):
            x, weight = ctx.saved_tensors
            return grad_out @ weight, grad_out.T @ x
    fails("check_custom_function", "LinearReLU", LinearReLU=Two)


def test_custom_function_written_another_way_passes():
    class Alternative(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, weight, bias):
            pre = torch.addmm(bias, x, weight.t())
            ctx.save_for_backward(x, weight, pre > 0)
            return torch.where(pre > 0, pre, torch.zeros_like(pre))

        @staticmethod
        def backward(ctx, grad_out):
            x, weight, positive = ctx.saved_tensors
            g = torch.where(positive, grad_out, torch.zeros_like(grad_out))
            return (torch.einsum("nm,md->nd", g, weight) if ctx.needs_input_grad[0] else None,
                    torch.einsum("nm,nd->md", g, x), g.sum(0))
    run("check_custom_function", LinearReLU=Alternative)


# ------------------------------------------------------------------------ across processes (the autograder)
# The classic mistakes, edited into the solution's answers and graded by `dlcourse grade`: the grade cells
# run in the grader's process and the answers in the sandboxed student's process. Each mistake loses its own cell
# only, with the message that names it. Two submissions, graded at once, in one run (about a minute).
CROSS_PROCESS = {
    "wrong1": {
        "training_memory": ('"activations": batch_size * per_example', '"activations": per_example',
                            "without the batch size"),
        "DynamicLossScaler": ("self._scale *= self.backoff_factor", "pass", "not reduced after the overflow"),
        "accumulated_gradients": (" * (len(x_micro) / len(x))", "", "without dividing by the number of micro-batches"),
        "all_reduce_mean": (".mean(dim=0)", ".sum(dim=0)", "SUMMED over the workers"),
        "LinearReLU": ("return g @ weight, g.T @ x, g.sum(dim=0)", "return g.T @ x, g @ weight, g.sum(dim=0)",
                       "IN forward's ORDER"),
        "checkpointed_forward": ("h = checkpoint(block, h, use_reentrant=False)", "h = block(h)",
                                 "nothing was checkpointed"),
    },
    "wrong2": {
        "DynamicLossScaler": ("if not self._found_inf:\n            optimizer.step()", "optimizer.step()",
                              "stepped on an inf gradient"),
        "data_parallel_step": ("zip(replica.parameters(), averaged)",
                               "zip(replica.parameters(), worker_grads[replicas.index(replica)])",
                               "stepped with its OWN gradient"),
        "mlp_training_flops": ("flops if index == 0 else 2 * flops", "2 * flops", "first layer computes no dL/dx"),
        "checkpointed_forward": ("h = checkpoint(block, h, use_reentrant=False)",
                                 "h = checkpoint(block, h, use_reentrant=True)", "raised a warning"),
    },
}
CHECKED_BY = {"training_memory": "check_training_memory", "mlp_training_flops": "check_training_flops",
              "DynamicLossScaler": "check_loss_scaler", "accumulated_gradients": "check_accumulation",
              "checkpointed_forward": "check_checkpointing", "all_reduce_mean": "check_all_reduce",
              "data_parallel_step": "check_data_parallel_step", "LinearReLU": "check_custom_function"}


def test_mistakes_are_named_across_processes_and_cost_only_their_cell(tmp_path):
    from test_pipeline import code_points, run_dlcourse, scratch_course, submission_scores

    root = scratch_course(tmp_path, NOTEBOOK)
    source = solution_notebook(NOTEBOOK)
    points = code_points(json.loads(source.read_text(encoding="utf-8")))
    for student, edits in CROSS_PROCESS.items():
        notebook = json.loads(source.read_text(encoding="utf-8"))
        for cell in notebook["cells"]:
            answer = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if answer in edits:
                old, new, _ = edits[answer]
                text = "".join(cell["source"])
                assert text.count(old) == 1, (answer, old)
                cell["source"] = text.replace(old, new)
        folder = root / "submitted" / student / NOTEBOOK
        folder.mkdir(parents=True)
        (folder / source.name).write_text(json.dumps(notebook), encoding="utf-8")

    result = run_dlcourse(root, "grade", NOTEBOOK, "--workers", "2")
    assert result.returncode == 0, f"dlcourse grade failed:\n{result.stdout}\n{result.stderr}"
    for student, edits in CROSS_PROCESS.items():
        lost = {CHECKED_BY[answer]: match for answer, (_, _, match) in edits.items()}
        assert submission_scores(root, NOTEBOOK, student) == {k: 0.0 if k in lost else v for k, v in points.items()}
        graded = json.loads((root / "autograded" / student / NOTEBOOK / source.name).read_text(encoding="utf-8"))
        errors = {cell["metadata"]["nbgrader"]["grade_id"]: " ".join(o["evalue"] for o in cell.get("outputs", [])
                                                                   if o.get("output_type") == "error")
                  for cell in graded["cells"] if cell.get("metadata", {}).get("nbgrader", {}).get("grade")
                  and cell["cell_type"] == "code"}
        for grade_id, match in lost.items():
            assert match in errors[grade_id], f"{student}, {grade_id}: {errors[grade_id][:300]!r}"
