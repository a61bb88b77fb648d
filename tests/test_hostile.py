"""A class of hostile submissions, graded together in one `dlcourse grade` run, built from 00_primer.

Each student of the class tries one thing: to earn points with wrong answers (rebinding the
checkers, patching libraries, faking output, IPython hooks, the gradebook, the metadata, the
solution on disk), to change the course (files, symlinks, processes that outlive the kernel,
the network, signals), or just to be difficult (endless loops, sleeping, memory, exits,
syntax errors, deleted or edited cells, files that are not notebooks). The test asserts each
one's score and reported reason, that honest students around them are graded normally, and
that the course's files are exactly as they were.
"""

from __future__ import annotations

import csv
import hashlib
import json
import socket
import threading
from pathlib import Path

import pytest

from dlcourse import course
from test_pipeline import run_dlcourse, scratch_course, submission_scores

ASSIGNMENT = "00_primer"
CHECKS = ["check_one_hot", "check_class_means", "check_standardize_columns", "check_moving_average",
          "check_gradient", "check_predict_on_device"]
WRONG_ONE_HOT = "def one_hot(y, num_classes):\n    return np.zeros((len(y), num_classes))\n"
ALTERNATIVE_ONE_HOT = (
    "def one_hot(y, num_classes):\n"
    "    y = np.asarray(y)\n"
    "    bad = y[(y < 0) | (y >= num_classes)]\n"
    "    if bad.size:\n"
    "        raise ValueError(f'label {bad[0]} is not in [0, {num_classes})')\n"
    "    return np.eye(num_classes)[y]\n")
ALTERNATIVE_STANDARDIZE = (
    "def standardize_columns(X, eps=1e-8):\n"
    "    centred = X - X.mean(axis=0)\n"
    "    return centred / (np.sqrt((centred ** 2).mean(axis=0)) + eps)\n")


def _cells(notebook: dict) -> dict[str, dict]:
    return {c["metadata"].get("nbgrader", {}).get("grade_id"): c for c in notebook["cells"]
            if c["metadata"].get("nbgrader", {}).get("grade_id")}


def _with_answer(solution: dict, grade_id: str, source: str) -> dict:
    notebook = json.loads(json.dumps(solution))
    _cells(notebook)[grade_id]["source"] = source
    return notebook


def _appended(solution: dict, grade_id: str, code: str) -> dict:
    notebook = json.loads(json.dumps(solution))
    cell = _cells(notebook)[grade_id]
    cell["source"] = "".join(cell["source"]) + "\n" + code
    return notebook


def _prepended(solution: dict, grade_id: str, code: str) -> dict:
    notebook = json.loads(json.dumps(solution))
    cell = _cells(notebook)[grade_id]
    cell["source"] = code + "".join(cell["source"])
    return notebook


