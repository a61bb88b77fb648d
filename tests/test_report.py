"""`dlcourse report`: what the class got wrong, checked against a class whose mistakes we made.

The class: 14 hand-ins of 00_primer, made from the solution with known mistakes injected in
known proportions (replacing an answer cell's body by a wrong version): 4 correct, 3 with a
one_hot that fills whole columns, 1 whose one_hot crashes the student's process (os._exit),
2 with the N - 1 std, 2 with a moving average one or two values too long (one mistake in two
wordings: the shapes differ), 1 that tampers with the checks (flagged), 1 empty file (invalid).
They are graded with `dlcourse grade --workers 2` (about 13 x 25 s of grading on a loaded 2-core
machine), then the report's numbers are compared with the truth. The unit tests above it need no grading.
"""

from __future__ import annotations

import base64
import csv
import json
import re
import time
from pathlib import Path

import pytest

from dlcourse import course, report
from test_pipeline import run_dlcourse, scratch_course

ASSIGNMENT = "00_primer"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "report"  # git-ignored
ONE_HOT_COLUMNS = ("def one_hot(y, num_classes):\n    out = np.zeros((len(y), num_classes))\n"
                   "    out[:, y] = 1.0\n    return out\n")
STD_DDOF_1 = ("def standardize_columns(X, eps=1e-8):\n"
              "    return (X - X.mean(axis=0)) / (X.std(axis=0, ddof=1) + eps)\n")
CRASH = "def one_hot(y, num_classes):\n    import os\n    os._exit(1)\n"
TOO_LONG = ("def moving_average(x, window):\n    sums = np.concatenate([[0.0], np.cumsum(x)])\n"
            "    return np.concatenate([(sums[window:] - sums[:-window]) / window, np.zeros({extra})])\n")
# student -> (answer cell, wrong body) or None for the solution; "tamper" and "empty" apart
CLASS = {
    "s01": None, "s02": None, "s03": None, "s04": None,
    "s05": ("one_hot", ONE_HOT_COLUMNS), "s06": ("one_hot", ONE_HOT_COLUMNS), "s07": ("one_hot", ONE_HOT_COLUMNS),
    "s08": ("standardize_columns", STD_DDOF_1), "s09": ("standardize_columns", STD_DDOF_1),
    "s10": ("moving_average", TOO_LONG.format(extra=1)), "s11": ("moving_average", TOO_LONG.format(extra=2)),
    "s14": ("one_hot", CRASH),
}
TAMPER = "assert_close = check = assert_shape = lambda *a, **k: None\n"
POINTS = {"check_one_hot": 1, "check_class_means": 1, "check_standardize_columns": 1, "check_moving_average": 2,
          "check_gradient": 1, "check_predict_on_device": 1}
TRUTH = {  # grade cell -> its groups, most frequent first: (students, a phrase of the group's message)
    "check_one_hot": [(["s05", "s06", "s07"], "every row is all ones"),
                      (["s14"], "the student's process stopped during")],
    "check_standardize_columns": [(["s08", "s09"], "divides by N - 1 (ddof=1)")],
    "check_moving_average": [(["s10", "s11"], "has the wrong shape")],
}


def _failing(grade_id: str) -> list[str]:
    return sorted(student for students, _ in TRUTH.get(grade_id, []) for student in students)

COUNTED = sorted(CLASS)  # the flagged one is left out of the rates, the invalid one was never graded


# ------------------------------------------------------------------------------------ no grading
def _error(*lines: str, ename: str = "CheckFailed", evalue: str = "") -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": list(lines)}


def test_the_message_is_the_first_line_of_the_red_cross_without_colours():
    outputs = [{"output_type": "stream", "name": "stdout", "text": "✓ shape\n"},
               _error("\x1b[0;31m✗ f(x, 3): these are the SUMS: divide by N_c.\x1b[0m", "Hint: row c is ...")]
    assert report.failure_message(outputs) == "f(x, 3): these are the SUMS: divide by N_c."
    assert report.failure_message([_error("Traceback", ename="KeyError", evalue="'W1'\nmore")]) == "KeyError: 'W1'"
    stderr = [{"output_type": "stream", "name": "stderr", "text": "UserWarning: x\nline 2"}]
    assert report.failure_message(stderr) == "the cell wrote to stderr, which nbgrader scores 0: UserWarning: x"
    assert report.failure_message([]) == "failed without an error message"


def test_numbers_do_not_split_a_group_and_the_most_frequent_first():
    messages = {"a": "f has the wrong shape: expected (4,), got (5,).",
                "b": "f has the wrong shape: expected (4,), got (6,).",
                "c": "f has the wrong shape: expected (4,), got (5,).",
                "d": "max abs error 1.5e-03 at index (2, 1)", "e": "max abs error 2e+01 at index (0, 0)",
                "f": "Your code raised NotImplementedError: Write your solution here"}
    groups = report.group_failures(messages)
    assert [(g.students, g.wordings) for g in groups] == [(["a", "b", "c"], 2), (["d", "e"], 2), (["f"], 1)]
    assert groups[0].message == messages["a"]  # the most frequent wording speaks for the group


