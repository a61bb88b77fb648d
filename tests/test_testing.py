"""dlcourse.testing: friendly assertions for grade cells."""

import numpy as np
import pytest
import torch

from dlcourse.testing import assert_close, assert_dtype, assert_gradient, assert_shape, check


def test_assert_close_passes_and_prints_one_line(capsys):
    assert_close("dW", np.ones((2, 3)) + 1e-9, np.ones((2, 3)))
    captured = capsys.readouterr()
    assert captured.out.startswith("✓ dW matches (max abs error 1.0e-09)")
    assert captured.out.count("\n") == 1 and captured.err == ""


def test_assert_close_accepts_tensors_with_grad_and_scalars(capsys):
    actual = torch.tensor([1.0, 2.0], requires_grad=True) * 1
    assert_close("x", actual, np.array([1.0, 2.0]))
    assert_close("loss", 2.0, np.float64(2.0))
    assert_close("n", torch.tensor(3), 3)
    assert capsys.readouterr().err == ""


def test_wrong_values_report_errors_position_and_hint():
    with pytest.raises(AssertionError) as info:
        assert_close("dW", np.array([1.0, 2.0, 3.5]), np.array([1.0, 2.0, 3.0]), hint="check the bias term")
    message = str(info.value)
    for part in ("dW does not match", "1 of 3", "max abs error:  5.000e-01", "index (2,)",
                 "got 3.5, expected 3", "max rel error", "expected: [1., 2., 3.]", "Hint: check the bias term"):
        assert part in message, part


def test_tolerances_are_honoured():
    assert_close("a", 1.0 + 1e-4, 1.0, rtol=1e-3)
    with pytest.raises(AssertionError):
        assert_close("a", 1.0 + 1e-4, 1.0, rtol=1e-6, atol=0)


def test_shape_is_reported_before_values():
    with pytest.raises(AssertionError, match=r"wrong shape: expected \(3, 1\), got \(3,\)"):
        assert_close("scores", np.full(3, np.nan), np.zeros((3, 1)))


def test_non_finite_values_are_named():
    with pytest.raises(AssertionError, match=r"1 NaN and 1 inf of 3 .*index \(1,\)"):
        assert_close("probs", np.array([0.5, np.nan, np.inf]), np.array([0.5, 0.2, 0.3]))


def test_matching_infinities_pass_and_missing_ones_fail():
    assert_close("x", np.array([np.inf, 1.0]), np.array([np.inf, 1.0]))
    with pytest.raises(AssertionError, match="expected inf"):
        assert_close("x", np.array([1.0, 1.0]), np.array([np.inf, 1.0]))


def test_none_means_missing_return():
    with pytest.raises(AssertionError, match="forget to `return`"):
        assert_close("out", None, 1.0)


def test_large_arrays_are_not_dumped():
    with pytest.raises(AssertionError) as info:
        assert_close("big", np.zeros(1000), np.ones(1000))
    assert "expected:" not in str(info.value) and "1000 of 1000" in str(info.value)


def test_assert_shape_with_wildcards(capsys):
    assert_shape("h", torch.zeros(4, 7), (4, None))
    assert "✓ h has shape (4, 7)" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"expected \(any, 1\), got \(4, 7\).\nHint: keepdims"):
        assert_shape("h", np.zeros((4, 7)), (None, 1), hint="keepdims")


def test_assert_dtype_mixes_numpy_and_torch(capsys):
    assert_dtype("y", torch.zeros(2, dtype=torch.int64), np.int64)
    assert_dtype("x", np.zeros(2, dtype=np.float32), torch.float32)
    assert "✓ y has dtype int64" in capsys.readouterr().out
    with pytest.raises(AssertionError, match="dtype float64, expected float32"):
        assert_dtype("x", np.zeros(2), "float32")


def test_check_raises_its_message_only_when_false(capsys):
    check(True, "never shown")
    check(1 < 2, "never shown", success="order is fine")
    assert capsys.readouterr().out == "✓ order is fine\n"
    with pytest.raises(AssertionError, match="^forgot the square root$"):
        check(False, "forgot the square root")


def test_assert_gradient_against_numeric_gradient():
    x = np.random.default_rng(0).normal(size=(3, 2))
    assert_gradient("dx", lambda v: np.sum(v**3), x, 3 * x**2)
    upstream = np.ones((3, 2)) * 2
    assert_gradient("dx", lambda v: np.sin(v), x, np.cos(x) * upstream, upstream=upstream)
    with pytest.raises(AssertionError, match="(?s)dx does not match.*\nHint: factor 3"):
        assert_gradient("dx", lambda v: np.sum(v**3), x, x**2, hint="factor 3")


