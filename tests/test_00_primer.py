"""00_primer: the solution passes every grade cell, and classic mistakes fail with a named hint."""

import numpy as np
import pytest
import torch

from gradecells import run_grade_cell

CHECKS = ["check_one_hot", "check_class_means", "check_standardize_columns",
          "check_moving_average", "check_gradient", "check_predict_on_device"]


@pytest.mark.parametrize("grade_id", CHECKS)
def test_solution_passes(grade_id):
    run_grade_cell("00_primer", grade_id)


def test_transposed_one_hot_is_a_shape_error():
    def one_hot(y, num_classes):
        out = np.zeros((num_classes, len(y)))
        out[y, np.arange(len(y))] = 1
        return out
    with pytest.raises(AssertionError, match="one row per label"):
        run_grade_cell("00_primer", "check_one_hot", one_hot=one_hot)


def test_one_hot_accepting_bad_labels_is_named():
    def one_hot(y, num_classes):
        out = np.zeros((len(y), num_classes))
        out[np.arange(len(y)), np.asarray(y) % num_classes] = 1
        return out
    with pytest.raises(AssertionError, match="should raise ValueError"):
        run_grade_cell("00_primer", "check_one_hot", one_hot=one_hot)


def test_nan_for_an_empty_class_is_named():
    def class_means(X, y, num_classes):
        return np.stack([X[y == c].mean(axis=0) for c in range(num_classes)])
    with pytest.warns(RuntimeWarning), pytest.raises(AssertionError, match="empty class gave NaN"):
        run_grade_cell("00_primer", "check_class_means", class_means=class_means)


def test_standardizing_rows_names_the_axis():
    def standardize_columns(X, eps=1e-8):
        return (X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + eps)
    with pytest.raises(AssertionError, match="axis=0"):
        run_grade_cell("00_primer", "check_standardize_columns", standardize_columns=standardize_columns)


def test_off_by_one_moving_average_is_named():
    def moving_average(x, window):
        sums = np.cumsum(x)
        return (sums[window:] - sums[:-window]) / window
    with pytest.raises(AssertionError, match="off by one"):
        run_grade_cell("00_primer", "check_moving_average", moving_average=moving_average)


def test_looping_moving_average_is_named():
    def moving_average(x, window):
        return np.array([x[t:t + window].mean() for t in range(len(x) - window + 1)])
    with pytest.raises(AssertionError, match=r"must not loop in Python.*`return np.array\(\[x\[t:t \+ window\]"):
        run_grade_cell("00_primer", "check_moving_average", moving_average=moving_average)


def moving_average_loop(x, window):
    out = np.empty(len(x) - window + 1)
    for t in range(len(out)):
        out[t] = x[t:t + window].sum() / window
    return out


def test_calling_the_loop_version_is_named():
    def moving_average(x, window):
        return moving_average_loop(x, window)
    with pytest.raises(AssertionError, match=r"must not loop in Python.*of moving_average_loop"):
        run_grade_cell("00_primer", "check_moving_average", moving_average=moving_average)


def test_a_loop_free_helper_is_not_a_loop():
    def moving_average(x, window):
        return _helper(x, window)
    run_grade_cell("00_primer", "check_moving_average", moving_average=moving_average)


def test_returning_a_tensor_is_named():
    def predict_on_device(model, X, device):
        with torch.no_grad():
            return model.to(device)(torch.as_tensor(X, dtype=torch.float32, device=device))
    with pytest.raises(AssertionError, match="return a NumPy array"):
        run_grade_cell("00_primer", "check_predict_on_device", predict_on_device=predict_on_device)


def _helper(x, window):
    return np.convolve(x, np.ones(window) / window, mode="valid")