def _tree_digest(root: Path) -> dict[str, str]:
    """sha256 of every file that grading must not change."""
    digests = {}
    for folder in (course.SOURCE_DIR, course.RELEASE_DIR, "submitted"):
        for path in sorted((root / folder).rglob("*")):
            if path.is_file():
                digests[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    config = root / course.CONFIG_NAME
    digests[course.CONFIG_NAME] = hashlib.sha256(config.read_bytes()).hexdigest()
    return digests


def _class(root: Path, solution: dict, release: dict, port: int) -> dict[str, object]:
    """student id -> notebook (dict) or raw file content (str), one student per attempt."""
    R = str(root)
    gradebook = f"{R}/gradebook.db"
    return {
        # honest students, around the others
        "honest": solution,
        "honest_blank": release,
        "honest_alternatives": _with_answer(_with_answer(solution, "one_hot", ALTERNATIVE_ONE_HOT),
                                            "standardize_columns", ALTERNATIVE_STANDARDIZE),
        # 1. checks cannot be rebound or patched
        "rebinds_checkers": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                         "assert_close = check = assert_shape = lambda *a, **k: None\n"),
        "patches_testing": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                        "import dlcourse.testing as t, dlcourse.testing.checks as c\n"
                                        "t.assert_close = c.assert_close = lambda *a, **k: None\n"),
        "patches_numpy": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                      "np.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)\n"
                                      "np.allclose = lambda *a, **k: True\n"),
        "patches_torch": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                      "import torch.nn.functional as F\n"
                                      "F.one_hot = lambda t, n: torch.zeros(len(t), n, dtype=torch.int64)\n"),
        "patches_builtins": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                         "import builtins\nbuiltins.AssertionError = KeyboardInterrupt\n"),
        "replaces_sys_modules": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                             "import sys, types\nsys.modules['dlcourse.testing'] = types.SimpleNamespace("
                                             "assert_close=print, assert_shape=print, check=print)\n"),
        "prints_fake_checks": _with_answer(solution, "one_hot", WRONG_ONE_HOT.replace(
            "    return", "    print('✓ one_hot(y, 3) matches (max abs error 0.0e+00)')\n    return")),
        "input_transformer": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                          "get_ipython().input_transformers_cleanup.append(lambda lines: [])\n"),
        "ast_wrapper": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                    "import ast\nclass Swallow(ast.NodeTransformer):\n"
                                    "    def visit_Module(self, node):\n"
                                    "        node.body = [ast.Try(body=node.body, handlers=[ast.ExceptHandler(type=None, "
                                    "name=None, body=[ast.Pass()])], orelse=[], finalbody=[])]\n"
                                    "        return ast.fix_missing_locations(node)\n"
                                    "get_ipython().ast_transformers.append(Swallow())\n"),
        "writes_gradebook": _with_answer(solution, "one_hot", WRONG_ONE_HOT +
                                         "import glob, os, sqlite3\n"
                                         f"for path in glob.glob('*.db') + glob.glob('../*.db') + ['{gradebook}',"
                                         " os.path.expanduser('~/gradebook.db'), '../gradebook.db', '../../gradebook.db']:\n"
                                         "    try:\n        db = sqlite3.connect(path); db.execute("
                                         "'UPDATE grade SET auto_score = 1000'); db.commit()\n"
                                         "    except Exception:\n        pass\n"),
        "reads_solution": _appended(release, "one_hot",
                                    f"import json\nsource = json.load(open('{R}/solutions/{ASSIGNMENT}/primer.ipynb'))\n"
                                    "for cell in source['cells']:\n"
                                    "    if cell['cell_type'] == 'code' and 'BEGIN SOLUTION' in ''.join(cell['source']):\n"
                                    "        exec(''.join(cell['source']))\n"),
        "raises_points": _raised_points(release, solution),
        # 4. nothing outside the submission changes
        "deletes_course": _appended(solution, "one_hot",
                                    "import os, shutil\n"
                                    f"for path in ['{gradebook}', '{R}/{course.CONFIG_NAME}', '{R}/submitted/honest/"
                                    f"{ASSIGNMENT}/primer.ipynb']:\n"
                                    "    try:\n        os.remove(path)\n    except Exception:\n        pass\n"
                                    f"shutil.rmtree('{R}/solutions', ignore_errors=True)\n"
                                    f"try:\n    open('{R}/course/{ASSIGNMENT}/primer.ipynb', 'w').write('x')\n"
                                    "except Exception:\n    pass\n"),
        "follows_symlink": _appended(solution, "one_hot",
                                     "import os\ntry:\n    os.symlink('/', 'escape')\n"
                                     f"    open('escape{R}/solutions/{ASSIGNMENT}/primer.ipynb', 'a').write('x')\n"
                                     "except Exception:\n    pass\n"),
        "detached_process": _appended(solution, "one_hot",
                                      "import subprocess\ntry:\n    subprocess.Popen(['sh', '-c', 'sleep 3; "
                                      f"echo x >> {R}/{course.CONFIG_NAME}'], start_new_session=True)\n"
                                      "except Exception:\n    pass\n"),
        "forks": _appended(solution, "one_hot",
                           "import os\ntry:\n    if os.fork() == 0:\n        os._exit(0)\nexcept Exception:\n    pass\n"),
        "network": _appended(solution, "one_hot",
                             f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=2)\n"
                             "except Exception:\n    pass\n"),
        "kills_grader": _appended(solution, "one_hot",
                                  "import os, signal\nfor pid in os.listdir('/proc'):\n"
                                  "    if pid.isdigit() and int(pid) != os.getpid():\n"
                                  "        try:\n            os.kill(int(pid), signal.SIGKILL)\n"
                                  "        except Exception:\n            pass\n"),
        # 5. hostile but not malicious
        "endless_loop": _with_answer(solution, "class_means", "def class_means(X, y, num_classes):\n"
                                     "    while True:\n        pass\n"),
        "sleeps": _appended(solution, "standardize_columns", "import time\ntime.sleep(600)\n"),
        "memory_bomb": _prepended(solution, "standardize_columns", "import numpy\nhuge = numpy.ones((10**6, 10**6))\n"),
        "sys_exit": _prepended(solution, "standardize_columns", "import sys\nsys.exit(3)\n"),
        "os_exit": _appended(solution, "standardize_columns", "import os\nos._exit(0)\n"),
        "keyboard_interrupt": _prepended(solution, "standardize_columns", "raise KeyboardInterrupt\n"),
        "syntax_error": _with_answer(solution, "standardize_columns", "def standardize_columns(X, eps=1e-8:\n"),
        "deletes_grade_cell": _without(solution, "check_gradient"),
        "edits_grade_cell": _edited_check(solution, "check_one_hot", WRONG_ONE_HOT),
        "edits_metadata": _edited_metadata(solution),
        "copies_answer_cell": _copied_answer(solution, "gradient"),
        "writes_stderr": _appended(solution, "one_hot", "import sys, warnings\nprint('noise', file=sys.stderr)\n"
                                   "def one_hot(y, num_classes, _inner=one_hot):\n"
                                   "    warnings.warn('a harmless warning')\n    return _inner(y, num_classes)\n"),
        "not_a_notebook": "this is not a notebook",
        "empty_file": "",
    }


