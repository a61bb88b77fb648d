"""Autograde a class: every submission alone and sandboxed, then merged one whole submission at a time.

For each (student, assignment) under submitted/<student>/<assignment>/:
1. the folder is checked (a notebook that is not one, empty, misnamed or extra is reported);
2. `nbgrader autograde` runs in a scratch course of its own (the assignment's release and
   source, the submission, a small gradebook with the course's ids), under a wall-clock
   limit; nbgrader rebuilds the notebook from the course's cells and runs it through
   `dlcourse.remote.runner` (per-cell time limit, memory limit, sandbox: see autograde.py);
3. its rows are merged into the course gradebook in one transaction (`dlcourse.gradebook`),
   and its autograded notebook replaces the old one in one rename.
One run at a time per course (a lock file); what a killed run left behind (scratch folders,
processes) is removed by the next. grades.csv is always written, with every student and
assignment: missing, graded, flagged (tampering), failed or timed out (an earlier grade is then
kept and marked as such), autograded and manual points apart.
"""

from __future__ import annotations

import contextlib
import csv
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

from . import gradebook
from .autograde import PROTECT_ENV, REPORT_ENV
from .course import RELEASE_DIR, SOURCE_DIR, CourseError, assignments, generate, nbgrader_settings, run_nbgrader

WORK_DIR = ".grading"          # scratch courses of the run in progress (git-ignored)
LOCK_FILE = ".grading.lock"
STATUS_FILE = "grading-status.json"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$")


@dataclass
class Outcome:
    """What happened to one submission in this run."""

    student: str
    assignment: str
    status: str                      # graded, flagged, invalid, failed, timed out
    reason: str = ""                 # one line: why it is not simply "graded"
    score: gradebook.Score | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)


@dataclass
class Submission:
    student: str
    assignment: str
    files: dict[str, Path]           # expected notebook name -> the file to grade as that notebook
    timestamp: str
    notes: list[str]


# ------------------------------------------------------------------------------------ finding
def _notebook_problem(path: Path) -> str | None:
    """Why `path` cannot be graded as a notebook (None when it can)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return f"{path.name} cannot be read ({error.__class__.__name__})"
    if not text.strip():
        return f"{path.name} is empty"
    try:
        data = json.loads(text)
    except ValueError as error:
        return f"{path.name} is not a notebook (not JSON: {error})"
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list) or data.get("nbformat") != 4:
        return f"{path.name} is not a version-4 notebook"
    return None


def _timestamp(folder: Path, files: list[Path]) -> str:
    stamp = folder / "timestamp.txt"
    if stamp.is_file() and stamp.read_text(encoding="utf-8").strip():
        return stamp.read_text(encoding="utf-8").strip()
    moment = max(p.stat().st_mtime for p in files)
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f UTC")


def find_submissions(root: Path, assignment: str | None, students: list[str] | None
                     ) -> tuple[list[Submission], list[Outcome]]:
    """The submissions to grade, and the folders that cannot be graded (with the reason)."""
    submitted = root / "submitted"
    if not submitted.is_dir():
        raise CourseError(f"nothing to grade: put submissions in {submitted}/<student>/<assignment>/")
    known = assignments(root)
    if assignment and assignment not in known:
        raise CourseError(f"no assignment {assignment!r} in {SOURCE_DIR}/; known: {', '.join(known)}")
    found, invalid = [], []
    for student_dir in sorted(p for p in submitted.iterdir() if p.is_dir() and not p.name.startswith(".")):
        student = student_dir.name
        if students and student not in students:
            continue
        for name in [assignment] if assignment else known:
            folder = student_dir / name
            if not folder.is_dir():
                continue
            if not STUDENT_ID.match(student):
                invalid.append(Outcome(student, name, "invalid", f"student folder name {student!r} is not a valid id"))
                continue
            found_or_reason = _submission(root, student, name, folder)
            (found if isinstance(found_or_reason, Submission) else invalid).append(found_or_reason)
    if not found and not invalid:
        raise CourseError(f"no submission matches under {submitted}/ (student {students or 'any'}, "
                          f"assignment {assignment or 'any'})")
    return found, invalid


def _submission(root: Path, student: str, name: str, folder: Path) -> Submission | Outcome:
    expected = sorted(p.name for p in (root / SOURCE_DIR / name).glob("*.ipynb"))
    present = sorted(p for p in folder.glob("*.ipynb") if p.is_file())
    files = {e: folder / e for e in expected if (folder / e).is_file()}
    extras = [p for p in present if p.name not in files]
    notes = []
    if len(expected) == 1 and not files and len(extras) == 1:
        files[expected[0]] = extras.pop()
        notes.append(f"graded {files[expected[0]].name} as {expected[0]} (the file name was not the assignment's)")
    notes += [f"ignored {p.name}: not a notebook of this assignment" for p in extras]
    if not files:
        return Outcome(student, name, "invalid", f"no notebook in submitted/{student}/{name}/ "
                                                 f"(expected {', '.join(expected)})", notes=notes)
    for expected_name, path in files.items():
        problem = _notebook_problem(path)
        if problem:
            return Outcome(student, name, "invalid", problem, notes=notes)
    return Submission(student, name, files, _timestamp(folder, list(files.values())), notes)


# ------------------------------------------------------------------------------------ one run
@contextlib.contextmanager
def course_lock(root: Path):
    """Hold the course's grading lock, or refuse at once when another run holds it."""
    path = root / LOCK_FILE
    handle = open(path, "a+", encoding="utf-8")
    try:
        if sys.platform == "win32":
            import msvcrt
            try:
                msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)
            except OSError:
                raise CourseError("another `dlcourse grade` is running on this course; wait until it ends") from None
        else:
            import fcntl
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise CourseError(f"another `dlcourse grade` is running on this course ({holder}); "
                                  "wait until it ends, or stop it") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}")
        handle.flush()
        yield
    finally:
        handle.close()


