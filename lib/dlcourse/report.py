"""What the class got wrong, grade cell by grade cell: `dlcourse report [ASSIGNMENT]` after `dlcourse grade`.

Reads what grading left: the gradebook (each grade cell's points for every submission), the
autograded notebooks (each failed check's output starts with a "✗ ..." line naming the
mistake) and grades.csv (each submission's status and reason). Writes, per assignment:
- reports/ASSIGNMENT.html: one page that works offline (plots are PNGs inside the page, no
  script, no link): the score histogram, the pass rate of every grade cell, each cell's most
  frequent failure messages with the share of the class that got them, and the submissions that
  were not graded cleanly (flagged, failed, timed out, invalid), with the reason;
- reports/ASSIGNMENT.csv: one row per grade cell and failure message (counts, share, students).
Messages are grouped by their first line with every number replaced by "#", so that "got (5,)"
and "got (6,)" count as one mistake. Flagged submissions are listed but left out of the rates
(tampering zeroed their checks: that is not what they got wrong). reports/ holds student ids and
grades: it gets a .gitignore that keeps it out of git.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import re
import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .course import SOURCE_DIR, CourseError, nbgrader_settings

REPORT_DIR = "reports"
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
NOT_CLEAN = ("flagged", "failed", "timed out", "invalid", "not graded")  # statuses listed under "problems"
SHOWN_PER_CELL = 5  # messages per cell on the page (the CSV has them all)


@dataclass
class Failure:
    """One group of failure messages of one grade cell."""

    message: str                                   # the most frequent wording in the group
    students: list[str] = field(default_factory=list)
    wordings: int = 1                              # how many different wordings (numbers) it groups


@dataclass
class Cell:
    grade_id: str
    points: float
    passed: list[str] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)

    @property
    def counted(self) -> int:
        return len(self.passed) + sum(len(f.students) for f in self.failures)


@dataclass
class Report:
    assignment: str
    cells: list[Cell]
    scores: dict[str, float]        # student -> autograded points (counted submissions)
    max_score: float
    problems: list[dict]            # rows of grades.csv whose status is in NOT_CLEAN
    missing: int                    # students who handed nothing in


# ------------------------------------------------------------------------------------ reading
def failure_message(outputs: list[dict]) -> str:
    """The first line of a failed grade cell's "✗ ..." message (what else it showed, when it has none)."""
    for output in outputs:
        if output.get("output_type") == "error":
            lines = _ANSI.sub("", "\n".join(output.get("traceback") or [])).splitlines()
            marked = next((line.strip() for line in lines if line.lstrip().startswith("✗")), None)
            if marked:
                return marked.lstrip("✗").strip()
            first = (str(output.get("evalue", "")).splitlines() or [""])[0]
            return f"{output.get('ename', 'Error')}: {first}".rstrip(": ")
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            first = (_ANSI.sub("", output.get("text", "")).strip().splitlines() or [""])[0]
            return f"the cell wrote to stderr, which nbgrader scores 0: {first}"
    return "failed without an error message"


def normalise(message: str) -> str:
    """The key that groups messages: numbers do not split a group."""
    return _NUMBER.sub("#", " ".join(message.split()))