def test_the_page_escapes_what_students_wrote_and_loads_nothing():
    cell = report.Cell("check_f", 1.0, passed=["a"],
                       failures=[report.Failure("Your code raised ValueError: <script>alert(1)</script>", ["b"])])
    problems = [{"student_id": "c", "status": "timed out", "reason": "still running after 900 s <b>",
                 "flags": "", "notes": ""}]
    page = report.render(report.Report("01_x", [cell], {"a": 1.0, "b": 0.0}, 1.0, problems, missing=2))
    assert "<script>" not in page and "&lt;script&gt;" in page and "still running after 900 s &lt;b&gt;" in page
    assert "50% of the class (1):" in page and "2 students handed nothing in" in page
    assert not re.search(r"(src|href)=['\"]?(https?:|//)", page)
    assert page.count("data:image/png;base64,") == 2


# ------------------------------------------------------------------------------------ a graded class
def _with_answer(solution: dict, grade_id: str, source: str) -> dict:
    notebook = json.loads(json.dumps(solution))
    cell = next(c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    cell["source"] = source
    return notebook


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = scratch_course(tmp_path_factory.mktemp("report"), ASSIGNMENT)
    solution = json.loads((root / course.SOURCE_DIR / ASSIGNMENT / "primer.ipynb").read_text(encoding="utf-8"))
    one_hot = "".join(next(c for c in solution["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id")
                           == "one_hot")["source"])
    hand_ins = {student: json.dumps(_with_answer(solution, *wrong) if wrong else solution)
                for student, wrong in CLASS.items()}
    hand_ins["s12"] = json.dumps(_with_answer(solution, "one_hot", one_hot + "\n" + TAMPER))
    hand_ins["s13"] = ""
    for student, text in hand_ins.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "primer.ipynb").write_text(text, encoding="utf-8")
    started = time.monotonic()
    graded = run_dlcourse(root, "grade", ASSIGNMENT, "--workers", "2")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)  # how long grading a class takes, for the README's sizing
    (ARTIFACTS / "grading.txt").write_text(f"{graded.stdout}\n{len(hand_ins)} hand-ins, --workers 2: "
                                           f"{time.monotonic() - started:.0f} s\n", encoding="utf-8")
    made = run_dlcourse(root, "report", ASSIGNMENT)
    assert made.returncode == 0, made.stdout + made.stderr
    with open(root / "reports" / f"{ASSIGNMENT}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    page = (root / "reports" / f"{ASSIGNMENT}.html").read_text(encoding="utf-8")
    return {"root": root, "graded": graded, "rows": rows, "page": page}


def test_pass_rates_and_messages_match_the_mistakes_we_made(graded_class):
    rows = graded_class["rows"]
    assert {row["grade_id"] for row in rows} == set(POINTS), rows
    for grade_id, points in POINTS.items():
        cell = [row for row in rows if row["grade_id"] == grade_id]
        failing = _failing(grade_id)
        assert cell[0]["points"] == f"{points:g}" and int(cell[0]["submissions"]) == len(COUNTED), cell
        assert int(cell[0]["passed"]) == len(COUNTED) - len(failing), (grade_id, cell)
        assert float(cell[0]["pass_rate"]) == pytest.approx((len(COUNTED) - len(failing)) / len(COUNTED), abs=1e-3)
        if not failing:
            assert len(cell) == 1 and cell[0]["message"] == "" and cell[0]["count"] == "0", cell
            continue
        groups = TRUTH[grade_id]
        assert len(cell) == len(groups), f"{grade_id}: {len(groups)} mistake(s) grouped as {len(cell)}: {cell}"
        for row, (students, phrase) in zip(cell, groups):
            assert phrase in row["message"] and row["students"].split() == students, (grade_id, row)
            assert float(row["share"]) == pytest.approx(len(students) / len(COUNTED), abs=1e-3)
    shape = next(row for row in rows if row["grade_id"] == "check_moving_average")
    assert shape["wordings"] == "2", "got (5,) and got (6,) are one mistake in two wordings"


def test_the_page_shows_the_shares_the_scores_and_what_was_not_graded(graded_class):
    page = graded_class["page"]
    assert "25% of the class (3):" in page and "every row is all ones" in page  # 3 of 12
    assert "8% of the class (1):" in page and "(sys.exit or os._exit, a crash" in page  # why it crashed
    assert "17% of the class (2):" in page and "divides by N - 1" in page
    assert "12 graded submissions counted; 2 not graded cleanly" in page
    assert "mean 6.2, median 6 of 7 autograded points" in page  # 4 x 7, 6 x 6, 2 x 5
    flagged = re.search(r"<td>s12</td><td>flagged</td><td>(.*?)</td>", page)
    assert flagged and "tampering" in flagged.group(1) and "assert_close" in flagged.group(1), page[-2000:]
    invalid = re.search(r"<td>s13</td><td>invalid</td><td>(.*?)</td>", page)
    assert invalid and "primer.ipynb is empty" in invalid.group(1)
    images = re.findall(r"src='data:image/png;base64,([^']+)'", page)
    assert len(images) == 2 and all(base64.b64decode(i).startswith(b"\x89PNG") for i in images)
    assert "<script" not in page and not re.search(r"(src|href)=['\"]?(https?:|//)", page)
    assert (graded_class["root"] / "reports" / ".gitignore").read_text().splitlines()[-1] == "*"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{ASSIGNMENT}.html").write_text(page, encoding="utf-8")  # to look at


def test_the_histogram_counts_the_scores_of_the_counted_submissions(graded_class):
    result = report.collect(graded_class["root"], ASSIGNMENT)
    expected = {student: 7.0 for student in COUNTED}
    for grade_id in TRUTH:
        for student in _failing(grade_id):
            expected[student] -= POINTS[grade_id]
    assert result.scores == expected and result.max_score == 7.0
    assert [row["student_id"] for row in result.problems] == ["s12", "s13"] and result.missing == 0