def clean_leftovers(root: Path) -> list[str]:
    """Stop the processes and remove the scratch folders that a killed run left (the lock is held)."""
    removed = []
    for copy in root.glob(".*.db.*.tmp"):  # a gradebook copy that _sync_structure did not get to replace
        copy.unlink(missing_ok=True)
    work = root / WORK_DIR
    for folder in sorted(work.glob("*")) if work.is_dir() else []:
        pid_file = folder / "nbgrader.pid"
        if pid_file.is_file():
            with contextlib.suppress(ValueError, ProcessLookupError, PermissionError):
                os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
        else:
            folder.unlink(missing_ok=True)
        removed.append(folder.name)
    return removed


def _sync_structure(root: Path, names: list[str], db_url: str) -> None:
    """Put each assignment's cells into the course gradebook (atomically for SQLite)."""
    sqlite = db_url.startswith("sqlite:///") and Path(db_url.removeprefix("sqlite:///")).is_file()
    with tempfile.TemporaryDirectory(prefix="dlcourse-release-") as scratch:
        if not sqlite:
            generate(root, names, into=Path(scratch), db_url=db_url)
            return
        live = Path(db_url.removeprefix("sqlite:///"))
        copy = live.with_name(f".{live.name}.{os.getpid()}.tmp")
        shutil.copy2(live, copy)
        try:
            generate(root, names, into=Path(scratch), db_url=f"sqlite:///{copy}")
            os.replace(copy, live)
        finally:
            copy.unlink(missing_ok=True)


def grade(root: Path, assignment: str | None = None, students: list[str] | None = None, workers: int = 1,
          cell_timeout: int = 120, submission_timeout: int = 900, memory_mb: int = 8192,
          csv_path: Path | None = None, progress=print) -> list[Outcome]:
    """Autograde every matching submission, `workers` at a time; always write the grades CSV."""
    with course_lock(root):
        leftovers = clean_leftovers(root)
        if leftovers:
            progress(f"removed {len(leftovers)} scratch folder(s) left by an interrupted run")
        settings = nbgrader_settings(root)
        db_url, course_id = settings["db_url"], settings["course_id"]
        submissions, outcomes = find_submissions(root, assignment, students)
        gradebook.open_gradebook(db_url, course_id)
        gradebook.register_students(db_url, sorted({o.student for o in outcomes if STUDENT_ID.match(o.student)} |
                                                   {s.student for s in submissions}))
        names = sorted({s.assignment for s in submissions})
        if names:
            progress(f"preparing {', '.join(names)} in the gradebook")
            _sync_structure(root, names, db_url)
        work = root / WORK_DIR
        work.mkdir(exist_ok=True)
        template = gradebook.make_template(db_url, course_id, work / f"template-{os.getpid()}.db")
        workers = max(1, workers)
        threads = max(1, (os.cpu_count() or 1) // workers)
        merging = threading.Lock()
        progress(f"grading {len(submissions)} submission(s), {workers} at a time")
        try:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(grade_one, root, s, template, db_url, merging, cell_timeout,
                                       submission_timeout, memory_mb, threads) for s in submissions]
                for future in as_completed(futures):
                    outcome = future.result()
                    outcomes.append(outcome)
                    progress(line(outcome))
        finally:
            template.unlink(missing_ok=True)
        for outcome in outcomes:
            if outcome.status == "invalid":
                progress(line(outcome))
        outcomes.sort(key=lambda o: (o.assignment, o.student))
        status = _update_status(root, outcomes)
        submitted = {(p.parent.name, p.name) for p in (root / "submitted").glob("*/*") if p.is_dir()}
        write_csv(csv_path or root / "grades.csv", db_url, status, submitted)
    return outcomes


