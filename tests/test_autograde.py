"""The notebook that is graded is rebuilt from the course's cells; only answers come from the submission."""

from __future__ import annotations

import json

from dlcourse import course
from dlcourse.autograde import cell_roles, reconstruct
from gradecells import ROOT

ASSIGNMENT = "00_primer"


def _load(folder: str) -> dict:
    return json.loads((ROOT / folder / ASSIGNMENT / "primer.ipynb").read_text(encoding="utf-8"))


SOURCE, RELEASE = _load(course.SOURCE_DIR), _load(course.RELEASE_DIR)


def _by_id(notebook: dict) -> dict[str, dict]:
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in notebook["cells"]}


def test_the_solution_as_submitted_is_graded_with_the_courses_cells_and_no_note():
    rebuilt, notes = reconstruct(SOURCE, RELEASE, SOURCE)
    assert notes == []
    assert [c["metadata"] for c in rebuilt["cells"]] == [c["metadata"] for c in RELEASE["cells"]]
    assert "BEGIN HIDDEN TESTS" in "".join(_by_id(rebuilt)["check_one_hot"]["source"])


def test_answers_come_from_the_submission_and_everything_else_from_the_course():
    submission = json.loads(json.dumps(RELEASE))
    cells = _by_id(submission)
    cells["one_hot"]["source"] = "def one_hot(y, n):\n    return 42\n"
    cells["check_one_hot"]["source"] = "pass\n"                         # an edited check
    cells["check_one_hot"]["metadata"]["nbgrader"]["points"] = 7        # raised points
    cells["class_means"]["metadata"]["nbgrader"].update(grade=True, points=50)  # an answer made a grade cell
    submission["cells"] = [c for c in submission["cells"]                # a deleted check
                           if c["metadata"].get("nbgrader", {}).get("grade_id") != "check_gradient"]
    rebuilt, notes = reconstruct(submission, RELEASE, SOURCE)
    rebuilt_cells = _by_id(rebuilt)
    assert "".join(rebuilt_cells["one_hot"]["source"]) == "def one_hot(y, n):\n    return 42\n"
    assert rebuilt_cells["check_one_hot"]["source"] == _by_id(SOURCE)["check_one_hot"]["source"]
    assert rebuilt_cells["check_one_hot"]["metadata"]["nbgrader"]["points"] == 1
    assert not rebuilt_cells["class_means"]["metadata"]["nbgrader"]["grade"]
    assert rebuilt_cells["check_gradient"]["source"] == _by_id(SOURCE)["check_gradient"]["source"]
    assert any("'check_one_hot' was edited" in n for n in notes)
    assert any("'check_gradient' was deleted" in n for n in notes)


def test_a_copied_or_split_answer_runs_as_ordinary_code_after_it():
    submission = json.loads(json.dumps(SOURCE))
    index = next(i for i, c in enumerate(submission["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id")
                 == "one_hot")
    copy = json.loads(json.dumps(submission["cells"][index]))
    copy["source"], copy["id"] = "helper = 1\n", "a-new-id"
    submission["cells"].insert(index + 1, copy)
    extra = {"cell_type": "code", "id": "my-own-cell", "metadata": {}, "source": "scratch = 2\n",
             "outputs": [], "execution_count": None}
    submission["cells"].insert(index + 2, extra)
    rebuilt, notes = reconstruct(submission, RELEASE, SOURCE)
    sources = ["".join(c["source"]) for c in rebuilt["cells"]]
    at = next(i for i, c in enumerate(rebuilt["cells"]) if c["metadata"].get("nbgrader", {}).get("grade_id")
              == "one_hot")
    assert sources[at + 1:at + 3] == ["helper = 1\n", "scratch = 2\n"]
    assert rebuilt["cells"][at + 1]["metadata"] == {}  # no second grade_id: nbgrader's KeyError cannot happen
    assert notes == ["cell 'one_hot' appears twice (a copied cell?): it was graded as ordinary code"]


def test_roles_come_from_the_courses_metadata():
    rebuilt, _ = reconstruct(SOURCE, RELEASE, SOURCE)
    import nbformat
    roles = {c["name"]: c["role"] for c in cell_roles(nbformat.from_dict(rebuilt))}
    assert roles["setup"] == "given" and roles["check_one_hot"] == "grade" and roles["one_hot"] == "student"
