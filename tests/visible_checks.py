"""Run only the VISIBLE part of a grade cell (what the student runs), for the wrong-version tests.

A pitfall that a notebook names as a learning goal must fail a check the student sees, not only
a hidden one: `visible_part_fails` runs the grade cell without its `### BEGIN HIDDEN TESTS` block.
(The same as tests/gradecells.run_grade_cell otherwise; a candidate for that module.)
"""

from __future__ import annotations

from typing import Any

import pytest
from gradecells import _code_cells, _exec, _runs_before_grading, grade_cell_fails, solution_notebook

HIDDEN_MARKER = "### BEGIN HIDDEN TESTS"


def run_visible_part(assignment: str, grade_id: str, **overrides: Any) -> dict[str, Any]:
    """Like run_grade_cell, but the grade cell's source stops at its hidden tests."""
    cells = _code_cells(solution_notebook(assignment))
    namespace: dict[str, Any] = {"__name__": "__grade_cell__"}
    _exec(cells[0], namespace)
    for cell in cells[1:]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") == grade_id:
            source = "".join(cell["source"]).split(HIDDEN_MARKER)[0]
            namespace.update(overrides)
            exec(compile(source, f"<cell {grade_id} (visible part)>", "exec"), namespace)
            return namespace
        if _runs_before_grading(cell):
            _exec(cell, namespace)
    raise KeyError(f"no grade cell {grade_id!r} in {assignment}")


def visible_part_fails(assignment: str, grade_id: str, match: str, visible_only: bool = True,
                       **overrides: Any) -> None:
    """Assert that the grade cell fails with a message matching `match`: in its visible part
    when `visible_only`, else anywhere (hidden tests included)."""
    if not visible_only:
        grade_cell_fails(assignment, grade_id, match, **overrides)
        return
    with pytest.raises(AssertionError, match=match):
        run_visible_part(assignment, grade_id, **overrides)
