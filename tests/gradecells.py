"""Run one grade cell of a solution notebook in this process, with chosen functions replaced.

Used by the "wrong versions" tests: each builds a classic mistake, runs the grade cell's
checks (hidden tests included) against it, and asserts that they fail with a message that
names the mistake.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def solution_notebook(assignment: str) -> Path:
    """The one main notebook of solutions/<assignment>/ (e.g. "01_knn")."""
    notebooks = sorted((ROOT / "solutions" / assignment).glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebook in solutions/{assignment}/")
    return notebooks[0]


def graded_ids(assignment: str, cell_type: str = "code") -> list[str]:
    """grade_ids of the assignment's autograded cells in notebook order ("markdown": its written
    questions). The form of each cell (points, checks_passed, locked setup) is `dlcourse check`'s."""
    cells = json.loads(solution_notebook(assignment).read_text(encoding="utf-8"))["cells"]
    return [c["metadata"]["nbgrader"]["grade_id"] for c in cells
            if c["cell_type"] == cell_type and c["metadata"].get("nbgrader", {}).get("grade")]


def _code_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return [c for c in cells if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _runs_before_grading(cell: dict) -> bool:
    """An answer cell, or given read-only code (locked): what a grade cell may rely on."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("solution") or (meta.get("locked") and not meta.get("grade")))


def _exec(cell: dict, namespace: dict[str, Any]) -> None:
    name = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", cell.get("id"))
    exec(compile(_source(cell), f"<cell {name}>", "exec"), namespace)


def notebook_namespace(assignment: str) -> dict[str, Any]:
    """The names defined by the setup cell and every answer and given cell of the solution."""
    cells = _code_cells(solution_notebook(assignment))
    namespace: dict[str, Any] = {"__name__": "__solution__"}
    _exec(cells[0], namespace)
    for cell in cells[1:]:
        if _runs_before_grading(cell):
            _exec(cell, namespace)
    return namespace


def run_grade_cell(assignment: str, grade_id: str, **overrides: Any) -> dict[str, Any]:
    """Execute the setup cell, the answer and given cells above `grade_id`, then the grade cell.

    `overrides` replace names (usually the function under test) after the cells above ran
    and before the grade cell runs. Returns the namespace. Raises whatever the grade cell
    raises (an AssertionError for a failed check).
    """
    cells = _code_cells(solution_notebook(assignment))
    namespace: dict[str, Any] = {"__name__": "__grade_cell__"}
    _exec(cells[0], namespace)
    for cell in cells[1:]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade_id") == grade_id:
            if not meta.get("grade"):
                raise ValueError(f"cell {grade_id!r} is not a grade cell")
            namespace.update(overrides)
            _exec(cell, namespace)
            return namespace
        if _runs_before_grading(cell):
            _exec(cell, namespace)
    raise KeyError(f"no grade cell {grade_id!r} in {assignment}")


def grade_cell_fails(assignment: str, grade_id: str, match: str, **overrides: Any) -> None:
    """Assert that the grade cell fails with a message matching `match` (a regex)."""
    with pytest.raises(AssertionError, match=match):
        run_grade_cell(assignment, grade_id, **overrides)