def group_failures(messages: dict[str, str]) -> list[Failure]:
    """{student: message} -> groups, most frequent first (then by wording)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for student, message in sorted(messages.items()):
        groups.setdefault(normalise(message), []).append((student, message))
    failures = []
    for members in groups.values():
        wordings = Counter(message for _, message in members)
        failures.append(Failure(wordings.most_common(1)[0][0], [s for s, _ in members], len(wordings)))
    return sorted(failures, key=lambda f: (-len(f.students), f.message))


def grades_rows(root: Path, assignment: str) -> list[dict]:
    path = root / "grades.csv"
    if not path.is_file():
        raise CourseError(f"no {path}: run `dlcourse grade {assignment}` first")
    with open(path, newline="", encoding="utf-8") as handle:
        return [row for row in csv.DictReader(handle) if row["assignment"] == assignment]


def _grade_ids(root: Path, assignment: str) -> dict[str, list[str]]:
    """{notebook name: autograded grade ids in the notebook's order}, from the course's source notebooks."""
    found = {}
    for path in sorted((root / SOURCE_DIR / assignment).glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        found[path.stem] = [c["metadata"]["nbgrader"]["grade_id"] for c in cells if c["cell_type"] == "code"
                            and c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    return found


def _outputs_by_grade_id(path: Path) -> dict[str, list[dict]]:
    if not path.is_file():
        return {}
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return {c["metadata"]["nbgrader"]["grade_id"]: c.get("outputs", []) for c in cells
            if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def collect(root: Path, assignment: str, db_url: str | None = None) -> Report:
    """Everything the page and the CSV show, for one graded assignment."""
    from nbgrader.api import Gradebook, MissingEntry

    rows = grades_rows(root, assignment)
    status = {row["student_id"]: row["status"] for row in rows}
    order = _grade_ids(root, assignment)
    db_url = db_url or nbgrader_settings(root)["db_url"]
    cells: dict[tuple[str, str], Cell] = {}
    messages: dict[tuple[str, str], dict[str, str]] = {}
    scores, max_score = {}, 0.0
    with Gradebook(db_url) as gradebook:
        try:
            submissions = gradebook.assignment_submissions(assignment)
        except MissingEntry:
            submissions = []
        for submission in sorted(submissions, key=lambda s: s.student_id):
            student = submission.student_id
            if status.get(student) == "flagged":
                continue
            scores[student], student_max = 0.0, 0.0
            for notebook in submission.notebooks:
                outputs = _outputs_by_grade_id(root / "autograded" / student / assignment / f"{notebook.name}.ipynb")
                for grade in notebook.grades:
                    if grade.cell_type != "code":
                        continue
                    key = (notebook.name, grade.name)
                    cell = cells.setdefault(key, Cell(grade.name, float(grade.max_score)))
                    score = float(grade.score or 0.0)
                    scores[student] += score
                    student_max += float(grade.max_score)
                    if score >= grade.max_score:
                        cell.passed.append(student)
                    else:
                        messages.setdefault(key, {})[student] = failure_message(outputs.get(grade.name, []))
            max_score = max(max_score, student_max)
    for key, found in messages.items():
        cells[key].failures = group_failures(found)
    rank = {(nb, gid): (i, j) for i, (nb, ids) in enumerate(order.items()) for j, gid in enumerate(ids)}
    ordered = [cells[key] for key in sorted(cells, key=lambda k: (rank.get(k, (len(order), 0)), k))]
    problems = [row for row in rows if row["status"] in NOT_CLEAN]
    missing = sum(row["status"] == "missing" for row in rows)
    return Report(assignment, ordered, scores, max_score, problems, missing)


# ------------------------------------------------------------------------------------ plots
def _png(figure) -> str:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def histogram_png(report: Report) -> str:
    """The autograded scores of the counted submissions, one bar per point; base64 PNG."""
    import numpy as np
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.2))
    axes = figure.subplots()
    top = max(report.max_score, max(report.scores.values(), default=0.0))
    edges = np.arange(0, np.floor(top) + 2) - 0.5 if top <= 60 else np.linspace(0, top, 21)
    axes.hist(list(report.scores.values()), bins=edges, color="#4a78b0", edgecolor="white")
    axes.set_title(f"{report.assignment}: autograded score of {len(report.scores)} submissions")
    axes.set_xlabel(f"autograded points (of {report.max_score:g})")
    axes.set_ylabel("submissions")
    axes.yaxis.get_major_locator().set_params(integer=True)
    return _png(figure)


def pass_rate_png(report: Report) -> str:
    """Share of the counted submissions passing each grade cell, in the notebook's order; base64 PNG."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 0.45 * len(report.cells) + 1.2))
    axes = figure.subplots()
    rates = [100.0 * len(c.passed) / c.counted if c.counted else 0.0 for c in report.cells]
    labels = [f"{c.grade_id} ({c.points:g} pt)" for c in report.cells]
    bars = axes.barh(labels, rates, color=["#c0504d" if r < 50 else "#4a78b0" for r in rates])
    axes.bar_label(bars, labels=[f"{r:.0f}%" for r in rates], padding=3)
    axes.invert_yaxis()
    axes.set_xlim(0, 118)
    axes.set_title("share of the class passing each grade cell")
    axes.set_xlabel("submissions passing (%)")
    return _png(figure)


# ------------------------------------------------------------------------------------ writing
_STYLE = """body{font-family:sans-serif;max-width:60em;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
.share{font-weight:bold;white-space:nowrap}.low{color:#a33}li{margin:.3em 0}details{color:#555}"""


def render(report: Report) -> str:
    """The report as one HTML page (no script, no external resource)."""
    e, n = html.escape, len(report.scores)
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(report.assignment)}: "
             f"what the class got wrong</title><style>{_STYLE}</style></head><body>",
             f"<h1>{e(report.assignment)}: what the class got wrong</h1>",
             f"<p>{n} graded submission{'s' * (n != 1)} counted; {len(report.problems)} not graded cleanly "
             f"(below); {report.missing} student{'s' * (report.missing != 1)} handed nothing in.</p>"]
    if n:
        values = list(report.scores.values())
        parts.append(f"<h2>Scores</h2><p>mean {statistics.mean(values):.1f}, median {statistics.median(values):g} "
                     f"of {report.max_score:g} autograded points</p>"
                     f"<img alt='score histogram' src='data:image/png;base64,{histogram_png(report)}'>")
        parts.append(f"<h2>Grade cells</h2><img alt='pass rate per grade cell' "
                     f"src='data:image/png;base64,{pass_rate_png(report)}'>")
    for cell in report.cells:
        rate = len(cell.passed) / cell.counted if cell.counted else 0.0
        parts.append(f"<h3 id='{e(cell.grade_id)}'>{e(cell.grade_id)} ({cell.points:g} pt): "
                     f"<span class='{'low' if rate < 0.5 else ''}'>{rate:.0%} passed</span> "
                     f"({len(cell.passed)} of {cell.counted})</h3>")
        if cell.failures:
            parts.append("<ul>")
            for failure in cell.failures[:SHOWN_PER_CELL]:
                vary = f" <i>({failure.wordings} wordings: the numbers vary)</i>" if failure.wordings > 1 else ""
                parts.append(f"<li><span class='share'>{len(failure.students) / cell.counted:.0%} of the class "
                             f"({len(failure.students)}):</span> {e(failure.message)}{vary}<details><summary>"
                             f"who</summary>{e(', '.join(failure.students))}</details></li>")
            rest = cell.failures[SHOWN_PER_CELL:]
            if rest:
                parts.append(f"<li>{len(rest)} other message(s), {sum(len(f.students) for f in rest)} "
                             "submission(s): see the CSV</li>")
            parts.append("</ul>")
    parts.append("<h2>Not graded cleanly</h2>")
    if report.problems:
        parts.append("<table><tr><th>student</th><th>status</th><th>why</th></tr>")
        for row in report.problems:
            flags = [flag for flag in row["flags"].split("; ") if flag]
            why = e("; ".join(part for part in (row["reason"], row["notes"]) if part))
            if flags:
                why += f"<details><summary>{len(flags)} flag(s)</summary>{'<br>'.join(map(e, flags))}</details>"
            parts.append(f"<tr><td>{e(row['student_id'])}</td><td>{e(row['status'])}</td><td>{why}</td></tr>")
        parts.append("</table>")
    else:
        parts.append("<p>None: every submission was graded without a problem.</p>")
    return "\n".join(parts + ["</body></html>"])


