"""Autograde a class: each submission in a scratch copy of its own, then one merged gradebook.

nbgrader cannot autograde in parallel (its issue 174), and one hung or crashing submission
must not stop the others. So each (student, assignment) is graded by its own `nbgrader
autograde` process, in a scratch course folder with a copy of the gradebook, under a per-cell
time limit, a wall-clock limit and a memory limit. The new rows of each scratch gradebook are
then merged into the course gradebook, and `nbgrader export` writes the grades CSV.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

from .course import SOURCE_DIR, CourseError, assignments, generate, run_nbgrader

GRADEBOOK = "gradebook.db"


@dataclass
class Outcome:
    """What happened to one submission. `status` is "graded", "timed out" or "failed"."""

    student: str
    assignment: str
    status: str
    score: float = 0.0
    max_score: float = 0.0
    needs_manual_grade: bool = False
    detail: str = ""


def find_submissions(root: Path, assignment: str | None, students: list[str] | None) -> list[tuple[str, str]]:
    """(student, assignment) pairs found under submitted/<student>/<assignment>/."""
    submitted = root / "submitted"
    if not submitted.is_dir():
        raise CourseError(f"nothing to grade: put submissions in {submitted}/<student>/<assignment>/")
    known = assignments(root)
    if assignment and assignment not in known:
        raise CourseError(f"no assignment {assignment!r} in {SOURCE_DIR}/; known: {', '.join(known)}")
    pairs = []
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir()):
        if students and student_dir.name not in students:
            continue
        for name in [assignment] if assignment else known:
            if (student_dir / name).is_dir():
                pairs.append((student_dir.name, name))
    if not pairs:
        raise CourseError(f"no submission matches under {submitted}/ (student {students or 'any'}, "
                          f"assignment {assignment or 'any'})")
    return pairs


def _memory_limiter(memory_mb: int):
    if not memory_mb or sys.platform == "win32":
        return None

    def limit() -> None:
        import resource
        size = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (size, size))

    return limit


def _read_score(db_path: Path, student: str, assignment: str) -> tuple[float, float, bool]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{db_path}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        return submission.score, submission.max_score, submission.needs_manual_grade


def grade_one(root: Path, student: str, assignment: str, cell_timeout: int,
              submission_timeout: int, memory_mb: int, threads: int = 1) -> Outcome:
    """Autograde one submission in a scratch folder; the course gradebook is not touched.

    `threads` caps the BLAS and torch threads of the submission's kernel, so that parallel
    workers share the cores instead of fighting over them.
    """
    scratch = Path(tempfile.mkdtemp(prefix=f"dlcourse-grade-{student}-"))
    try:
        shutil.copy2(root / GRADEBOOK, scratch / GRADEBOOK)
        shutil.copytree(root / "submitted" / student / assignment, scratch / "submitted" / student / assignment)
        shutil.copytree(root / SOURCE_DIR / assignment, scratch / SOURCE_DIR / assignment)
        try:
            result = run_nbgrader(root, [
                "autograde", assignment, "--force", f"--student={student}",
                f"--CourseDirectory.root={scratch}", f"--CourseDirectory.db_url=sqlite:///{scratch / GRADEBOOK}",
                f"--Execute.timeout={cell_timeout}",
            ], timeout=submission_timeout, extra_env={"OMP_NUM_THREADS": str(threads)},
                preexec_fn=_memory_limiter(memory_mb))
        except subprocess.TimeoutExpired:
            return Outcome(student, assignment, "timed out",
                           detail=f"still running after {submission_timeout} s; stopped")
        if result.returncode != 0:
            last_lines = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
            return Outcome(student, assignment, "failed", detail=last_lines)
        score, max_score, manual = _read_score(scratch / GRADEBOOK, student, assignment)
        _merge(root, scratch, student, assignment)
        return Outcome(student, assignment, "graded", score, max_score, manual)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _merge(root: Path, scratch: Path, student: str, assignment: str) -> None:
    """Copy the scratch results into the course: autograded/ files and new gradebook rows.

    Every scratch gradebook starts as a copy of the course gradebook and nbgrader keys its
    rows by UUID, so the rows already there are ignored and the new ones are added.
    """
    from nbgrader.api import Gradebook, MissingEntry

    target = root / "autograded" / student / assignment
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(scratch / "autograded" / student / assignment, target)
    with Gradebook(f"sqlite:///{root / GRADEBOOK}") as gradebook:
        try:
            gradebook.remove_submission(assignment, student)
        except MissingEntry:
            pass
    connection = sqlite3.connect(root / GRADEBOOK)
    try:
        connection.execute("ATTACH DATABASE ? AS scratch", (str(scratch / GRADEBOOK),))
        tables = [row[0] for row in connection.execute(
            "SELECT name FROM scratch.sqlite_master WHERE type = 'table'")]
        for table in tables:
            connection.execute(f'INSERT OR IGNORE INTO main."{table}" SELECT * FROM scratch."{table}"')
        connection.commit()
    finally:
        connection.close()


def _register_students(root: Path, students: set[str]) -> None:
    """Make sure every student is in the course gradebook (so the export lists them)."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / GRADEBOOK}") as gradebook:
        for student in sorted(students):
            gradebook.update_or_create_student(student)


def grade(root: Path, assignment: str | None = None, students: list[str] | None = None,
          workers: int = 1, cell_timeout: int = 120, submission_timeout: int = 900,
          memory_mb: int = 8192, csv_path: Path | None = None) -> list[Outcome]:
    """Autograde every matching submission, `workers` at a time, then export the grades CSV."""
    pairs = find_submissions(root, assignment, students)
    with tempfile.TemporaryDirectory(prefix="dlcourse-release-") as scratch:
        # Puts (or refreshes) each assignment's cells in the course gradebook; the release
        # itself goes to a scratch folder and is thrown away.
        generate(root, sorted({name for _, name in pairs}), into=Path(scratch), db_path=root / GRADEBOOK)
    _register_students(root, {student for student, _ in pairs})
    outcomes = []
    workers = max(1, workers)
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(grade_one, root, student, name, cell_timeout, submission_timeout,
                               memory_mb, threads) for student, name in pairs]
        for future in as_completed(futures):
            outcomes.append(future.result())
    outcomes.sort(key=lambda o: (o.assignment, o.student))
    csv_path = csv_path or root / "grades.csv"
    result = run_nbgrader(root, ["export", f"--to={csv_path}"])
    if result.returncode != 0:
        raise CourseError(f"nbgrader export failed:\n{result.stdout}{result.stderr}")
    return outcomes


def report(outcomes: list[Outcome]) -> str:
    """A plain table of outcomes, one line per submission."""
    lines = [f"{'assignment':<16} {'student':<16} {'status':<10} score"]
    for o in outcomes:
        score = f"{o.score:g} / {o.max_score:g}" if o.status == "graded" else "-"
        manual = " (+ manual grading pending)" if o.needs_manual_grade else ""
        lines.append(f"{o.assignment:<16} {o.student:<16} {o.status:<10} {score}{manual}")
        if o.detail:
            lines.extend("    " + line for line in o.detail.splitlines())
    return "\n".join(lines)
