"""00_primer: the solution passes every grade cell; wrong versions fail naming the mistake; valid alternatives pass.

Each wrong version is written the way a student would write it. `WRONG` lists them with the
grade cell that must fail and a regex of the message it must show; `VALID` lists correct
answers written another way, which must pass.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from gradecells import grade_cell_fails, run_grade_cell

NOTEBOOK = "00_primer"
CHECKS = {"check_one_hot": "one_hot", "check_class_means": "class_means",
          "check_standardize_columns": "standardize_columns", "check_moving_average": "moving_average",
          "check_gradient": "gradient", "check_predict_on_device": "predict_on_device"}


# ------------------------------------------------------------------------ one_hot
def validated(y, num_classes):
    y = np.asarray(y)
    for label in y:
        if not 0 <= label < num_classes:
            raise ValueError(f"label {label} is not in [0, {num_classes})")
    return y


def one_hot_transposed(y, num_classes):
    out = np.zeros((num_classes, len(y)))
    out[validated(y, num_classes), np.arange(len(y))] = 1
    return out


def one_hot_modulo(y, num_classes):  # never raises: a wrong label wraps around
    out = np.zeros((len(y), num_classes))
    out[np.arange(len(y)), np.asarray(y) % num_classes] = 1
    return out


def one_hot_upper_bound_only(y, num_classes):  # -1 passes and lands in the last column
    if np.max(y) >= num_classes:
        raise ValueError(f"label {np.max(y)} is too large")
    out = np.zeros((len(y), num_classes))
    out[np.arange(len(y)), y] = 1
    return out


def one_hot_silent_message(y, num_classes):
    if np.min(y) < 0 or np.max(y) >= num_classes:
        raise ValueError("invalid labels")
    out = np.zeros((len(y), num_classes))
    out[np.arange(len(y)), y] = 1
    return out


def one_hot_whole_columns(y, num_classes):
    out = np.zeros((len(y), num_classes))
    out[:, validated(y, num_classes)] = 1
    return out


def one_hot_from_max_label(y, num_classes):
    return np.eye(np.max(validated(y, num_classes)) + 1)[y]


def one_hot_int(y, num_classes):
    out = np.zeros((len(y), num_classes), dtype=np.int64)
    out[np.arange(len(y)), validated(y, num_classes)] = 1
    return out


def one_hot_torch(y, num_classes):
    labels = torch.as_tensor(validated(y, num_classes))
    return torch.nn.functional.one_hot(labels, num_classes).double().numpy()


def one_hot_sorts_labels(y, num_classes):  # sorts the caller's labels to find the range quickly
    order = np.argsort(y, kind="stable")
    y.sort()
    if y[0] < 0 or y[-1] >= num_classes:
        raise ValueError(f"labels must be in [0, {num_classes}), got {y[0]}..{y[-1]}")
    out = np.zeros((len(y), num_classes))
    out[order, y] = 1
    return out


def one_hot_eye(y, num_classes):
    return np.eye(num_classes)[validated(y, num_classes)]


def one_hot_compare(y, num_classes):
    return (validated(y, num_classes)[:, None] == np.arange(num_classes)).astype(np.float64)


# ------------------------------------------------------------------------ class_means
def means_nan_for_empty(X, y, num_classes):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the student sees "Mean of empty slice"
        return np.stack([X[y == c].mean(axis=0) for c in range(num_classes)])


def means_sums(X, y, num_classes):
    return np.stack([X[y == c].sum(axis=0) for c in range(num_classes)])


def means_divided_by_n(X, y, num_classes):
    return np.stack([X[y == c].sum(axis=0) / len(X) for c in range(num_classes)])


def means_global(X, y, num_classes):
    return np.tile(X.mean(axis=0), (num_classes, 1))


def means_example_loop(X, y, num_classes):
    sums, counts = np.zeros((num_classes, X.shape[1])), np.zeros(num_classes)
    for i in range(len(X)):
        sums[y[i]] += X[i]
        counts[y[i]] += 1
    return sums / np.maximum(counts, 1)[:, None]


def means_integer_zeros(X, y, num_classes):  # the result array takes the labels' int dtype
    means = np.zeros((num_classes, X.shape[1]), dtype=y.dtype)
    for c in range(num_classes):
        if (y == c).any():
            means[c] = X[y == c].mean(axis=0)
    return means


def means_torch(X, y, num_classes):
    X_t, y_t = torch.as_tensor(X), torch.as_tensor(y)
    sums = torch.zeros(num_classes, X.shape[1], dtype=X_t.dtype).index_add_(0, y_t, X_t)
    return (sums / torch.bincount(y_t, minlength=num_classes).clamp(min=1)[:, None]).numpy()


def means_add_at(X, y, num_classes):
    sums = np.zeros((num_classes, X.shape[1]), dtype=np.result_type(X, np.float64))
    np.add.at(sums, y, X)
    return sums / np.maximum(np.bincount(y, minlength=num_classes), 1)[:, None]


def means_matrix_product(X, y, num_classes):
    members = (y[None, :] == np.arange(num_classes)[:, None]).astype(np.float64)  # (C, N)
    return members @ X / np.maximum(members.sum(axis=1, keepdims=True), 1)


# ------------------------------------------------------------------------ standardize_columns
def standardize_rows(X, eps=1e-8):
    return (X - X.mean(axis=1, keepdims=True)) / (X.std(axis=1, keepdims=True) + eps)


def standardize_ddof1(X, eps=1e-8):
    return (X - X.mean(axis=0)) / (X.std(axis=0, ddof=1) + eps)


def standardize_eps_in_sqrt(X, eps=1e-8):
    return (X - X.mean(axis=0)) / np.sqrt(X.var(axis=0) + eps)


def standardize_global(X, eps=1e-8):
    return (X - X.mean()) / (X.std() + eps)


def standardize_not_centred(X, eps=1e-8):
    return X / (X.std(axis=0) + eps)


def standardize_in_place(X, eps=1e-8):
    X -= X.mean(axis=0)
    X /= X.std(axis=0) + eps
    return X


def standardize_fixed_eps(X, eps=1e-8):
    return (X - X.mean(axis=0)) / (X.std(axis=0) + 1e-8)


def standardize_no_eps(X, eps=1e-8):
    with np.errstate(invalid="ignore", divide="ignore"):
        return (X - X.mean(axis=0)) / X.std(axis=0)


def standardize_keepdims(X, eps=1e-8):
    mean = np.mean(X, axis=0, keepdims=True)
    return (X - mean) / (np.sqrt(np.mean((X - mean) ** 2, axis=0, keepdims=True)) + eps)


def standardize_einsum(X, eps=1e-8):
    centred = X - np.einsum("nd->d", X) / X.shape[0]
    return centred / (np.sqrt(np.einsum("nd,nd->d", centred, centred) / X.shape[0]) + eps)


# ------------------------------------------------------------------------ moving_average
def moving_average_loop(x, window):
    out = np.empty(len(x) - window + 1)
    for t in range(len(out)):
        out[t] = x[t:t + window].sum() / window
    return out


def average_without_leading_zero(x, window):
    sums = np.cumsum(x)
    return (sums[window:] - sums[:-window]) / window


def average_last_window_missing(x, window):
    sums = np.concatenate([[0.0], np.cumsum(x)])
    return (sums[window:-1] - sums[:-window - 1]) / window


def average_sums(x, window):
    sums = np.concatenate([[0.0], np.cumsum(x)])
    return sums[window:] - sums[:-window]


def average_comprehension(x, window):
    return np.array([x[t:t + window].mean() for t in range(len(x) - window + 1)])


def average_delegates(x, window):
    return moving_average_loop(x, window)


def average_integer_division(x, window):
    sums = np.concatenate([[0], np.cumsum(x)])
    return (sums[window:] - sums[:-window]) // window


def average_cumsum_in_place(x, window):
    np.cumsum(x, out=x)
    sums = np.concatenate([[0], x])
    return (sums[window:] - sums[:-window]) / window


def average_torch(x, window):
    signal = torch.as_tensor(x, dtype=torch.float64)[None, None]
    return torch.nn.functional.avg_pool1d(signal, window, stride=1)[0, 0].numpy()


def average_convolve(x, window):
    return np.convolve(x, np.ones(window) / window, mode="valid")


def average_sliding_window(x, window):
    return np.lib.stride_tricks.sliding_window_view(x, window).mean(axis=1)


def _cumsum_helper(x):
    return np.concatenate([[0.0], np.cumsum(x)])


def average_with_helper(x, window):
    sums = _cumsum_helper(x)
    return (sums[window:] - sums[:-window]) / window


# ------------------------------------------------------------------------ gradient
def gradient_tensor(f, x):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    f(xt).backward()
    return xt.grad


def gradient_keeps_dtype(f, x):  # a float32 point gives a float32 gradient
    xt = torch.from_numpy(np.asarray(x)).requires_grad_()
    f(xt).backward()
    return xt.grad.numpy()


def gradient_value(f, x):
    return f(torch.tensor(x, dtype=torch.float64)).detach().numpy()


_point = {}


def gradient_reuses_its_tensor(f, x):  # one leaf tensor per shape, never zeroed
    key = np.shape(x)
    if key not in _point:
        _point[key] = torch.zeros(key, dtype=torch.float64, requires_grad=True)
    point = _point[key]
    with torch.no_grad():
        point.copy_(torch.as_tensor(x, dtype=torch.float64))
    f(point).backward()
    return point.grad.numpy().copy()


def gradient_autograd_grad(f, x):
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(f(xt), xt)
    return grad.numpy()


def gradient_func(f, x):
    return torch.func.grad(f)(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()


# ------------------------------------------------------------------------ predict_on_device
def predict_returns_tensor(model, X, device):
    with torch.no_grad():
        return model.to(device)(torch.as_tensor(X, dtype=torch.float32, device=device)).cpu()


def predict_model_not_moved(model, X, device):
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=torch.float32, device=device)).cpu().numpy()


def predict_inputs_not_moved(model, X, device):
    model.to(device)
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=torch.float32)).cpu().numpy()


def predict_detach(model, X, device):
    model.to(device)
    return model(torch.as_tensor(X, dtype=torch.float32, device=device)).detach().cpu().numpy()


def predict_float64(model, X, device):
    model.to(device).double()
    with torch.no_grad():
        return model(torch.as_tensor(X, device=device)).cpu().numpy()


def predict_inference_mode(model, X, device):
    model = model.to(device).eval()
    with torch.inference_mode():
        return model(torch.from_numpy(np.asarray(X)).float().to(device)).cpu().numpy()


WRONG = [
    ("check_one_hot", one_hot_transposed, "one row per label"),
    ("check_one_hot", one_hot_modulo, "raised no ValueError, but label 7"),
    ("check_one_hot", one_hot_upper_bound_only, "negative index silently picks a column"),
    ("check_one_hot", one_hot_silent_message, "should name the wrong label"),
    ("check_one_hot", one_hot_whole_columns, r"all ones: out\[:, y\]"),
    ("check_one_hot", one_hot_from_max_label, r"y.max\(\) \+ 1 = 10 columns"),
    ("check_one_hot", one_hot_int, "dtype int64, expected float64"),
    ("check_one_hot", one_hot_torch, "calls torch"),
    ("check_one_hot", one_hot_sorts_labels, "changed its argument 1 in place"),
    ("check_class_means", means_nan_for_empty, "empty class gave NaN"),
    ("check_class_means", means_sums, "per-class SUMS"),
    ("check_class_means", means_divided_by_n, "divided the class sums by N"),
    ("check_class_means", means_global, "mean of ALL examples"),
    ("check_class_means", means_example_loop, r"must not loop in Python.*`for i in range\(len\(X\)\)"),
    ("check_class_means", means_integer_zeros, "cut to whole numbers"),
    ("check_class_means", means_torch, "calls torch"),
    ("check_standardize_columns", standardize_rows, r"per ROW \(axis=1\)"),
    ("check_standardize_columns", standardize_ddof1, r"ddof=1"),
    ("check_standardize_columns", standardize_eps_in_sqrt, "inside the square root"),
    ("check_standardize_columns", standardize_global, "whole array"),
    ("check_standardize_columns", standardize_not_centred, "not centred"),
    ("check_standardize_columns", standardize_in_place, "changed its argument 1 in place"),
    ("check_standardize_columns", standardize_fixed_eps, "use the eps argument"),
    ("check_standardize_columns", standardize_no_eps, "constant column gave NaN"),
    ("check_moving_average", average_without_leading_zero, "first window x\\[0:2\\] is missing"),
    ("check_moving_average", average_last_window_missing, "N - w \\+ 1 windows"),
    ("check_moving_average", average_sums, "window SUMS"),
    ("check_moving_average", average_comprehension, r"must not loop in Python.*x\[t:t \+ window\]"),
    ("check_moving_average", average_delegates, "must not loop in Python.*of moving_average_loop"),
    ("check_moving_average", average_integer_division, "does not match"),
    ("check_moving_average", average_cumsum_in_place, "does not match|in place"),
    ("check_moving_average", average_torch, "calls torch"),
    ("check_gradient", gradient_tensor, "returned a Tensor: return a NumPy array"),
    ("check_gradient", gradient_keeps_dtype, "float32 point has dtype float32"),
    ("check_gradient", gradient_value, "the gradient has the shape of x"),
    ("check_gradient", gradient_reuses_its_tensor, "gradients of two calls were added up"),
    ("check_predict_on_device", predict_returns_tensor, "returned a Tensor: return a NumPy array"),
    ("check_predict_on_device", predict_model_not_moved, "parameters on cpu"),
    ("check_predict_on_device", predict_inputs_not_moved, "inputs on cpu"),
    ("check_predict_on_device", predict_detach, r"recorded gradients: run it inside `with torch.no_grad\(\):`"),
    ("check_predict_on_device", predict_float64, "dtype float64, expected float32"),
]

VALID = [
    ("check_one_hot", one_hot_eye),
    ("check_one_hot", one_hot_compare),
    ("check_class_means", means_add_at),
    ("check_class_means", means_matrix_product),
    ("check_standardize_columns", standardize_keepdims),
    ("check_standardize_columns", standardize_einsum),
    ("check_moving_average", average_convolve),
    ("check_moving_average", average_sliding_window),
    ("check_moving_average", average_with_helper),
    ("check_gradient", gradient_autograd_grad),
    ("check_gradient", gradient_func),
    ("check_predict_on_device", predict_inference_mode),
]


@pytest.mark.parametrize("grade_id", CHECKS)
def test_solution_passes(grade_id):
    run_grade_cell(NOTEBOOK, grade_id)


@pytest.mark.parametrize("grade_id,wrong,match", WRONG, ids=[w[1].__name__ for w in WRONG])
def test_wrong_version_fails_naming_the_mistake(grade_id, wrong, match):
    _point.clear()
    grade_cell_fails(NOTEBOOK, grade_id, match, **{CHECKS[grade_id]: wrong})


@pytest.mark.parametrize("grade_id,valid", VALID, ids=[v[1].__name__ for v in VALID])
def test_valid_alternative_passes(grade_id, valid):
    run_grade_cell(NOTEBOOK, grade_id, **{CHECKS[grade_id]: valid})


def test_every_grade_cell_has_wrong_versions_and_alternatives():
    assert {w[0] for w in WRONG} == set(CHECKS)
    assert {v[0] for v in VALID} == set(CHECKS)


def test_conventions_section_states_the_course_conventions():
    import json

    from gradecells import solution_notebook

    cells = json.loads(solution_notebook(NOTEBOOK).read_text(encoding="utf-8"))["cells"]
    text = next("".join(c["source"]) for c in cells if c.get("id") == "conventions")
    assert text.startswith("## 7. Conventions")
    for fact in (r"$\lambda \sum W^2$", r"$v \leftarrow \mu v + g$", "probability of **dropping**",
                 "$m = 0.1$", "i, f, g, o", "`True` where a query **may** attend", "(x_2 - x_1)(y_2 - y_1)"):
        assert fact in text, fact