SECRET = "submission_secret.txt"  # written by nbgrader's submit; names the feedback release_feedback returns


def _carry_secret(submission: Submission, target: Path) -> None:
    """Copy the submission's secret beside its notebooks, as nbgrader's own autograde would: it
    then follows the timestamp into autograded/ and feedback/, where release_feedback needs it.
    One line of hex (128 characters); anything over 1 KB is not one nbgrader wrote and stays behind."""
    folders = {path.parent for path in submission.files.values()}
    for secret in (folder / SECRET for folder in folders):
        if secret.is_file() and secret.stat().st_size <= 1024:
            shutil.copyfile(secret, target / SECRET)


def grade_one(root: Path, submission: Submission, template: Path, db_url: str, merging: threading.Lock,
              cell_timeout: int, submission_timeout: int, memory_mb: int, threads: int) -> Outcome:
    """Autograde one submission in a scratch course; merge it into the course gradebook if it ran."""
    student, name = submission.student, submission.assignment
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix=f"{student}-{name}-", dir=root / WORK_DIR))
    outcome = Outcome(student, name, "failed", notes=list(submission.notes))
    try:
        for folder in (SOURCE_DIR, RELEASE_DIR):
            shutil.copytree(root / folder / name, work / folder / name)
        target = work / "submitted" / student / name
        target.mkdir(parents=True)
        for expected, path in submission.files.items():
            shutil.copy2(path, target / expected)
        (target / "timestamp.txt").write_text(submission.timestamp, encoding="utf-8")
        _carry_secret(submission, target)
        shutil.copy2(template, work / "gradebook.db")
        report = work / "report.jsonl"
        try:
            result = run_nbgrader(root, [
                "autograde", name, "--force", f"--student={student}", f"--CourseDirectory.root={work}",
                f"--CourseDirectory.db_url=sqlite:///{work / 'gradebook.db'}",
                f"--SandboxedExecute.cell_timeout={cell_timeout}", f"--SandboxedExecute.threads={threads}",
                f"--SandboxedExecute.memory_mb={memory_mb}",
            ], timeout=submission_timeout, extra_env={REPORT_ENV: str(report), PROTECT_ENV: str(root)},
                pid_file=work / "nbgrader.pid")
        except subprocess.TimeoutExpired:
            outcome.status = "timed out"
            outcome.reason = (f"still running after {submission_timeout} s, the limit for a whole submission "
                              "(--submission-timeout); stopped")
            return outcome
        records = [json.loads(line) for line in report.read_text(encoding="utf-8").splitlines()] \
            if report.is_file() else []
        for record in records:
            outcome.notes += record.get("notes", [])
            if record.get("broken"):
                outcome.notes.append(str(record["broken"]))
            outcome.flags += [str(event) for event in record.get("events", [])]
        if result.returncode != 0:
            outcome.reason = "nbgrader failed: " + _last_error(result.stdout + result.stderr)
            return outcome
        scores = gradebook.scores(f"sqlite:///{work / 'gradebook.db'}")[2]
        outcome.score = scores.get((student, name))
        with merging:
            gradebook.merge_submission(db_url, work / "gradebook.db", student, name)
            _replace_folder(work / "autograded" / student / name, root / "autograded" / student / name)
        outcome.status = "flagged" if outcome.flags else "graded"
        if outcome.flags:
            outcome.reason = f"tampering: the submission {outcome.flags[0]}"
        return outcome
    finally:
        outcome.seconds = time.monotonic() - started
        shutil.rmtree(work, ignore_errors=True)


