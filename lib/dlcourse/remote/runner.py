"""The grading process: runs a notebook's cells, its checks here and the submission's code elsewhere.

Cells have roles, decided from the course's source notebook (never from the submission):
- "student": the submission's code (answers, and the cells a student may edit) runs in the
  student's process only (`dlcourse.remote.student`, sandboxed);
- "given": the course's locked cells (setup, checkers, references) run in both processes;
- "grade": the course's grade cells, hidden tests included, run here only. The names they use
  that the course did not define (the student's functions, classes and data) are looked up in
  the student's process and arrive as proxies or copies (`dlcourse.remote.proxy`).
Nothing the submission does can change what runs here: it only ever sends data.

A cell that runs past its time limit, or during which the student's process dies, fails; the
student's process is then started again and given the cells before it, and grading goes on.
A submission that tampers (see `dlcourse.remote.watch`) fails every check from then on.

Reads a job (JSON) on stdin; writes one JSON line per cell on stdout, then a summary line.
    python -m dlcourse.remote.runner < job.json
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

from dlcourse import sandbox
from dlcourse.remote.proxy import NOTEBOOK, StudentConnection, StudentProcessLost
from dlcourse.remote.student import STUDENT_PREFIX, TRUSTED_PREFIX

STARTUP_SECONDS = 120


def loaded_names(source: str) -> set[str]:
    """Names a cell reads without defining them at its top level (a rough but safe superset)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    loaded = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    return loaded - _top_level_definitions(tree) - set(dir(builtins))


def _top_level_definitions(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    blocks = list(tree.body)
    while blocks:
        node = blocks.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names |= {(alias.asname or alias.name).split(".")[0] for alias in node.names}
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, ast.stmt) or isinstance(child, (ast.Tuple, ast.List, ast.Starred,
                                                                   ast.withitem, ast.excepthandler)):
                blocks.append(child)
    return names


def function_globals(source: str) -> set[str]:
    """Names that the functions a cell defines read from the notebook's globals (not their own locals)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            arguments = node.args
            own = {a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                   *filter(None, [arguments.vararg, arguments.kwarg])]}
            own |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
            names |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - own
    return names - set(dir(builtins))


def _error(ename: str, lines: list[str], evalue: str = "") -> dict:
    return {"output_type": "error", "ename": ename, "evalue": evalue, "traceback": lines}


def describe_failure(error: BaseException) -> dict:
    """The error output of a failed cell: short, and without any line of the grade cell's code."""
    red, reset = "\x1b[0;31m", "\x1b[0m"
    if hasattr(error, "_render_traceback_"):
        return _error(type(error).__name__, error._render_traceback_(), str(error))
    if isinstance(error, StudentProcessLost):
        return _error("CellTimeoutError" if error.timed_out else "StudentProcessDied",
                      [f"{red}✗ {error}{reset}"], str(error))
    message = f"{type(error).__name__}: {error}"
    if hasattr(error, "student_traceback"):
        return _error(type(error).__name__, [f"{red}✗ Your code raised {message}{reset}",
                                             *(["Where (your code):", *error.student_traceback]
                                               if error.student_traceback else [])], str(error))
    hint = ""
    if isinstance(error, NameError):
        hint = " (write the cell that defines it, and keep its name)"
    return _error(type(error).__name__, [f"{red}✗ {message}{hint}{reset}"], str(error))


def _stream(name: str, text: str) -> list[dict]:
    return [{"output_type": "stream", "name": name, "text": text}] if text else []


