"""Feedback pages: a student sees each hidden check's result and message, never its code; math draws offline."""

from __future__ import annotations

import json
import re

import pytest

from dlcourse import course
from dlcourse.feedback import latex_to_mathml
from test_pipeline import run_dlcourse, scratch_course

ASSIGNMENT = "00_primer"


def test_formulas_become_mathml_and_code_is_left_alone():
    html = latex_to_mathml("Loss $L = \\frac{1}{N}\\sum_i L_i$ and\n$$\\hat{x} = x / \\sigma$$\n"
                           "`cost = $5` and ```\nprice = $3 or $4\n```")
    assert html.count("<math") == 2 and 'display="block"' in html
    assert "`cost = $5`" in html and "price = $3 or $4" in html


def _hidden_lines(source_notebook: dict) -> list[str]:
    """The non-trivial lines of every hidden-test block of the source notebook."""
    lines = []
    for cell in source_notebook["cells"]:
        text = "".join(cell["source"])
        for block in re.findall(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", text, re.DOTALL):
            lines += [line.strip() for line in block.splitlines() if len(line.strip()) > 12]
    return lines


@pytest.fixture(scope="module")
def feedback(tmp_path_factory):
    root = scratch_course(tmp_path_factory.mktemp("feedback"), ASSIGNMENT)
    source = root / course.SOURCE_DIR / ASSIGNMENT / "primer.ipynb"
    blank = root / course.RELEASE_DIR / ASSIGNMENT / "primer.ipynb"
    for student, path in (("alice", source), ("bob", blank)):
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        (folder / "primer.ipynb").write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    graded = run_dlcourse(root, "grade", ASSIGNMENT, "--workers", "2")
    assert graded.returncode == 0, graded.stdout + graded.stderr
    made = run_dlcourse(root, "feedback", ASSIGNMENT)
    assert made.returncode == 0, made.stdout + made.stderr
    pages = {s: (root / "feedback" / s / ASSIGNMENT / "primer.html").read_text(encoding="utf-8") for s in ("alice", "bob")}
    return {"pages": pages, "hidden": _hidden_lines(json.loads(source.read_text(encoding="utf-8"))),
            "output": made.stdout + made.stderr}


@pytest.mark.parametrize("student", ["alice", "bob"])
def test_feedback_shows_no_hidden_test_code(feedback, student):
    page = feedback["pages"][student]
    assert feedback["hidden"], "the source has hidden tests to look for"
    import html
    text = html.unescape(page)
    leaked = [line for line in feedback["hidden"] if line in text]
    assert not leaked and "HIDDEN TESTS" not in text, leaked[:3]


def test_feedback_shows_the_result_of_each_check_and_renders_math_offline(feedback):
    alice, bob = feedback["pages"]["alice"], feedback["pages"]["bob"]
    assert "All visible checks passed" in alice or "matches" in alice
    assert "NotImplementedError" in bob  # the blank notebook's checks say why they failed
    for page in (alice, bob):
        assert "<math" in page and "cdnjs" not in page and "MathJax.Hub" not in page and "src=\"http" not in page


def test_nbgrader_commands_do_not_warn_about_a_missing_config(feedback):
    assert "No nbgrader_config.py file found" not in feedback["output"]