def _last_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "Error" in line]
    return (errors or lines or ["no output"])[-1][:300]


def _replace_folder(new: Path, old: Path) -> None:
    """Put `new` where `old` was, so that a reader never sees half of either."""
    old.parent.mkdir(parents=True, exist_ok=True)
    staged = old.with_name(f".{old.name}.new")
    shutil.rmtree(staged, ignore_errors=True)
    shutil.copytree(new, staged)
    retired = old.with_name(f".{old.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if old.exists():
        os.replace(old, retired)
    os.replace(staged, old)
    shutil.rmtree(retired, ignore_errors=True)


# ------------------------------------------------------------------------------------ results
def _update_status(root: Path, outcomes: list[Outcome]) -> dict:
    """grading-status.json: the last run's word on each submission, kept across runs."""
    path = root / STATUS_FILE
    status = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    now = time.strftime("%Y-%m-%d %H:%M:%S")
    for o in outcomes:
        key = f"{o.student}/{o.assignment}"
        previous = status.get(key, {})
        entry = {"status": o.status, "reason": o.reason, "notes": o.notes, "flags": o.flags,
                 "graded_at": now if o.status in ("graded", "flagged") else previous.get("graded_at")}
        if o.status in ("failed", "timed out") and previous.get("graded_at"):
            entry["reason"] = f"{o.reason} (the grade of {previous['graded_at']} is kept: stale)"
        status[key] = entry
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(status, indent=1, sort_keys=True), encoding="utf-8")
    os.replace(temp, path)
    return status


CSV_COLUMNS = ["student_id", "assignment", "status", "autograded", "autograded_max", "manual", "manual_max",
               "manual_pending", "submitted_at", "graded_at", "reason", "flags", "notes"]


def write_csv(path: Path, db_url: str, status: dict, submitted: set[tuple[str, str]]) -> None:
    """Every student x every assignment of the gradebook, atomically.

    submitted: the (student, assignment) folders on disk, so that one not graded yet is told
    apart from one never handed in ("missing").
    """
    students, names, scores = gradebook.scores(db_url)
    rows = []
    for assignment in names:
        for student in students:
            entry = status.get(f"{student}/{assignment}", {})
            score = scores.get((student, assignment))
            row = {"student_id": student, "assignment": assignment,
                   "status": entry.get("status", "graded" if score else "not graded" if (student, assignment)
                                       in submitted else "missing"),
                   "reason": entry.get("reason", ""), "flags": "; ".join(entry.get("flags", [])),
                   "notes": "; ".join(entry.get("notes", [])), "graded_at": entry.get("graded_at") or ""}
            if score is not None:
                row.update(autograded=f"{score.auto_score:g}", autograded_max=f"{score.auto_max:g}",
                           manual=f"{score.manual_score:g}", manual_max=f"{score.manual_max:g}",
                           manual_pending=str(score.manual_pending), submitted_at=score.timestamp or "")
            rows.append(row)
    temp = path.with_name(f".{path.name}.tmp")
    with open(temp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temp, path)


def points(score: gradebook.Score | None) -> str:
    """'7 / 7 autograded, 2 manual points pending' (never '7 / 9')."""
    if score is None:
        return "-"
    text = f"{score.auto_score:g} / {score.auto_max:g} autograded"
    if score.manual_pending:
        pending = score.manual_max - score.manual_score
        text += f", {pending:g} manual point{'s' if pending != 1 else ''} pending"
    elif score.manual_max:
        text += f", {score.manual_score:g} / {score.manual_max:g} manual"
    return text


def line(outcome: Outcome) -> str:
    """One line per submission, and indented lines for its notes."""
    mark = {"graded": "✓", "flagged": "!", "invalid": "✗", "failed": "✗", "timed out": "✗"}[outcome.status]
    text = f"{mark} {outcome.assignment} {outcome.student}: {outcome.status}"
    if outcome.status in ("graded", "flagged"):
        text += f", {points(outcome.score)}"
    if outcome.seconds:
        text += f" ({outcome.seconds:.0f} s)"
    if outcome.reason:
        text += f"\n    {outcome.reason}"
    text += "".join(f"\n    note: {note}" for note in outcome.notes)
    return text
