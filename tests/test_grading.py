"""`dlcourse grade` as an instructor relies on it: no grade lost, one run at a time, an honest CSV."""

from __future__ import annotations

import csv
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path


from dlcourse import course, gradebook
from test_pipeline import run_dlcourse, scratch_course, submission_scores

ASSIGNMENT = "00_primer"
FULL = {"check_one_hot": 1.0, "check_class_means": 1.0, "check_standardize_columns": 1.0,
        "check_moving_average": 2.0, "check_gradient": 1.0, "check_predict_on_device": 1.0}


def _course(tmp_path: Path, students: dict[str, str]) -> Path:
    """A scratch course with 00_primer; students: id -> "solution" or "blank"."""
    root = scratch_course(tmp_path, ASSIGNMENT)
    for student, kind in students.items():
        _submit(root, student, kind)
    return root


def _submit(root: Path, student: str, kind: str) -> None:
    folder = course.SOURCE_DIR if kind == "solution" else course.RELEASE_DIR
    text = (root / folder / ASSIGNMENT / "primer.ipynb").read_text(encoding="utf-8")
    target = root / "submitted" / student / ASSIGNMENT
    target.mkdir(parents=True, exist_ok=True)
    (target / "primer.ipynb").write_text(text, encoding="utf-8")


def _dlcourse_popen(root: Path, *args: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in ("JUPYTER_CONFIG_PATH", "DLCOURSE_ROOT")}
    return subprocess.Popen([sys.executable, "-m", "dlcourse", *args], cwd=root, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def _rows(root: Path) -> dict[str, dict]:
    with open(root / "grades.csv", newline="", encoding="utf-8") as handle:
        return {row["student_id"]: row for row in csv.DictReader(handle)}


def _gradebook_is_whole(root: Path, students: list[str]) -> dict[str, dict[str, float]]:
    """Integrity of the SQLite file, and each student's submission complete (all cells) or absent."""
    db = root / "gradebook.db"
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert connection.execute("SELECT COUNT(*) FROM alembic_version").fetchone()[0] == 1
        counts = dict(connection.execute(
            "SELECT sa.student_id, COUNT(*) FROM submitted_assignment sa GROUP BY sa.student_id").fetchall())
    assert all(count == 1 for count in counts.values()), f"a submission recorded twice: {counts}"
    scores = {}
    for student in students:
        if student in counts:
            scores[student] = submission_scores(root, ASSIGNMENT, student)
            assert set(scores[student]) == set(FULL), f"{student}'s submission is partial: {scores[student]}"
    return scores


def _grading_processes(root: Path) -> list[str]:
    """Command lines of the processes still working in this course's scratch folder."""
    found = []
    marker = str(root / ".grading")
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in command:
                found.append(command)
    return found


def test_duplicated_alembic_rows_of_older_versions_are_repaired(tmp_path):
    url = f"sqlite:///{tmp_path / 'gradebook.db'}"
    gradebook.open_gradebook(url, "course")
    with sqlite3.connect(tmp_path / "gradebook.db") as connection:
        version = connection.execute("SELECT version_num FROM alembic_version").fetchone()[0]
        connection.executemany("INSERT INTO alembic_version VALUES (?)", [(version,)] * 4095)
    gradebook.open_gradebook(url, "course")
    with sqlite3.connect(tmp_path / "gradebook.db") as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [(version,)]


def test_a_second_run_refuses_while_one_grades_and_the_gradebook_stays_whole(tmp_path):
    root = _course(tmp_path, {"alice": "solution", "bob": "blank"})
    first = _dlcourse_popen(root, "grade", ASSIGNMENT)
    deadline = time.monotonic() + 120
    while not (root / ".grading").is_dir() and time.monotonic() < deadline:
        time.sleep(0.2)
    second = run_dlcourse(root, "grade", ASSIGNMENT)
    out, err = first.communicate(timeout=900)
    assert first.returncode == 0, out + err
    assert second.returncode == 2 and "another `dlcourse grade` is running on this course" in second.stderr
    scores = _gradebook_is_whole(root, ["alice", "bob"])
    assert scores["alice"] == FULL and sum(scores["bob"].values()) == 0


def test_a_killed_run_loses_no_grade_and_the_next_run_cleans_up(tmp_path):
    students = ["alice", "bob", "carol"]
    root = _course(tmp_path, dict.fromkeys(students, "solution"))
    baseline = run_dlcourse(root, "grade", ASSIGNMENT, "--workers", "2")
    assert baseline.returncode == 0, baseline.stdout + baseline.stderr
    assert _gradebook_is_whole(root, students) == dict.fromkeys(students, FULL)
    _submit(root, "bob", "blank")  # a re-submission, so a re-grade changes bob's row
    rng = random.Random(22)
    for attempt in range(3):
        run = _dlcourse_popen(root, "grade", ASSIGNMENT, "--workers", "2")
        time.sleep(rng.uniform(2.0, 25.0))
        os.killpg(run.pid, signal.SIGKILL)  # the run and everything it started
        run.communicate()
        scores = _gradebook_is_whole(root, students)
        assert set(scores) == set(students), f"attempt {attempt}: a submission vanished: {sorted(scores)}"
        for student in ("alice", "carol"):
            assert scores[student] == FULL, f"attempt {attempt}: {student} lost points"
        assert scores["bob"] in (FULL, dict.fromkeys(FULL, 0.0)), f"attempt {attempt}: bob is half-merged"
    final = run_dlcourse(root, "grade", ASSIGNMENT, "--workers", "2")
    assert final.returncode == 0, final.stdout + final.stderr
    scores = _gradebook_is_whole(root, students)
    assert scores["alice"] == scores["carol"] == FULL and sum(scores["bob"].values()) == 0
    assert not list((root / ".grading").iterdir()) and not _grading_processes(root)


def test_grades_csv_tells_missing_from_zero_and_keeps_a_stale_grade_visible(tmp_path):
    root = _course(tmp_path, {"alice": "solution", "bob": "blank"})
    assert run_dlcourse(root, "grade", ASSIGNMENT).returncode == 0
    gradebook.register_students(f"sqlite:///{root / 'gradebook.db'}", ["dave"])  # on the roster, never submitted
    rerun = run_dlcourse(root, "grade", ASSIGNMENT, "--student", "alice", "--submission-timeout", "1")
    assert rerun.returncode == 1 and "the limit for a whole submission" in rerun.stdout
    rows = _rows(root)
    assert rows["dave"]["status"] == "missing" and rows["dave"]["autograded"] == ""
    assert rows["bob"]["status"] == "graded" and rows["bob"]["autograded"] == "0"
    alice = rows["alice"]
    assert alice["status"] == "timed out" and "is kept: stale" in alice["reason"]
    assert alice["autograded"] == "7" and alice["submitted_at"] and alice["graded_at"]
    for row in rows.values():
        assert row["autograded_max"] in ("", "7") and row["manual_max"] in ("", "0")
