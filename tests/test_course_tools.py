"""The course tooling: config seen by Jupyter and nbgrader, pins, `dlcourse check`, grading."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from dlcourse import course
from test_pipeline import run_dlcourse, scratch_course, submission_scores

ROOT = Path(__file__).resolve().parents[1]
PRIMER = "00_primer"


def test_environment_yml_pins_match_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    conda = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip_section = next(d["pip"] for d in conda["dependencies"] if isinstance(d, dict))
    assert set(pip_section) - {"-e ."} == wanted
    assert "python=3.11" in conda["dependencies"]
    assert "torch==2.13.0" in wanted


def test_nbgrader_sees_the_config_only_through_the_config_path():
    seen = course.nbgrader_settings(ROOT)
    assert seen == {"course_id": "dlcourse", "source_directory": "solutions", "release_directory": "course",
                    "db_url": f"sqlite:///{ROOT / 'gradebook.db'}"}
    bare = {k: v for k, v in os.environ.items() if k != "JUPYTER_CONFIG_PATH"}
    assert course.nbgrader_settings(ROOT, env=bare)["source_directory"] == "source", (
        "without JUPYTER_CONFIG_PATH nbgrader should fall back to its defaults; if it does not, "
        "this test no longer proves that the config path is what makes it see jupyter_config.py")


def test_jupyterlab_sees_the_config():
    result = subprocess.run([sys.executable, "-m", "jupyterlab", "--show-config"], cwd=ROOT,
                            env=course.jupyter_env(ROOT), capture_output=True, text=True, timeout=120)
    assert str(ROOT / "jupyter_config.py") in result.stdout
    assert "default_url = '/lab/tree/course/README.md'" in result.stdout
    assert "news_url = None" in result.stdout
    assert f"root_dir = '{ROOT}'" in result.stdout


def test_check_passes_on_the_committed_course():
    problems = course.check(ROOT)
    assert not problems, "\n".join(problems)


@pytest.fixture
def primer_copy(tmp_path) -> Path:
    return scratch_course(tmp_path, PRIMER)


def _edit_first_cell_with(notebook: Path, marker: str, edit) -> None:
    data = json.loads(notebook.read_text(encoding="utf-8"))
    cell = next(c for c in data["cells"] if marker in "".join(c["source"]))
    edit(cell)
    notebook.write_text(json.dumps(data, indent=1), encoding="utf-8")


def test_build_is_byte_stable(primer_copy):
    release = primer_copy / "course" / PRIMER / "primer.ipynb"
    before = release.read_bytes()
    assert run_dlcourse(primer_copy, "build", PRIMER).returncode == 0
    assert release.read_bytes() == before
    assert run_dlcourse(primer_copy, "check").returncode == 0


def test_check_names_a_stale_release(primer_copy):
    source = primer_copy / "solutions" / PRIMER / "primer.ipynb"
    _edit_first_cell_with(source, "def one_hot", lambda c: c.update(source="".join(c["source"]).replace(
        "One-hot encode integer labels.", "One-hot encode labels (edited).")))
    result = run_dlcourse(primer_copy, "check")
    assert result.returncode == 1
    assert f"course/{PRIMER}/primer.ipynb: differs" in result.stdout
    assert "(one_hot)" in result.stdout


def test_check_names_leaks_outputs_duplicates_and_missing_points(primer_copy):
    release = primer_copy / "course" / PRIMER / "primer.ipynb"
    _edit_first_cell_with(release, "def one_hot", lambda c: c.update(source="### BEGIN SOLUTION\n"))
    source = primer_copy / "solutions" / PRIMER / "primer.ipynb"
    _edit_first_cell_with(source, "def moving_average_loop", lambda c: c.update(
        outputs=[{"output_type": "stream", "name": "stdout", "text": "cpu\n"}], execution_count=3))
    _edit_first_cell_with(source, "def class_means", lambda c: c["metadata"]["nbgrader"].update(grade_id="one_hot"))
    _edit_first_cell_with(source, "def torch_class_means", lambda c: c["metadata"]["nbgrader"].pop("points"))
    out = run_dlcourse(primer_copy, "check").stdout
    assert "holds a solution or hidden-test marker" in out
    assert "have outputs" in out and "jupyter nbconvert --clear-output --inplace" in out
    assert "repeats grade_id 'one_hot'" in out
    assert "(check_class_means) is a grade cell without points" in out


def test_check_names_the_rules_every_source_notebook_keeps():
    cells = json.loads((ROOT / "solutions" / PRIMER / "primer.ipynb").read_text(encoding="utf-8"))["cells"]
    assert course._source_rules(Path("primer.ipynb"), cells) == []
    code = [c for c in cells if c["cell_type"] == "code"]
    graded = [c for c in code if c["metadata"].get("nbgrader", {}).get("grade")]
    code[0]["metadata"]["nbgrader"]["locked"] = False
    graded[0]["source"] = "".join(graded[0]["source"]).replace("checks_passed(", "assert True\nchecks_passed(", 1)
    graded[1]["source"] = "".join(graded[1]["source"]).split("### BEGIN HIDDEN TESTS")[0] + "print('done')\n"
    with_hidden = next(c for c in graded[2:] if "### BEGIN HIDDEN TESTS" in "".join(c["source"]))
    with_hidden["source"] = re.sub(r"checks_passed\((\d+)\)", r"checks_passed(\1, hidden=False)",
                                   "".join(with_hidden["source"]))
    problems = "\n".join(course._source_rules(Path("primer.ipynb"), cells))
    assert "the first code cell (setup) is not the locked setup cell" in problems
    assert "raises with a bare assert" in problems
    assert problems.count("does not end its visible checks with") == 2, problems


def _submit(root: Path, student: str, notebook: dict | str) -> None:
    folder = root / "submitted" / student / PRIMER
    folder.mkdir(parents=True)
    text = notebook if isinstance(notebook, str) else json.dumps(notebook)
    (folder / "primer.ipynb").write_text(text, encoding="utf-8")


def test_grade_survives_a_hanging_and_a_corrupt_submission(primer_copy):
    solution = json.loads((primer_copy / "solutions" / PRIMER / "primer.ipynb").read_text())
    _submit(primer_copy, "good", solution)
    hanging = json.loads(json.dumps(solution))
    cell = next(c for c in hanging["cells"] if "def one_hot" in "".join(c["source"]))
    cell["source"] = "".join(cell["source"]).replace("    ### BEGIN SOLUTION", "    while True:\n        pass")
    _submit(primer_copy, "hangs", hanging)
    _submit(primer_copy, "corrupt", "{ this is not a notebook")

    result = run_dlcourse(primer_copy, "grade", PRIMER, "--workers", "2", "--timeout", "30")
    assert result.returncode == 1, "a submission that could not be graded must make `dlcourse grade` exit non-zero"
    lines = {line.split()[2].rstrip(":"): line for line in result.stdout.splitlines() if f" {PRIMER} " in line}
    assert ": graded" in lines["good"] and ": graded" in lines["hangs"] and ": invalid" in lines["corrupt"]

    good, hangs = (submission_scores(primer_copy, PRIMER, s) for s in ("good", "hangs"))
    assert hangs["check_one_hot"] == 0 and good["check_one_hot"] == 1
    assert {k: v for k, v in hangs.items() if k != "check_one_hot"} == {
        k: v for k, v in good.items() if k != "check_one_hot"}
    with open(primer_copy / "grades.csv", newline="") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == {"good", "hangs", "corrupt"}
    assert rows["corrupt"]["status"] == "invalid" and "not a notebook" in rows["corrupt"]["reason"]
    assert float(rows["good"]["autograded"]) == sum(good.values())


def test_regrading_replaces_the_old_grade(primer_copy):
    blank = (primer_copy / "course" / PRIMER / "primer.ipynb").read_text()
    _submit(primer_copy, "student", blank)
    assert run_dlcourse(primer_copy, "grade", PRIMER).returncode == 0
    assert sum(submission_scores(primer_copy, PRIMER, "student").values()) == 0
    shutil.copy2(primer_copy / "solutions" / PRIMER / "primer.ipynb",
                 primer_copy / "submitted" / "student" / PRIMER / "primer.ipynb")
    assert run_dlcourse(primer_copy, "grade", PRIMER, "--student", "student").returncode == 0
    assert sum(submission_scores(primer_copy, PRIMER, "student").values()) > 0


def test_doctor_reports_and_passes(primer_copy):
    """On a one-assignment copy: test_check_passes_on_the_committed_course checks the whole course."""
    result = run_dlcourse(primer_copy, "doctor")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "seen by nbgrader" in result.stdout and "device:" in result.stdout


def test_bench_times_every_code_cell_and_flags_the_budget():
    from dlcourse import bench

    primer = ROOT / "solutions" / PRIMER / "primer.ipynb"
    timing = bench.time_notebook(ROOT, primer)
    code_cells = [c for c in json.loads(primer.read_text())["cells"] if c["cell_type"] == "code"]
    assert len(timing.cells) == len(code_cells)
    assert 0 < sum(s for _, s in timing.cells) <= timing.seconds
    text = bench.report([timing, bench.Timing("solutions/x/slow.ipynb", 120.0, [(3, 100.0)])])
    assert "slow.ipynb  OVER the 90 s budget" in text
    assert f"{PRIMER}/primer.ipynb  OVER" not in text


def test_tools_say_what_they_do_and_nbgrader_does_not_warn(primer_copy):
    result = run_dlcourse(primer_copy, "check")
    assert f"checking {PRIMER} ..." in result.stdout and "course/ is up to date and clean" in result.stdout
    assert "No nbgrader_config.py file found" not in result.stdout + result.stderr
    lab = run_dlcourse(primer_copy, "lab", "--help")
    for option in ("--no-browser", "--port=", "--IdentityProvider.token=", "--instructor"):
        assert option in lab.stdout, option


def test_a_students_lab_hides_the_instructor_panels():
    student = course.jupyter_env(ROOT, instructor=False)["JUPYTER_CONFIG_PATH"].split(os.pathsep)
    instructor = course.jupyter_env(ROOT, instructor=True)["JUPYTER_CONFIG_PATH"].split(os.pathsep)
    assert str(course.STUDENT_LAB) in student and str(course.STUDENT_LAB) not in instructor
    page_config = json.loads((course.STUDENT_LAB / "labconfig" / "page_config.json").read_text())
    assert page_config["disabledExtensions"]["@jupyter/nbgrader:formgrader"] is True


def test_bench_grading_takes_worker_counts_and_one_assignment():
    from dlcourse.cli import parser

    args = parser().parse_args(["bench", "07_sequences", "--grading", "3", "--workers", "1", "2"])
    assert (args.grading, args.workers, args.assignments) == (3, [1, 2], ["07_sequences"])
    args = parser().parse_args(["bench", "--grading", "3", "00_primer", "01_knn"])
    with pytest.raises(SystemExit, match="at most one assignment"):
        args.run(Path("."), args)