class NotebookRunner:
    def __init__(self, job: dict) -> None:
        self.job = job
        self.timeout = float(job.get("cell_timeout", 120))
        self.history: list[tuple[str, str]] = []   # (source, file name) the student's process ran
        self.events: list[str] = []                # what the submission attempted
        self.tampered: str | None = None
        self.broken: str | None = None             # why the student's process cannot go on
        self.restarts = 0
        self.partial: list[dict] = []              # what a cell printed before the student's process was lost
        self.current = "setup"                     # the cell running now
        module = types.ModuleType(NOTEBOOK)
        sys.modules[NOTEBOOK] = module
        self.namespace = module.__dict__
        self.namespace["__builtins__"] = builtins
        self.trusted: set[str] = set(self.namespace)
        self.used_by_trusted_functions: set[str] = set()
        self.process: subprocess.Popen | None = None
        self.connection: StudentConnection | None = None

    # ------------------------------------------------------------------ the student's process
    def start_student(self) -> None:
        scratch = Path(tempfile.mkdtemp(prefix="dlcourse-student-"))
        ours, theirs = socket.socketpair()
        from dlcourse.data import cache_dir

        threads = str(self.job.get("threads", 1))
        env = {"PATH": "/usr/bin:/bin", "HOME": str(scratch), "MPLBACKEND": "Agg", "MPLCONFIGDIR": str(scratch / ".mpl"),
               "NBGRADER_EXECUTION": "autograde", "TQDM_DISABLE": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
               "DLCOURSE_DATA": str(cache_dir())}
        for key in ("PYTHONPATH", "DLCOURSE_DEVICE", "CUDA_VISIBLE_DEVICES"):
            if os.environ.get(key):
                env[key] = os.environ[key]
        argv = [sys.executable, "-m", "dlcourse.remote.student", "--fd", str(theirs.fileno())]
        for root in self.job.get("protect", []):
            argv += ["--protect", root]
        for root in [*map(str, sandbox.readable_roots()), str(cache_dir()), str(scratch)]:
            argv += ["--allow", root]
        command = sandbox.student_command(argv, scratch, cache_dir(), env)
        self.process = subprocess.Popen(
            command, pass_fds=[theirs.fileno()], cwd=scratch, env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            preexec_fn=sandbox.limit_memory(int(self.job.get("memory_mb", 8192))))
        theirs.close()
        self.scratch = scratch
        self.connection = StudentConnection(ours, lambda text: sys.stdout.write(text), self._event)
        self.connection.deadline = time.monotonic() + STARTUP_SECONDS
        self.connection.request("ping")
        from dlcourse.testing import behaviour
        behaviour.measure_elsewhere = self.connection.measure

    def stop_student(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.connection.sock.close()
            import shutil
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.process = None

    def restart_student(self, lost: str) -> None:
        """A new student's process, given the cells before the lost one again (their outputs are not kept)."""
        self.stop_student()
        self.restarts += 1
        if self.restarts > int(self.job.get("restarts", 3)):
            self.broken = f"the student's process had to be restarted more than {self.restarts - 1} times"
            return
        try:
            self.start_student()
            for source, filename in self.history:  # they ran once already: each gets the start-up time
                self.connection.deadline = time.monotonic() + max(self.timeout, STARTUP_SECONDS)
                self.connection.request("exec", source, filename)
        except StudentProcessLost as error:
            self.broken = f"after the student's process stopped in {lost}, it could not be started again ({error})"

    def _event(self, event: str) -> None:
        if not event.startswith("cell "):
            event = f"cell {self.current}: {event}"
        self.events.append(event)
        if self.tampered is None:
            self.tampered = event

    # ------------------------------------------------------------------ cells
    def run(self, cells: list[dict], emit) -> None:
        try:
            self.start_student()
        except StudentProcessLost as error:
            self.broken = f"the student's process did not start ({error})"
        for cell in cells:
            emit({"index": cell["index"], "outputs": self.run_cell(cell)})
        self.stop_student()
        emit({"summary": {"events": self.events, "tampered": self.tampered, "restarts": self.restarts,
                          "broken": self.broken, "sandbox": sandbox.unavailable_reason()}})

    def run_cell(self, cell: dict) -> list[dict]:
        role, source, name = cell["role"], cell["source"], cell.get("name") or f"cell {cell['index']}"
        self.partial = []
        self.current = name
        if self.broken is not None:
            return [_error("NotRun", [f"\x1b[0;31m✗ Not run: {self.broken}.\x1b[0m"])]
        # The course's own cells (imports, checkers) get at least the start-up time, however loaded the machine.
        limit = max(self.timeout, STARTUP_SECONDS) if role == "given" else self.timeout
        self.connection.deadline = time.monotonic() + limit
        filename = f"{STUDENT_PREFIX}{name}>" if role == "student" else f"{TRUSTED_PREFIX}{name}>"
        try:
            if role == "grade":
                return self.run_grade(source, name)
            reply = self.connection.request("exec", source, filename)
            self.history.append((source, filename))
            if role == "student":
                outputs = _stream("stdout", reply["stdout"]) + _stream("stderr", reply["stderr"])
                if reply["error"] is not None:
                    ename, _module, message, lines = reply["error"]
                    outputs.append(_error(ename, [f"{ename}: {message}", *lines], message))
                return outputs
            return self.run_trusted(source, f"<given {name}>")
        except StudentProcessLost as lost:
            self.restart_student(name)
            return self.partial + [describe_failure(self._explain(lost, name))]

    def _explain(self, lost: StudentProcessLost, name: str) -> StudentProcessLost:
        if lost.timed_out:
            return StudentProcessLost(f"{name} ran past its {self.timeout:g} s limit and was stopped "
                                      "(an endless loop, or far more work than the exercise needs?)", True)
        return StudentProcessLost(f"the student's process stopped during {name} (sys.exit or os._exit, a crash, "
                                  "or more memory than the grader allows)", False)

    def run_grade(self, source: str, name: str) -> list[dict]:
        if self.tampered is not None:
            return [_error("TamperingDetected", [
                f"\x1b[0;31m✗ Not checked: the submission {self.tampered}. The checks do not trust this notebook "
                "any more, and the instructor has been told.\x1b[0m"])]
        outputs = self.run_trusted(source, f"<grade {name}>")
        if self.tampered is not None and not any(o["output_type"] == "error" for o in outputs):
            outputs.append(_error("TamperingDetected", [
                f"\x1b[0;31m✗ Not counted: during this check the submission {self.tampered}.\x1b[0m"]))
        return outputs

    def run_trusted(self, source: str, filename: str) -> list[dict]:
        """Run a course cell here, with the names it needs from the student's process bound in."""
        wanted = (loaded_names(source) | self.used_by_trusted_functions) - self.trusted
        replies = self.connection.request("lookup", sorted(wanted)) if wanted else {}
        found = {key: self.connection.decode(value) for key, value in replies.items()}
        for key in wanted - set(found):
            self.namespace.pop(key, None)
        self.namespace.update(found)
        before = {key: id(value) for key, value in self.namespace.items()}
        captured = io.StringIO()
        error = None
        try:
            with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
                exec(compile(source, filename, "exec"), self.namespace)
        except StudentProcessLost:
            self.partial = _stream("stdout", captured.getvalue())
            raise
        except BaseException as raised:  # noqa: BLE001 (whatever a check raises fails the cell)
            error = raised
        self.trusted |= {key for key, value in self.namespace.items() if before.get(key) != id(value)}
        self.used_by_trusted_functions |= function_globals(source)
        return _stream("stdout", captured.getvalue()) + ([describe_failure(error)] if error is not None else [])


def main() -> None:
    job = json.load(sys.stdin)
    channel = sys.stdout
    sys.stdout = io.StringIO()  # nothing but results goes to the channel

    def emit(record: dict) -> None:
        channel.write(json.dumps(record) + "\n")
        channel.flush()

    NotebookRunner(job).run(job["cells"], emit)


if __name__ == "__main__":
    main()
