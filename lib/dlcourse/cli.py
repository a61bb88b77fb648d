"""The `dlcourse` command line: all course tooling, the same on Linux, macOS and Windows.

    dlcourse doctor                 is everything in place? (exit 1 with the fix if not)
    dlcourse lab [ARGS...]          JupyterLab on the course, with the course config
    dlcourse build [ASSIGNMENT...]  regenerate course/ from solutions/
    dlcourse check                  course/ is what solutions/ generates, and clean
    dlcourse grade [ASSIGNMENT]     autograde submitted/, write grades.csv
    dlcourse feedback [ASSIGNMENT]  feedback pages for the graded submissions
    dlcourse report [ASSIGNMENT]    what the class got wrong, grade cell by grade cell (reports/)
    dlcourse hub                    the class's JupyterHub, for a trial on 127.0.0.1
    dlcourse bench [ASSIGNMENT...]  time each solution notebook, cell by cell
    dlcourse nbgrader ARGS...       any nbgrader command, with the course config
    dlcourse test [PYTEST ARGS...]  the whole test suite
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

from . import bench, course, grading

PACKAGES = ("torch", "numpy", "matplotlib", "scikit-learn", "ipywidgets", "jupyterlab",
            "nbgrader", "nbval", "mnist1d", "gymnasium")


def _doctor(root: Path, _args) -> int:
    problems = []
    print(f"course root   {root}")
    print(f"python        {sys.version.split()[0]} ({sys.executable})")
    for name in PACKAGES:
        try:
            print(f"{name:<13} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            print(f"{name:<13} MISSING")
            problems.append(f"{name} is not installed: run `make test` once, or "
                            f"`python -m pip install -e '.[dev]'` in the course folder")
    try:
        from .device import describe_environment
        print(describe_environment())
    except Exception as error:  # a broken torch install must still get a readable report
        problems.append(f"torch does not work ({error}); reinstall it: pip install torch==2.13.0")
    settings = course.nbgrader_settings(root)
    if settings["source_directory"] == course.SOURCE_DIR and settings["release_directory"] == course.RELEASE_DIR:
        print(f"config        {root / course.CONFIG_NAME} (seen by nbgrader: course {settings['course_id']})")
    else:
        problems.append(f"nbgrader does not see {course.CONFIG_NAME}; run tools through `dlcourse` "
                        f"or set JUPYTER_CONFIG_PATH={root}")
    from .data import dataset_status
    for name, status in dataset_status().items():
        print(f"data          {name:<10} {status}")
    from .sandbox import unavailable_reason
    print(f"sandbox       {unavailable_reason() or 'bubblewrap: submissions are graded in a sandbox'}")
    problems += course.check(root, progress=_progress("checking"))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    print("all good" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


LAB_HELP = """\
Starts JupyterLab on the course with its configuration (jupyter_config.py), opened on the
start page course/README.md. Every other option goes to JupyterLab unchanged, e.g.:

  --no-browser                    do not open a browser (print the URL instead)
  --port=8890                     another port than 8888
  --IdentityProvider.token=TOKEN  a fixed login token (or "" for none, on a laptop only)
  --ip=0.0.0.0                    listen on every network interface (set a token!)

