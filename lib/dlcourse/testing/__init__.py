"""Assertions for grade cells that a student can read.

Every check prints one ✓ line when it passes. When it fails it raises `CheckFailed`, shown
in Jupyter as one red "✗ message" (what was expected, what came back, the likely mistake by
name, a hint), never as a traceback through this library.

- `checks`: values (`assert_close`, `assert_shape`, `assert_dtype`, `check`, `checks_passed`).
- `behaviour`: how a function works (loops counted at two sizes, torch used where NumPy is
  asked for, inputs changed in place, the device a model ran on, the law of random draws).
"""

from dlcourse.testing.behaviour import (
    DeviceProbe, assert_at_most_one_loop, assert_distribution, assert_hand_written, assert_inputs_unchanged,
    assert_moves_to_device, assert_no_loops, assert_not_a_view, count_lines, is_user_code, library_calls, shared_inputs,
    student_side, torch_calls)
from dlcourse.testing.checks import (
    CheckFailed, assert_close, assert_dtype, assert_gradient, assert_shape, check, checks_passed, tolerances)

__all__ = [
    "CheckFailed", "DeviceProbe", "assert_at_most_one_loop", "assert_close", "assert_distribution",
    "assert_dtype", "assert_gradient", "assert_hand_written", "assert_inputs_unchanged", "assert_moves_to_device",
    "assert_no_loops", "assert_not_a_view", "assert_shape", "check", "checks_passed", "count_lines",
    "is_user_code", "library_calls", "shared_inputs", "student_side", "tolerances", "torch_calls",
]
