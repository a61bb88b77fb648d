"""The course as a folder: find it, run nbgrader with its config, build and check course/.

The course root holds `jupyter_config.py`, `solutions/` (nbgrader source) and `course/`
(nbgrader release). Jupyter only reads a config file from the Jupyter config path, so every
tool here runs Jupyter and nbgrader with the root put on `JUPYTER_CONFIG_PATH`.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

CONFIG_NAME = "jupyter_config.py"
SOURCE_DIR = "solutions"
RELEASE_DIR = "course"
LEAK_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
START_PAGE = "README.md"  # course/README.md: the students' start page, written by hand (not generated)


class CourseError(RuntimeError):
    """Something about the course folder is wrong; the message says what to do."""


def find_root(start: Path | None = None) -> Path:
    """The course root: `DLCOURSE_ROOT`, else the first folder upwards holding jupyter_config.py."""
    if os.environ.get("DLCOURSE_ROOT"):
        root = Path(os.environ["DLCOURSE_ROOT"]).resolve()
        if not (root / CONFIG_NAME).is_file():
            raise CourseError(f"DLCOURSE_ROOT={root} has no {CONFIG_NAME}.")
        return root
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_NAME).is_file() and (folder / SOURCE_DIR).is_dir():
            return folder
    raise CourseError(
        f"no course found above {here}: run this inside the course folder (the one with "
        f"{CONFIG_NAME} and {SOURCE_DIR}/), or set DLCOURSE_ROOT."
    )


CONFIG_EXTRA = Path(__file__).parent / "config"  # holds an empty nbgrader_config.py (see there)


STUDENT_LAB = CONFIG_EXTRA / "student"  # labconfig/page_config.json: no instructor panels


def jupyter_env(root: Path, instructor: bool = True) -> dict[str, str]:
    """A copy of os.environ with the course root first on JUPYTER_CONFIG_PATH.

    The folder of this Python's scripts goes first on PATH: nbgrader calls `alembic` by name,
    and an environment used without activating it would not find it. instructor=False: a
    student's lab, without nbgrader's instructor panels.
    """
    env = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([scripts, env.get("PATH", "")])
    extra = [str(CONFIG_EXTRA)] + ([] if instructor else [str(STUDENT_LAB)])
    paths = [str(root), *extra] + [p for p in env.get("JUPYTER_CONFIG_PATH", "").split(os.pathsep) if p]
    env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    return env


def run_nbgrader(root: Path, args: list[str], cwd: Path | None = None, timeout: float | None = None,
                 extra_env: dict[str, str] | None = None, pid_file: Path | None = None) -> subprocess.CompletedProcess:
    """Run `python -m nbgrader ARGS` with the course config; output is captured as text.

    It runs in a session of its own: at `timeout` the whole session is killed (and
    subprocess.TimeoutExpired raised); `pid_file` records its id for a later clean-up.
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "nbgrader", *args], cwd=cwd or root,
        env={**jupyter_env(root), "MPLBACKEND": "Agg", **(extra_env or {})},  # grading draws nothing
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    if pid_file is not None:
        pid_file.write_text(str(process.pid), encoding="utf-8")
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_session(process)
        raise
    except BaseException:  # Ctrl-C: the session must not outlive us
        _kill_session(process)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _kill_session(process: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    process.communicate()


_SHOW_NBGRADER_CONFIG = """
from nbgrader.apps.nbgraderapp import NbGraderApp
from nbgrader.coursedir import CourseDirectory
app = NbGraderApp()
app.initialize([])
directory = CourseDirectory(parent=app)
print(directory.course_id, directory.source_directory, directory.release_directory, directory.db_url, sep="|")
"""


def nbgrader_settings(root: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """course_id, source_directory, release_directory and db_url as nbgrader itself sees them."""
    result = subprocess.run([sys.executable, "-c", _SHOW_NBGRADER_CONFIG], cwd=root,
                            env=env if env is not None else jupyter_env(root),
                            capture_output=True, text=True, timeout=120)
    values = result.stdout.strip().splitlines()[-1].split("|") if result.stdout.strip() else []
    if result.returncode != 0 or len(values) != 4:
        raise CourseError(f"could not read nbgrader's settings:\n{result.stderr}")
    return dict(zip(("course_id", "source_directory", "release_directory", "db_url"), values))


def assignments(root: Path) -> list[str]:
    """Names of the assignments: the folders of solutions/ that hold a notebook."""
    source = root / SOURCE_DIR
    return sorted(d.name for d in source.iterdir() if d.is_dir() and any(d.glob("*.ipynb")))


def _chosen(root: Path, names: list[str] | None) -> list[str]:
    known = assignments(root)
    for name in names or []:
        if name not in known:
            raise CourseError(f"no assignment {name!r} in {SOURCE_DIR}/; known: {', '.join(known)}")
    return list(names) if names else known


def generate(root: Path, names: list[str] | None, into: Path, db_url: str | None = None,
             progress=None) -> None:
    """nbgrader generate_assignment for each name, writing releases under `into`/course/.

    `into` is a course root of its own (the real root, or a scratch folder for `check`);
    the source is always the real solutions/. db_url: the gradebook to record the cells in
    (default: the course's configured one).
    """
    for name in _chosen(root, names):
        if into != root:
            (into / SOURCE_DIR).mkdir(parents=True, exist_ok=True)
            shutil.copytree(root / SOURCE_DIR / name, into / SOURCE_DIR / name, dirs_exist_ok=True)
        if progress:
            progress(name)
        result = run_nbgrader(root, [
            "generate_assignment", name, "--force", f"--CourseDirectory.root={into}",
            *([f"--CourseDirectory.db_url={db_url}"] if db_url else []),
        ])
        if result.returncode != 0:
            raise CourseError(f"nbgrader could not generate {name}:\n{result.stdout}{result.stderr}")
        for notebook in (into / RELEASE_DIR / name).rglob("*.ipynb"):
            _normalise(notebook)


def _normalise(notebook: Path) -> None:
    """Rewrite a notebook in one canonical byte form so that builds are byte-stable."""
    data = json.loads(notebook.read_text(encoding="utf-8"))
    notebook.write_text(json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
                        encoding="utf-8")


def build(root: Path, names: list[str] | None = None, progress=None) -> list[str]:
    """Regenerate course/<name>/ from solutions/<name>/ (all assignments by default).

    progress(name) is called as each assignment starts (nbgrader takes a few seconds each).
    """
    chosen = _chosen(root, names)
    for name in chosen:
        shutil.rmtree(root / RELEASE_DIR / name, ignore_errors=True)
    generate(root, chosen, into=root, progress=progress)
    return chosen


def check(root: Path, progress=None) -> list[str]:
    """Every problem with course/ and solutions/, one line each; empty when all is well.

    progress(name) is called as each assignment's fresh release is generated for comparison.
    """
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="dlcourse-check-") as scratch:
        fresh = Path(scratch)

        def generate_fresh(name: str) -> str | None:
            """Generate one release into `fresh` (its own gradebook, so several can run at once)."""
            try:
                generate(root, [name], into=fresh, db_url=f"sqlite:///{fresh / f'{name}.db'}", progress=progress)
            except CourseError as error:
                if (root / RELEASE_DIR / name).is_dir():  # compare the rest as it is
                    shutil.copytree(root / RELEASE_DIR / name, fresh / RELEASE_DIR / name, dirs_exist_ok=True)
                return f"{SOURCE_DIR}/{name}: {error}"
            return None

        # Each generation is an nbgrader process that mostly imports: one per core at once.
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            problems += [problem for problem in pool.map(generate_fresh, assignments(root)) if problem]
        problems += _compare_trees(fresh / RELEASE_DIR, root / RELEASE_DIR)
    for notebook in sorted((root / SOURCE_DIR).rglob("*.ipynb")) + sorted((root / RELEASE_DIR).rglob("*.ipynb")):
        if ".ipynb_checkpoints" not in notebook.parts:
            problems += _notebook_problems(root, notebook)
    return problems


def _compare_trees(fresh: Path, committed: Path) -> list[str]:
    problems = []
    fresh_files = {p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file()}
    committed_files = {p.relative_to(committed) for p in committed.rglob("*")
                       if p.is_file() and ".ipynb_checkpoints" not in p.parts} if committed.is_dir() else set()
    committed_files.discard(Path(START_PAGE))
    for rel in sorted(fresh_files - committed_files):
        problems.append(f"{RELEASE_DIR}/{rel}: missing; run `dlcourse build {rel.parts[0]}`")
    for rel in sorted(committed_files - fresh_files):
        problems.append(f"{RELEASE_DIR}/{rel}: not generated from {SOURCE_DIR}/; delete it or add its source")
    for rel in sorted(fresh_files & committed_files):
        if not filecmp.cmp(fresh / rel, committed / rel, shallow=False):
            detail = _differing_cells(fresh / rel, committed / rel) if rel.suffix == ".ipynb" else ""
            problems.append(f"{RELEASE_DIR}/{rel}: differs from a fresh generation of {SOURCE_DIR}/"
                            f"{detail}; run `dlcourse build {rel.parts[0]}`")
    return problems


def _cell_name(cell: dict, index: int) -> str:
    grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
    return f"cell {index} ({grade_id})" if grade_id else f"cell {index}"


def _differing_cells(fresh: Path, committed: Path) -> str:
    try:
        new = json.loads(fresh.read_text(encoding="utf-8"))["cells"]
        old = json.loads(committed.read_text(encoding="utf-8"))["cells"]
    except (ValueError, KeyError):
        return " (not a valid notebook)"
    if len(new) != len(old):
        return f" ({len(old)} cells, expected {len(new)})"
    names = [_cell_name(c, i) for i, (c, o) in enumerate(zip(new, old)) if c != o]
    return f" ({', '.join(names)})" if names else " (notebook metadata)"


_CHECKS_PASSED = re.compile(r"checks_passed\(\s*([0-9.]+)\s*(,\s*hidden\s*=\s*False\s*)?\)")
_BARE_ASSERT = re.compile(r"^\s*assert\s|raise AssertionError", re.M)
SETUP_METADATA = {"grade": False, "grade_id": "setup", "locked": True, "schema_version": 3,
                  "solution": False, "task": False}


def _source_rules(where: Path, cells: list[dict]) -> list[str]:
    """What every source notebook keeps to: a locked setup cell; locked cells raise only through
    dlcourse.testing (its short ✗ line, not an assert's traceback); each check cell's visible part
    ends with checks_passed(<its points>), with hidden=False when it has no hidden tests."""
    problems = []
    code = [c for c in cells if c.get("cell_type") == "code"]
    if code and code[0].get("metadata", {}).get("nbgrader") != SETUP_METADATA:
        problems.append(f"{where}: the first code cell (setup) is not the locked setup cell; give it nbgrader "
                        f"metadata {SETUP_METADATA}, so that grading uses the course's imports")
    for index, cell in enumerate(cells):
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.get("cell_type") != "code" or not meta.get("locked"):
            continue
        source = "".join(cell.get("source", ""))
        if _BARE_ASSERT.search(source):
            problems.append(f"{where}: {_cell_name(cell, index)} raises with a bare assert; use dlcourse.testing's "
                            "check or assert_close, whose failure is one short line that names the mistake")
        if not meta.get("grade"):
            continue
        hidden = "### BEGIN HIDDEN TESTS" in source
        lines = source.split("### BEGIN HIDDEN TESTS")[0].rstrip().splitlines()
        announced = _CHECKS_PASSED.fullmatch(lines[-1].strip()) if lines else None
        wanted = f"checks_passed({meta.get('points', '?')}{'' if hidden else ', hidden=False'})"
        if not announced or bool(announced.group(2)) == hidden:
            problems.append(f"{where}: {_cell_name(cell, index)} does not end its visible checks with {wanted}")
        elif float(announced.group(1)) != float(meta.get("points", 0)):
            problems.append(f"{where}: {_cell_name(cell, index)} announces checks_passed({announced.group(1)}) "
                            f"but is worth {meta.get('points')} points")
    return problems


def _notebook_problems(root: Path, notebook: Path) -> list[str]:
    where = notebook.relative_to(root)
    try:
        cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    except (ValueError, KeyError):
        return [f"{where}: not a valid notebook"]
    problems, seen, with_outputs = [], set(), []
    released = where.parts[0] == RELEASE_DIR
    for index, cell in enumerate(cells):
        name = _cell_name(cell, index)
        if cell.get("outputs") or cell.get("execution_count") is not None:
            with_outputs.append(str(index))
        source = "".join(cell.get("source", ""))
        if released and any(marker in source for marker in LEAK_MARKERS):
            problems.append(f"{where}: {name} holds a solution or hidden-test marker")
        meta = cell.get("metadata", {}).get("nbgrader", {})
        grade_id = meta.get("grade_id")
        if grade_id and grade_id in seen:
            problems.append(f"{where}: {name} repeats grade_id {grade_id!r} (copied cell?); give it a new id")
        if grade_id:
            seen.add(grade_id)
        if meta.get("grade") and not meta.get("points"):
            problems.append(f"{where}: {name} is a grade cell without points")
    if not released:
        problems += _source_rules(where, cells)
    if with_outputs:
        problems.append(f"{where}: {len(with_outputs)} cell(s) have outputs (cells {', '.join(with_outputs[:8])}"
                        f"{', ...' if len(with_outputs) > 8 else ''}); clear them all with "
                        f"`jupyter nbconvert --clear-output --inplace {where}`")
    return problems