A student's lab hides nbgrader's instructor panels (Create Assignment, Formgrader, Courses);
--instructor shows them.
"""


def _lab(root: Path, args) -> int:
    (root / "exchange").mkdir(exist_ok=True)  # nbgrader's exchange (jupyter_config.py), git-ignored
    command = [sys.executable, "-m", "jupyterlab", *args.passthrough]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in command:
        print("dlcourse lab: running as root (a container?), so starting JupyterLab with --allow-root")
        command.append("--allow-root")
    return subprocess.call(command, cwd=root, env=course.jupyter_env(root, instructor=args.instructor))


def _progress(verb: str):
    return lambda name: print(f"{verb} {name} ...", flush=True)


def _build(root: Path, args) -> int:
    for name in course.build(root, args.assignments or None, progress=_progress("building")):
        print(f"built {course.RELEASE_DIR}/{name}/ from {course.SOURCE_DIR}/{name}/")
    return 0


def _check(root: Path, _args) -> int:
    problems = course.check(root, progress=_progress("checking"))
    for problem in problems:
        print(problem)
    print("course/ is up to date and clean" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


def _grade(root: Path, args) -> int:
    outcomes = grading.grade(
        root, args.assignment, args.student or None, workers=args.workers, cell_timeout=args.timeout,
        submission_timeout=args.submission_timeout, memory_mb=args.memory_mb,
        csv_path=Path(args.csv).resolve() if args.csv else None, progress=lambda text: print(text, flush=True))
    counts = {status: sum(o.status == status for o in outcomes) for status in dict.fromkeys(o.status for o in outcomes)}
    print(", ".join(f"{n} {status}" for status, n in counts.items()) + f"; grades written to {args.csv or root / 'grades.csv'}")
    from .sandbox import unavailable_reason
    if unavailable_reason():
        print(f"warning: {unavailable_reason()}")
    return 1 if any(o.status != "graded" for o in outcomes) else 0


def _feedback(root: Path, args) -> int:
    from .feedback import offline_pages

    command = [sys.executable, "-m", "nbgrader", "generate_feedback", *([args.assignment] if args.assignment else []),
               "--force", *(f"--student={s}" for s in args.student or [])]
    code = subprocess.call(command, cwd=root, env=course.jupyter_env(root))
    pages = offline_pages(root / "feedback")
    print(f"feedback pages in {root / 'feedback'} ({pages} written); hand them back with "
          "`dlcourse nbgrader release_feedback ASSIGNMENT` or as files")
    return code


def _report(root: Path, args) -> int:
    from . import report

    for page, table in report.write_reports(root, args.assignment):
        print(f"wrote {page} and {table}")
    return 0


def _hub(root: Path, args) -> int:
    from . import hub

    return hub.run_trial(root, args)


def _bench(root: Path, args) -> int:
    if args.grading:
        if len(args.assignments) > 1:
            raise SystemExit("dlcourse bench --grading: name at most one assignment (default 00_primer)")
        bench.grading_throughput(root, args.grading, args.workers or [1, 2], *args.assignments)
        return 0
    timings = bench.bench(root, args.assignments or None)
    print(bench.report(timings))
    return 1 if any(t.seconds > bench.BUDGET_SECONDS for t in timings) else 0


def _nbgrader(root: Path, args) -> int:
    return subprocess.call([sys.executable, "-m", "nbgrader", *args.passthrough],
                           cwd=root, env=course.jupyter_env(root))


def _test(root: Path, args) -> int:
    workers = os.environ.get("DLCOURSE_TEST_WORKERS", "2")
    chose_paths = any(not arg.startswith("-") for arg in args.passthrough)
    paths = [] if chose_paths else ["tests", course.SOURCE_DIR]
    command = [sys.executable, "-m", "pytest", "-n", workers, "--dist", "loadgroup", "--nbval-lax",
               "--nbval-cell-timeout=180", "-p", "no:cacheprovider", *paths, *args.passthrough]
    env = {**course.jupyter_env(root), "MPLBACKEND": "Agg", "DLCOURSE_QUICK": "1"}  # experiments at their reduced size
    # One thread per process: with one test worker per core, more threads only fight (torch
    # slows down many times over when its threads outnumber the free cores).
    env.setdefault("OMP_NUM_THREADS", "1")
    return subprocess.call(command, cwd=root, env=env)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="dlcourse", description=__doc__,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="check the installation, config, device and data").set_defaults(run=_doctor)
    lab = commands.add_parser("lab", help="start JupyterLab on the course (other arguments go to it)",
                              description=LAB_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    lab.add_argument("--instructor", action="store_true", help="show nbgrader's instructor panels")
    lab.set_defaults(run=_lab, passthrough_to="jupyter lab")
    build = commands.add_parser("build", help="regenerate course/ from solutions/")
    build.add_argument("assignments", nargs="*", help="assignment folders (default: all)")
    build.set_defaults(run=_build)
    commands.add_parser("check", help="fail when course/ is stale or leaks").set_defaults(run=_check)
    grade = commands.add_parser("grade", help="autograde submitted/ and export grades")
    grade.add_argument("assignment", nargs="?", help="one assignment (default: all)")
    grade.add_argument("--student", action="append", help="only this student (repeatable)")
    grade.add_argument("--workers", type=int, default=1, help="submissions graded at once")
    grade.add_argument("--timeout", type=int, default=120, help="seconds per cell")
    grade.add_argument("--submission-timeout", type=int, default=900, help="seconds per submission")
    grade.add_argument("--memory-mb", type=int, default=8192, help="memory limit per submission (0: none)")
    grade.add_argument("--csv", help="where to write the grades (default: grades.csv)")
    grade.set_defaults(run=_grade)
    feedback = commands.add_parser("feedback", help="write feedback pages (no hidden tests, math offline)")
    feedback.add_argument("assignment", nargs="?", help="one assignment (default: all)")
    feedback.add_argument("--student", action="append", help="only this student (repeatable)")
    feedback.set_defaults(run=_feedback)
    summary = commands.add_parser("report", help="what the class got wrong, per grade cell (HTML page and CSV)")
    summary.add_argument("assignment", nargs="?", help="one assignment (default: every graded one)")
    summary.set_defaults(run=_report)
    server = commands.add_parser("hub", help="the class's JupyterHub on 127.0.0.1, for a trial (Ctrl-C stops it)")
    server.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000)")
    server.add_argument("--instructor", action="append", help="an instructor's user name (repeatable)")
    server.add_argument("--student", action="append", help="a student's user name (repeatable)")
    server.add_argument("--state", help="keep the hub's database and the trial homes here (default: removed at stop)")
    server.add_argument("--exchange", help="nbgrader's exchange folder (default: exchange/ in the course)")
    server.add_argument("--system-users", action="store_true",
                        help="run each server as the system account of that name (root only), as on a class server")
    server.add_argument("--course-account", help="the hub user whose server holds the course folder and the formgrader "
                        "(default grader-dlcourse; with --system-users, the account that owns the course folder)")
    server.add_argument("--install-proxy", action="store_true",
                        help="instead: install configurable-http-proxy with npm into this environment (online, once)")
    server.set_defaults(run=_hub)
    timing = commands.add_parser("bench", help="time each solution notebook (budget: 90 s)")
    timing.add_argument("assignments", nargs="*", help="assignment folders (default: all)")
    timing.add_argument("--grading", type=int, metavar="COPIES",
                        help="instead: grade COPIES copies of one solution (default 00_primer), report submissions per minute")
    timing.add_argument("--workers", type=int, nargs="+", metavar="N",
                        help="with --grading: the worker counts to try (default: 1 2)")
    timing.set_defaults(run=_bench)
    nbgrader = commands.add_parser("nbgrader", help="run nbgrader with the course config", add_help=False)
    nbgrader.set_defaults(run=_nbgrader, passthrough_to="nbgrader")
    test = commands.add_parser("test", help="run every test (other arguments go to pytest)")
    test.set_defaults(run=_test, passthrough_to="pytest")
    return top


def main(argv: list[str] | None = None) -> int:
    top = parser()
    args, passthrough = top.parse_known_args(argv)
    if passthrough and not getattr(args, "passthrough_to", None):
        top.error(f"unrecognized arguments: {' '.join(passthrough)}")
    args.passthrough = passthrough  # what lab, nbgrader and test hand on unchanged
    try:
        return args.run(course.find_root(), args)
    except course.CourseError as error:
        print(f"dlcourse {args.command}: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
