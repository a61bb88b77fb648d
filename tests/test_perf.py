"""dlcourse.perf: timing a call, the bytes autograd keeps for backward, compiling with a fallback."""

from __future__ import annotations

import torch
import torch.nn as nn
import pytest

from dlcourse import perf


def test_time_call_runs_warmup_and_repeats_and_returns_the_median():
    calls = []
    seconds = perf.time_call(lambda x: calls.append(x), 3, repeats=5, warmup=2)
    assert calls == [3] * 7 and 0 <= seconds < 1


def test_time_call_refuses_no_repeats():
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        perf.time_call(lambda: None, repeats=0)


def test_saved_activation_bytes_counts_what_backward_needs_by_hand():
    layer = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    x = torch.randn(5, 4)
    # addmm keeps x (its weight needs x for the gradient; x needs no gradient, so W is not kept); ReLU keeps its
    # output: 5 * 4 + 5 * 3 float32 numbers.
    assert perf.saved_activation_bytes(layer, x) == (5 * 4 + 5 * 3) * 4


def test_saved_activation_bytes_leaves_out_parameters_and_counts_a_storage_once():
    weight = torch.randn(6, 6, requires_grad=True)
    x = torch.randn(2, 6)
    # x @ weight keeps x (and would keep weight for x's gradient: x needs none); weight is a parameter here
    assert perf.saved_activation_bytes(lambda w, x: (x @ w).sum(), weight, x) == 2 * 6 * 4
    h = torch.randn(3, 5, requires_grad=True)
    # h * h keeps h twice (the same storage) and h is an argument that requires grad: nothing is counted
    assert perf.saved_activation_bytes(lambda t: t * t, h) == 0
    # a * a keeps a = h + 1 twice: one storage, counted once
    assert perf.saved_activation_bytes(lambda t: (lambda a: a * a)(t + 1), h) == 3 * 5 * 4


def gelu_tanh(x):
    return 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


def test_compile_falls_back_to_torchscript_with_the_reason(monkeypatch):
    def refuse(function, **kwargs):
        raise RuntimeError("no C++ compiler here")
    monkeypatch.setattr(torch, "compile", refuse)
    x = torch.randn(100)
    compiled = perf.compile_or_script(gelu_tanh, x)
    assert compiled.how == "torch.jit.script" and "no C++ compiler here" in compiled.message
    torch.testing.assert_close(compiled.function(x), gelu_tanh(x))
    assert compiled.first_call_seconds >= 0


def test_compile_is_skipped_while_grading(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    monkeypatch.setattr(torch, "compile", lambda *a, **k: pytest.fail("torch.compile must not run while grading"))
    compiled = perf.compile_or_script(gelu_tanh, torch.randn(10))
    assert compiled.how == "torch.jit.script" and "graded" in compiled.message
