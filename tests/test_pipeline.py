"""The grading pipeline, through nbgrader itself, for every assignment of the course.

One `dlcourse grade` run per assignment grades two students in a scratch course:
- "blank": the untouched release notebook: 0 points, and the grader does not crash;
- "broken": the solution (submitted as is, hidden tests and all) with its last code answer
  replaced by the student stub: every other autograded cell gets full points, and it loses
  exactly the points of the grade cells that check that answer. (That the last answer's own
  checks pass on the solution is tested in-process by tests/test_NN_slug.py and nbval.)
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dlcourse import course

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENTS = course.assignments(ROOT)
STUB = 'raise NotImplementedError("broken on purpose by the pipeline test")'


def _nbgrader(cell: dict) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {})


def break_last_answer(notebook: dict) -> tuple[str, list[str]]:
    """Replace the last code answer by a stub; return its grade_id and the grade cells after it."""
    cells = notebook["cells"]
    answers = [i for i, c in enumerate(cells)
               if c["cell_type"] == "code" and _nbgrader(c).get("solution")]
    last = answers[-1]
    lines = "".join(cells[last]["source"]).splitlines()
    begin = next(i for i, line in enumerate(lines) if "### BEGIN SOLUTION" in line)
    end = next(i for i, line in enumerate(lines) if "### END SOLUTION" in line)
    indent = lines[begin][: len(lines[begin]) - len(lines[begin].lstrip())]
    cells[last]["source"] = "\n".join(lines[:begin] + [indent + STUB] + lines[end + 1:])
    checks = [_nbgrader(c)["grade_id"] for c in cells[last + 1:]
              if c["cell_type"] == "code" and _nbgrader(c).get("grade")]
    return _nbgrader(cells[last])["grade_id"], checks


def code_points(notebook: dict) -> dict[str, float]:
    """grade_id -> points of every autograded test cell."""
    return {_nbgrader(c)["grade_id"]: float(_nbgrader(c)["points"]) for c in notebook["cells"]
            if c["cell_type"] == "code" and _nbgrader(c).get("grade")}


def scratch_course(tmp_path: Path, assignment: str) -> Path:
    root = tmp_path / "course-root"
    root.mkdir()
    shutil.copy2(ROOT / course.CONFIG_NAME, root)
    for folder in (course.SOURCE_DIR, course.RELEASE_DIR):
        shutil.copytree(ROOT / folder / assignment, root / folder / assignment)
    return root


def run_dlcourse(root: Path, *args: str, timeout: int = 1200) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_CONFIG_PATH", "DLCOURSE_ROOT")}
    return subprocess.run([sys.executable, "-m", "dlcourse", *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)


def submission_scores(root: Path, assignment: str, student: str) -> dict[str, float]:
    """grade_id -> score of each autograded test cell of one graded submission."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return {grade.name: grade.score for notebook in submission.notebooks
                for grade in notebook.grades if grade.cell_type == "code"}


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_blank_zero_and_broken_loses_only_its_cell(tmp_path, assignment):
    root = scratch_course(tmp_path, assignment)
    source = next((root / course.SOURCE_DIR / assignment).glob("*.ipynb"))
    course_notebook = root / course.RELEASE_DIR / assignment / source.name
    solution = json.loads(source.read_text(encoding="utf-8"))
    points = code_points(solution)
    broken = json.loads(source.read_text(encoding="utf-8"))
    broken_answer, lost_checks = break_last_answer(broken)
    assert lost_checks, f"{assignment}: the last code answer ({broken_answer}) has no grade cell after it"
    for student, text in (("blank", course_notebook.read_text(encoding="utf-8")),
                          ("broken", json.dumps(broken))):
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        (folder / source.name).write_text(text, encoding="utf-8")

    result = run_dlcourse(root, "grade", assignment, "--workers", "2")
    assert result.returncode == 0, f"dlcourse grade failed:\n{result.stdout}\n{result.stderr}"

    blank_scores = submission_scores(root, assignment, "blank")
    assert sum(blank_scores.values()) == 0, f"{assignment}: the blank notebook scored {blank_scores}"
    broken_scores = submission_scores(root, assignment, "broken")
    expected = {k: (0.0 if k in lost_checks else v) for k, v in points.items()}
    assert broken_scores == expected, (
        f"{assignment}: breaking {broken_answer} should lose exactly {lost_checks}; got {broken_scores}")

    with open(root / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle) if row["assignment"] == assignment}
    broken_points = sum(v for k, v in points.items() if k not in lost_checks)
    assert float(rows["broken"]["autograded"]) == broken_points and float(rows["broken"]["autograded_max"]) == sum(
        points.values())
    assert rows["broken"]["status"] == "graded" and rows["broken"]["submitted_at"]
    assert float(rows["blank"]["autograded"]) == 0
    assert (root / "autograded" / "blank" / assignment / source.name).is_file()