CSV_COLUMNS = ["grade_id", "points", "submissions", "passed", "pass_rate", "message", "count", "share",
               "wordings", "students"]


def csv_rows(report: Report) -> list[dict]:
    rows = []
    for cell in report.cells:
        common = {"grade_id": cell.grade_id, "points": f"{cell.points:g}", "submissions": cell.counted,
                  "passed": len(cell.passed), "pass_rate": f"{len(cell.passed) / cell.counted:.3f}"}
        for failure in cell.failures or [Failure("", [], 0)]:
            rows.append({**common, "message": failure.message, "count": len(failure.students),
                         "share": f"{len(failure.students) / cell.counted:.3f}", "wordings": failure.wordings,
                         "students": " ".join(failure.students)})
    return rows


def write_reports(root: Path, assignment: str | None = None) -> list[tuple[Path, Path]]:
    """reports/NAME.html and reports/NAME.csv for one assignment, or for every one in grades.csv."""
    path = root / "grades.csv"
    if not path.is_file():
        raise CourseError(f"no {path}: run `dlcourse grade` first")
    with open(path, newline="", encoding="utf-8") as handle:
        names = [assignment] if assignment else sorted({row["assignment"] for row in csv.DictReader(handle)})
    folder = root / REPORT_DIR
    folder.mkdir(exist_ok=True)
    (folder / ".gitignore").write_text("# student ids and grades: never committed\n*\n", encoding="utf-8")
    db_url = nbgrader_settings(root)["db_url"]
    written = []
    for name in names:
        report = collect(root, name, db_url)
        page, table = folder / f"{name}.html", folder / f"{name}.csv"
        page.write_text(render(report), encoding="utf-8")
        with open(table, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
            writer.writeheader()
            writer.writerows(csv_rows(report))
        written.append((page, table))
    return written
