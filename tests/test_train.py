"""dlcourse.train: the training loop and evaluation."""

import math

import numpy as np
import pytest
import torch

from dlcourse.data import make_loader, make_spirals
from dlcourse.device import seed_everything
from dlcourse.train import History, evaluate, fit


def _setup(epochs_lr=0.05):
    seed_everything(0)
    X, y = make_spirals(num_per_class=40)
    model = torch.nn.Sequential(torch.nn.Linear(2, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    optimizer = torch.optim.Adam(model.parameters(), lr=epochs_lr)
    return model, optimizer, make_loader(X, y, 32, device="cpu"), make_loader(X, y, 64, shuffle=False, device="cpu")


def test_fit_learns_and_records_every_epoch(capsys):
    model, optimizer, train, val = _setup()
    history = fit(model, train, val, torch.nn.CrossEntropyLoss(), optimizer, 8, device="cpu", progress=False)
    assert isinstance(history, History) and not history.stopped_early
    for values in (history.train_loss, history.train_acc, history.val_loss, history.val_acc, history.epoch_time):
        assert len(values) == 8
    assert history.train_loss[-1] < 0.7 * history.train_loss[0]
    assert history.val_acc[-1] > 0.6 and all(t > 0 for t in history.epoch_time)
    assert capsys.readouterr().err == ""  # no progress bar, no warnings


def test_evaluate_matches_a_manual_computation_and_restores_mode():
    model, _, _, val = _setup()
    model.train()
    loss, acc = evaluate(model, val, torch.nn.CrossEntropyLoss(), device="cpu")
    X, y = val.dataset.tensors
    with torch.no_grad():
        logits = model(X)
    assert loss == pytest.approx(float(torch.nn.functional.cross_entropy(logits, y)), rel=1e-5)
    assert acc == pytest.approx(float((logits.argmax(1) == y).float().mean()))
    assert model.training


def test_evaluate_uses_eval_mode():
    model = torch.nn.Sequential(torch.nn.Dropout(0.9), torch.nn.Linear(2, 3))
    loader = make_loader(np.ones((64, 2)), np.zeros(64, dtype=np.int64), 64, shuffle=False, device="cpu")
    first = evaluate(model, loader, torch.nn.CrossEntropyLoss(), device="cpu")
    assert evaluate(model, loader, torch.nn.CrossEntropyLoss(), device="cpu") == first


def test_regression_gives_nan_accuracy_and_no_val_loader_is_fine():
    X = np.random.default_rng(0).normal(size=(64, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loss_fn = lambda out, target: torch.nn.functional.mse_loss(out.squeeze(1), target)  # noqa: E731
    history = fit(model, make_loader(X, y, 16, device="cpu"), None, loss_fn, optimizer, 5, progress=False)
    assert math.isnan(history.train_acc[0]) and math.isnan(history.val_loss[0])
    assert history.train_loss[-1] < history.train_loss[0]


def test_scheduler_steps_once_per_epoch():
    model, optimizer, train, val = _setup()
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    fit(model, train, val, torch.nn.CrossEntropyLoss(), optimizer, 3, scheduler=scheduler, progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.05 / 8)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, patience=0)
    fit(model, train, val, torch.nn.CrossEntropyLoss(), optimizer, 1, scheduler=plateau, progress=False)


def test_early_stop_when_validation_stops_improving():
    model, _, train, val = _setup()
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)  # the validation loss never improves
    history = fit(model, train, val, torch.nn.CrossEntropyLoss(), frozen, 6, early_stop_patience=2, progress=False)
    assert history.stopped_early and len(history.train_loss) == 3


def test_amp_on_cpu_is_ignored_with_a_note(capsys):
    model, optimizer, train, val = _setup()
    fit(model, train, val, torch.nn.CrossEntropyLoss(), optimizer, 1, device="cpu", amp=True, progress=False)
    captured = capsys.readouterr()
    assert "cuda only" in captured.out and captured.err == ""


def test_progress_bar_hidden_while_grading(monkeypatch, capsys):
    model, optimizer, train, val = _setup()
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    fit(model, train, val, torch.nn.CrossEntropyLoss(), optimizer, 2, device="cpu", progress=True)
    assert capsys.readouterr().err == ""
    monkeypatch.delenv("NBGRADER_EXECUTION")
    fit(model, train, val, torch.nn.CrossEntropyLoss(), optimizer, 2, device="cpu", progress=True)
    assert "epochs" in capsys.readouterr().err


def test_empty_loader_is_an_error():
    model, optimizer, _, _ = _setup()
    empty = make_loader(np.zeros((0, 2)), np.zeros(0, dtype=np.int64), shuffle=False, device="cpu")
    with pytest.raises(ValueError, match="empty"):
        evaluate(model, empty, torch.nn.CrossEntropyLoss(), device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a cuda device")
def test_amp_on_cuda_trains():
    model, optimizer, train, val = _setup()
    history = fit(model, train, val, torch.nn.CrossEntropyLoss(), optimizer, 5, device="cuda", amp=True, progress=False)
    assert history.train_loss[-1] < history.train_loss[0]


def test_early_stop_watches_training_loss_without_validation():
    model, _, train, _ = _setup()
    frozen = torch.optim.SGD(model.parameters(), lr=0.0)
    history = fit(model, train, None, torch.nn.CrossEntropyLoss(), frozen, 10, early_stop_patience=1, progress=False)
    assert history.stopped_early and len(history.train_loss) == 2
