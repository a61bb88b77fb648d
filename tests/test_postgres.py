"""Grading with the gradebook in PostgreSQL (several graders at once), on a real local server.

Skipped, with the reason, where PostgreSQL's server programs are not installed
(`apt-get install postgresql`; .ci/run installs them).
"""

from __future__ import annotations

import csv
import glob
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from dlcourse import course
from test_pipeline import run_dlcourse, scratch_course

ASSIGNMENT = "00_primer"
BINARIES = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or ([shutil.which("initdb")] if shutil.which("initdb") else [])
pytestmark = pytest.mark.skipif(not BINARIES, reason="PostgreSQL's initdb not found: apt-get install postgresql")


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its programs as the `postgres` user."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url():
    pytest.importorskip("psycopg2", reason="psycopg2 is not installed: pip install -e '.[dev]'")
    bindir = Path(BINARIES[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="dlcourse-pg-"))
    base.chmod(0o777)
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    sockets.chmod(0o777)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres")
    subprocess.run(_as_server_user([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "grader"]),
                   check=True, capture_output=True)
    subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"),
                                    "-o", f"-k {sockets} -c listen_addresses=''", "start"]), check=True,
                   capture_output=True)
    try:
        subprocess.run(_as_server_user([str(bindir / "createdb"), "-h", str(sockets), "-U", "grader", "gradebook"]),
                       check=True, capture_output=True)
        yield f"postgresql+psycopg2://grader@/gradebook?host={sockets}"
    finally:
        subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def test_grading_and_feedback_use_the_configured_postgresql_gradebook(tmp_path, postgres_url):
    root = scratch_course(tmp_path, ASSIGNMENT)
    with open(root / course.CONFIG_NAME, "a", encoding="utf-8") as config:
        config.write(f"\nc.CourseDirectory.db_url = {postgres_url!r}\n")
    for student, folder in (("alice", course.SOURCE_DIR), ("bob", course.RELEASE_DIR)):
        target = root / "submitted" / student / ASSIGNMENT
        target.mkdir(parents=True)
        shutil.copy2(root / folder / ASSIGNMENT / "primer.ipynb", target / "primer.ipynb")
    for attempt in range(2):  # a re-grade replaces each submission's rows, in the same database
        result = run_dlcourse(root, "grade", ASSIGNMENT, "--workers", "2")
        assert result.returncode == 0, result.stdout + result.stderr
    assert not (root / "gradebook.db").exists(), "grading wrote an SQLite gradebook instead of PostgreSQL's"
    with open(root / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert rows["alice"]["autograded"] == "7" and rows["bob"]["autograded"] == "0"
    from nbgrader.api import Gradebook
    with Gradebook(postgres_url, "dlcourse") as gradebook:
        assert gradebook.find_submission(ASSIGNMENT, "alice").score == 7
        assert len(gradebook.assignment_submissions(ASSIGNMENT)) == 2
    feedback = run_dlcourse(root, "feedback", ASSIGNMENT)
    assert feedback.returncode == 0 and (root / "feedback" / "alice" / ASSIGNMENT / "primer.html").is_file()