# --------------------------------------------------------------------------- failures read short
def test_a_failed_check_renders_as_one_red_line_with_its_hint():
    from dlcourse.testing import CheckFailed

    with pytest.raises(CheckFailed) as info:
        assert_close("dW", np.array([1.0, 2.0]), np.array([1.0, 3.0]), hint="missing factor 2")
    rendered = info.value._render_traceback_()
    assert rendered[0].startswith("\x1b[0;31m✗ dW does not match")
    assert rendered[-1] == "Hint: missing factor 2"
    assert not any("testing" in line or "File " in line for line in rendered)


def test_checks_passed_states_points_and_hidden_checks(capsys):
    from dlcourse.testing import checks_passed

    checks_passed(2)
    checks_passed(1, hidden=False)
    out = capsys.readouterr().out.splitlines()
    assert out == ["✓ All visible checks passed (2 points; the autograder also runs hidden checks).",
                   "✓ All visible checks passed (1 point; these are all of its checks)."]


# --------------------------------------------------------------------------- tolerances and mistakes
def test_a_float32_answer_gets_a_float32_tolerance_against_a_float64_oracle():
    rng = np.random.default_rng(0)
    expected = rng.normal(size=(50, 10))
    noisy32 = (expected * (1 + 3e-7 * rng.normal(size=expected.shape))).astype(np.float32)
    assert_close("dW", noisy32, expected, rtol=1e-7, atol=1e-10)  # floors raise the explicit values
    with pytest.raises(AssertionError):
        assert_close("dW", noisy32.astype(np.float64) + 1e-3, expected)


def test_float64_keeps_explicit_tight_tolerances():
    with pytest.raises(AssertionError):
        assert_close("x", 1.0 + 1e-7, 1.0, rtol=1e-9, atol=0)


def test_integer_results_must_be_exact():
    from dlcourse.testing import tolerances

    assert tolerances(np.array([1, 2]), np.array([1, 2])) == (0.0, 0.0)
    with pytest.raises(AssertionError):
        assert_close("counts", np.array([1, 3]), np.array([1, 2]))


def test_a_known_mistake_is_named_instead_of_numbers():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    mistakes = {"the result is transposed: rows are examples": expected.T,
                "this is the CS231n convention (lr inside v); ours is v = mu v + g": expected * 2}
    with pytest.raises(AssertionError, match=r"^out: the result is transposed") as info:
        assert_close("out", expected.T, expected, mistakes=mistakes)
    assert "max abs error" not in str(info.value)
    with pytest.raises(AssertionError, match="CS231n convention"):
        assert_close("out", expected * 2, expected, mistakes=mistakes)
    assert_close("out", expected, expected, mistakes={"same as the answer": expected})  # right wins


def test_a_known_mistake_of_another_shape_is_named():
    with pytest.raises(AssertionError, match="one row per class"):
        assert_close("means", np.zeros((4, 3)), np.zeros((3, 4)), mistakes={"one row per class": np.zeros((4, 3))})


# --------------------------------------------------------------------------- loops, counted
def _distances_vectorized(a, b):
    return np.sqrt(np.maximum((a ** 2).sum(1)[:, None] + (b ** 2).sum(1)[None] - 2 * a @ b.T, 0))


def _distances_one_loop(a, b):
    out = np.zeros((len(a), len(b)))
    for i in range(len(a)):
        out[i] = np.sqrt(((a[i] - b) ** 2).sum(axis=1))
    return out


def _distances_two_loops(a, b):
    return np.array([[np.sqrt(((x - y) ** 2).sum()) for y in b] for x in a])


def _row_norm(row):
    return np.sqrt((row ** 2).sum())


def _distances_via_helper(a, b):  # the loop hides in a helper and a callback
    return np.stack([np.apply_along_axis(_row_norm, 1, x - b) for x in a])


def _distances_vectorize(a, b):
    pair = np.vectorize(lambda i, j: np.sqrt(((a[i] - b[j]) ** 2).sum()))
    return pair(*np.meshgrid(np.arange(len(a)), np.arange(len(b)), indexing="ij"))


def _distances_cdist_callback(a, b):
    from scipy.spatial.distance import cdist
    return cdist(a, b, lambda x, y: np.sqrt(((x - y) ** 2).sum()))


def _problem(n):
    rng = np.random.default_rng(n)
    return rng.normal(size=(n, 3)), rng.normal(size=(2 * n, 3))


def test_vectorized_code_runs_no_loop(capsys):
    from dlcourse.testing import assert_at_most_one_loop, assert_no_loops

    assert_no_loops("dist", _distances_vectorized, _problem)
    assert_at_most_one_loop("dist", _distances_vectorized, _problem)
    assert_at_most_one_loop("dist", _distances_one_loop, _problem)
    assert "✓ dist runs no Python loop over the data" in capsys.readouterr().out


@pytest.mark.parametrize("function", [_distances_one_loop, _distances_two_loops, _distances_via_helper,
                                      _distances_vectorize, _distances_cdist_callback])
def test_every_kind_of_python_loop_is_caught_and_located(function):
    from dlcourse.testing import assert_no_loops

    with pytest.raises(AssertionError, match=r"must not loop in Python over the data, but line \d+ of \S+ "
                                             r"\(`.+`\) ran \d+ times for size 8 and \d+ times for size 32"):
        assert_no_loops("dist", function, _problem)


