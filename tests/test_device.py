"""dlcourse.device: device choice (cuda/mps mocked), seeding, the grading switch."""

import random

import numpy as np
import pytest
import torch

from dlcourse import device as dev


@pytest.fixture
def machine(monkeypatch):
    """Pretend the machine has the given accelerators."""
    monkeypatch.delenv("DLCOURSE_DEVICE", raising=False)

    def set_available(cuda: bool = False, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
        monkeypatch.setattr(dev, "_mps_available", lambda: mps)

    return set_available


def test_cpu_when_no_accelerator(machine):
    machine(cuda=False, mps=False)
    assert dev.get_device() == torch.device("cpu")


def test_cuda_first_when_present(machine):
    machine(cuda=True, mps=True)
    assert dev.get_device() == torch.device("cuda")


def test_mps_when_no_cuda(machine):
    machine(cuda=False, mps=True)
    assert dev.get_device() == torch.device("mps")


def test_prefer_is_used_when_available_and_ignored_otherwise(machine):
    machine(cuda=True, mps=False)
    assert dev.get_device(prefer="cpu") == torch.device("cpu")
    assert dev.get_device(prefer="mps") == torch.device("cuda")


def test_env_overrides_choice(machine, monkeypatch):
    machine(cuda=True)
    monkeypatch.setenv("DLCOURSE_DEVICE", "CPU")
    assert dev.get_device() == torch.device("cpu")
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda:1")
    assert dev.get_device(prefer="cpu") == torch.device("cuda:1")


def test_bad_env_value_lists_valid_ones(machine, monkeypatch):
    machine()
    monkeypatch.setenv("DLCOURSE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="'gpu'.*cuda, mps, cpu"):
        dev.get_device()


def test_env_asking_for_missing_device_says_so(machine, monkeypatch):
    machine(cuda=False)
    monkeypatch.setenv("DLCOURSE_DEVICE", "cuda")
    with pytest.raises(RuntimeError, match="no cuda device"):
        dev.get_device()


def test_bad_prefer_value_errors(machine):
    machine()
    with pytest.raises(ValueError, match="valid values"):
        dev.get_device(prefer="tpu")


def test_seed_everything_repeats_all_generators():
    def draw():
        return random.random(), float(np.random.rand()), float(torch.rand(1))

    dev.seed_everything(3)
    first = draw()
    dev.seed_everything(3)
    assert draw() == first
    dev.seed_everything(4)
    assert draw() != first


def test_describe_environment_names_versions_and_device(machine):
    machine()
    text = dev.describe_environment()
    assert torch.__version__ in text and np.__version__ in text
    assert "device: cpu" in text and "threads" in text
    assert 2 <= len(text.splitlines()) <= 6
    assert repr(text) == text  # a notebook shows the lines, not an escaped string


def test_grading_switch(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("DLCOURSE_QUICK", raising=False)
    assert not dev.is_grading()
    assert dev.scale_for_grading(100, 2) == 100
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert dev.is_grading()
    assert dev.scale_for_grading(100, 2) == 2
    monkeypatch.delenv("NBGRADER_EXECUTION")
    monkeypatch.setenv("DLCOURSE_QUICK", "1")  # the course's own tests: reduced, but not "grading"
    assert not dev.is_grading() and dev.scale_for_grading(100, 2) == 2


def test_describe_environment_names_the_gpu(machine, monkeypatch):
    machine(cuda=True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU 9000")
    assert "device: cuda (Fake GPU 9000)" in dev.describe_environment()