def _raised_points(release: dict, solution: dict) -> dict:
    """Only one_hot answered, and its check's points raised to the whole assignment."""
    notebook = _with_answer(release, "one_hot", "".join(_cells(solution)["one_hot"]["source"]))
    _cells(notebook)["check_one_hot"]["metadata"]["nbgrader"]["points"] = 7
    answer = _cells(notebook)["class_means"]["metadata"]["nbgrader"]
    answer.update(grade=True, points=50)  # an answer cell turned into a grade cell
    return notebook


def _without(solution: dict, grade_id: str) -> dict:
    notebook = json.loads(json.dumps(solution))
    notebook["cells"] = [c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") != grade_id]
    return notebook


def _edited_check(solution: dict, grade_id: str, wrong: str) -> dict:
    notebook = _with_answer(solution, "one_hot", wrong)
    _cells(notebook)[grade_id]["source"] = "pass\n"
    return notebook


def _edited_metadata(solution: dict) -> dict:
    notebook = json.loads(json.dumps(solution))
    cells = _cells(notebook)
    cells["check_moving_average"]["metadata"]["nbgrader"]["grade_id"] = "my_own_id"
    cells["check_standardize_columns"]["metadata"]["nbgrader"]["points"] = 99
    return notebook


def _copied_answer(solution: dict, grade_id: str) -> dict:
    notebook = json.loads(json.dumps(solution))
    index = next(i for i, c in enumerate(notebook["cells"])
                 if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    copy = json.loads(json.dumps(notebook["cells"][index]))
    copy["id"] = "copy-of-" + copy["id"]
    copy["source"] = "# my scratch work\nhelper = 1\n"
    notebook["cells"].insert(index + 1, copy)
    return notebook


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    root = scratch_course(tmp_path_factory.mktemp("hostile"), ASSIGNMENT)
    source = root / course.SOURCE_DIR / ASSIGNMENT / "primer.ipynb"
    solution = json.loads(source.read_text(encoding="utf-8"))
    release = json.loads((root / course.RELEASE_DIR / ASSIGNMENT / "primer.ipynb").read_text(encoding="utf-8"))
    listener = socket.create_server(("127.0.0.1", 0))
    connections: list = []
    threading.Thread(target=lambda: connections.append(listener.accept()), daemon=True).start()
    students = _class(root, solution, release, listener.getsockname()[1])
    for student, content in students.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        text = content if isinstance(content, str) else json.dumps(content)
        (folder / "primer.ipynb").write_text(text, encoding="utf-8")
    for student, names in (("misnamed", ["my homework.ipynb"]), ("extra_notebook", ["primer.ipynb", "notes.ipynb"])):
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for name in names:
            (folder / name).write_text(source.read_text(encoding="utf-8"), encoding="utf-8")
    before = _tree_digest(root)
    result = run_dlcourse(root, "grade", ASSIGNMENT, "--workers", "2", "--timeout", "60",
                          "--submission-timeout", "400", timeout=2400)
    import time
    time.sleep(4)  # a process that outlived its submission would act now
    listener.close()
    with open(root / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    return {"root": root, "result": result, "before": before, "after": _tree_digest(root), "rows": rows,
            "connections": connections, "students": set(students) | {"misnamed", "extra_notebook"}}


def _scores(graded, student) -> dict[str, float]:
    return submission_scores(graded["root"], ASSIGNMENT, student)


def test_the_run_completes_and_the_course_is_unchanged(graded_class):
    result = graded_class["result"]
    assert "another `dlcourse grade`" not in result.stdout + result.stderr
    assert graded_class["before"] == graded_class["after"], "grading changed the course's files"
    assert not graded_class["connections"], "a submission reached the network"
    assert set(graded_class["rows"]) == graded_class["students"], "every student has a row in grades.csv"


@pytest.mark.parametrize("student", ["honest", "honest_alternatives", "misnamed", "extra_notebook", "writes_stderr",
                                     "copies_answer_cell",
                                     "deletes_grade_cell", "edits_metadata"])
def test_honest_and_harmless_submissions_get_full_marks_and_no_flag(graded_class, student):
    scores = _scores(graded_class, student)
    assert scores == {check: scores[check] for check in CHECKS} and all(
        scores[c] == {"check_moving_average": 2.0}.get(c, 1.0) for c in CHECKS), scores
    row = graded_class["rows"][student]
    assert row["status"] == "graded" and not row["flags"], row


def test_a_blank_notebook_scores_zero_without_a_flag(graded_class):
    assert sum(_scores(graded_class, "honest_blank").values()) == 0
    assert graded_class["rows"]["honest_blank"]["status"] == "graded"


@pytest.mark.parametrize("student, reported", [
    ("rebinds_checkers", "rebound 'assert_close'"), ("patches_testing", "changed dlcourse.testing"),
    ("patches_numpy", "changed numpy.allclose"), ("patches_torch", "changed torch.nn.functional.one_hot"),
    ("patches_builtins", "changed builtins.AssertionError"),
    ("replaces_sys_modules", "replaced sys.modules['dlcourse.testing']"),
    ("writes_gradebook", "gradebook.db, a file of the course"), ("reads_solution", "tried to open"),
    ("detached_process", "tried to start a process"), ("forks", "tried to start a process"),
    ("network", "tried to use the network"), ("deletes_course", "a file of the course"),
    ("follows_symlink", "a file of the course"), ("kills_grader", "tried to send a signal"),
])
def test_tampering_earns_nothing_and_is_flagged_with_the_cell_and_what(graded_class, student, reported):
    scores = _scores(graded_class, student)
    assert scores["check_one_hot"] == 0, f"{student} earned the points of its wrong one_hot: {scores}"
    row = graded_class["rows"][student]
    assert row["status"] == "flagged" and reported in row["flags"] and "one_hot" in row["flags"], row
    assert "flagged" in graded_class["result"].stdout and student in graded_class["result"].stdout


@pytest.mark.parametrize("student", ["prints_fake_checks", "input_transformer", "ast_wrapper", "edits_grade_cell"])
def test_tricks_that_cannot_work_earn_nothing(graded_class, student):
    scores = _scores(graded_class, student)
    assert scores["check_one_hot"] == 0 and scores["check_gradient"] == 1, scores


def test_metadata_comes_from_the_course(graded_class):
    scores = _scores(graded_class, "raises_points")
    assert scores == {"check_one_hot": 1.0, **{c: 0.0 for c in CHECKS[1:]}}, scores
    row = graded_class["rows"]["raises_points"]
    assert float(row["autograded"]) == 1 and float(row["autograded_max"]) == 7
    assert "edited" in row["notes"] and "check_one_hot" in row["notes"]
    notes = graded_class["rows"]["edits_metadata"]["notes"]
    assert "my_own_id" in notes and "check_standardize_columns" in notes


@pytest.mark.parametrize("student, lost, reason", [
    ("endless_loop", "check_class_means", "ran past its 60 s limit"),
    ("sleeps", "check_standardize_columns", "ran past its 60 s limit"),
    ("memory_bomb", "check_standardize_columns", "MemoryError"),
    ("sys_exit", "check_standardize_columns", "SystemExit"),
    ("os_exit", "check_standardize_columns", "the student's process stopped during standardize_columns"),
    ("keyboard_interrupt", "check_standardize_columns", "KeyboardInterrupt"),
    ("syntax_error", "check_standardize_columns", "SyntaxError"),
])
def test_a_difficult_cell_costs_only_its_own_check(graded_class, student, lost, reason):
    scores = _scores(graded_class, student)
    expected = {c: (0.0 if c == lost else {"check_moving_average": 2.0}.get(c, 1.0)) for c in CHECKS}
    assert scores == expected, scores
    assert graded_class["rows"][student]["status"] == "graded"
    if reason:
        feedback = (graded_class["root"] / "autograded" / student / ASSIGNMENT / "primer.ipynb").read_text()
        assert reason in feedback


@pytest.mark.parametrize("student, reason", [("not_a_notebook", "is not a notebook"), ("empty_file", "is empty")])
def test_a_file_that_is_not_a_notebook_is_reported(graded_class, student, reason):
    row = graded_class["rows"][student]
    assert row["status"] == "invalid" and reason in row["reason"], row
    assert f"{student}: invalid" in graded_class["result"].stdout


def test_a_misnamed_notebook_is_graded_and_an_extra_one_ignored(graded_class):
    assert "graded my homework.ipynb as primer.ipynb" in graded_class["rows"]["misnamed"]["notes"]
    assert "ignored notes.ipynb" in graded_class["rows"]["extra_notebook"]["notes"]