@pytest.mark.parametrize("function", [_distances_two_loops, _distances_via_helper, _distances_vectorize])
def test_two_nested_loops_are_more_than_one(function):
    from dlcourse.testing import assert_at_most_one_loop

    with pytest.raises(AssertionError, match="grows faster than the data"):
        assert_at_most_one_loop("dist", function, _problem)


def test_library_code_is_not_counted_but_user_callbacks_are():
    from dlcourse.testing import count_lines

    _, counts = count_lines(np.linalg.norm, np.ones((100, 3)), axis=1)
    assert sum(counts.values()) == 0
    _, counts = count_lines(lambda x: list(map(_row_norm, x)), np.ones((5, 3)))
    assert max(c for (_, _, name), c in counts.items() if name == "_row_norm") == 5


# --------------------------------------------------------------------------- behaviour
def test_torch_inside_a_numpy_exercise_is_named():
    from dlcourse.testing import assert_hand_written

    def relu_with_torch(x):
        return torch.relu(torch.from_numpy(x)).numpy()

    def relu_by_hand(x):
        return np.maximum(x, 0)

    with pytest.raises(AssertionError, match=r"written by hand with NumPy, but it calls torch.from_numpy"):
        assert_hand_written("relu", relu_with_torch, np.ones(3))

    def distances_with_scipy(a, b):
        from scipy.spatial.distance import cdist
        return cdist(a, b)

    assert_hand_written("dist", distances_with_scipy, np.ones((2, 3)), np.ones((4, 3)))  # torch only, by default
    with pytest.raises(AssertionError, match=r"calls scipy.spatial.distance.cdist"):
        assert_hand_written("dist", distances_with_scipy, np.ones((2, 3)), np.ones((4, 3)),
                            forbidden=("torch", "sklearn", "scipy.spatial"))
    assert_close("relu", assert_hand_written("relu", relu_by_hand, -np.ones(3)), np.zeros(3))


def test_changing_an_input_in_place_is_named_unless_allowed():
    from dlcourse.testing import assert_inputs_unchanged

    def step(w, config):
        w -= 0.1
        config["t"] = 1
        return w, config

    with pytest.raises(AssertionError, match="changed its argument 1 in place"):
        assert_inputs_unchanged("step", step, np.ones(3), {}, may_change=[1])
    w = np.ones(3)
    assert_inputs_unchanged("step", lambda w, c: (w - 0.1, c), w, {"t": 0})


def test_returning_a_view_is_named():
    from dlcourse.testing import assert_not_a_view

    x = np.arange(6.0)
    with pytest.raises(AssertionError, match="returns a view of its argument 1"):
        assert_not_a_view("reshape", lambda a, n: a.reshape(n, -1), x, 2)
    with pytest.raises(AssertionError, match="returns a view of its argument 2"):
        assert_not_a_view("pair", lambda n, a: (a.copy(), a[1:]), 2, x)
    assert_close("copy", assert_not_a_view("copy", lambda a: a.reshape(2, 3).copy(), x), x.reshape(2, 3))


def test_forgetting_to_move_the_model_or_the_data_is_caught_without_a_gpu():
    from dlcourse.testing import assert_moves_to_device

    def predict(model, X, device, move_model=True, move_data=True):
        if move_model:
            model = model.to(device)
        with torch.no_grad():
            inputs = torch.as_tensor(X, dtype=torch.float32, device=device if move_data else "cpu")
            return model(inputs).cpu().numpy()

    X = np.ones((2, 4))
    assert_moves_to_device("predict", lambda m, d: predict(m, X, d), 4, 3)
    with pytest.raises(AssertionError, match="call model.to"):
        assert_moves_to_device("predict", lambda m, d: predict(m, X, d, move_model=False), 4, 3)
    with pytest.raises(AssertionError, match="inputs on cpu"):
        assert_moves_to_device("predict", lambda m, d: predict(m, X, d, move_data=False), 4, 3)


def test_a_uniform_draw_with_the_right_variance_is_not_a_normal_one():
    from dlcourse.testing import assert_distribution

    rng = np.random.default_rng(0)
    assert_distribution("W", rng.normal(0.0, 0.1, 4000), "normal", 0.0, 0.1)
    assert_distribution("W", rng.uniform(-0.3, 0.3, 4000), "uniform", 0.0, 0.3 / 3 ** 0.5)
    with pytest.raises(AssertionError, match="does not look like N"):
        assert_distribution("W", rng.uniform(-0.1 * 3 ** 0.5, 0.1 * 3 ** 0.5, 4000), "normal", 0.0, 0.1)
    with pytest.raises(AssertionError, match="does not look like N"):
        assert_distribution("W", rng.normal(0.0, 0.2, 4000), "normal", 0.0, 0.1)
