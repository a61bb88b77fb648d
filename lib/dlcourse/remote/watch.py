"""What a submission tried, seen from inside the student's process, for the instructor.

Grading cannot be fooled by these (the checks run in another process); they are reported so
the instructor can look, and refused where refusing protects the course:
- an audit hook (PEP 578, installed before any submitted code runs and impossible to remove)
  refuses to open the course's own files (sources with hidden tests, the gradebook, other
  submissions), to start processes, to open network connections and to send signals;
- after each cell of the submission, the attributes of numpy, torch, sklearn, scipy,
  dlcourse, builtins and the entries of sys.modules are compared with what they were, and
  the names that the course's own cells defined for checking (checkers, modules) are
  compared with their original objects.
"""

from __future__ import annotations

import builtins
import os
import sys
import sysconfig
import threading
import types
from typing import Callable

PROTECTED_PACKAGES = ("numpy", "torch", "sklearn", "scipy", "dlcourse")
_PROCESS_EVENTS = {"subprocess.Popen", "os.system", "os.fork", "os.forkpty", "os.posix_spawn", "os.spawn",
                   "os.exec", "pty.spawn"}
_NETWORK_EVENTS = {"socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo"}
_SIGNAL_EVENTS = {"os.kill", "os.killpg", "signal.pthread_kill"}
_PATH_EVENTS = {"os.remove", "os.rename", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.link",
                "os.symlink", "os.utime", "os.chflags", "os.setxattr", "os.removexattr", "shutil.rmtree",
                "shutil.move", "shutil.copyfile", "shutil.copytree", "sqlite3.connect"}


def _inside(path: str, roots: tuple[str, ...]) -> bool:
    return any(path == root or path.startswith(root + os.sep) for root in roots)


def install_audit_hook(protected: tuple[str, ...], allowed: tuple[str, ...], report: Callable[[str], None],
                       is_student_file: Callable[[str], bool]) -> None:
    """Refuse what a graded submission must not do; `report` what its own code attempted.

    protected: folders whose files must stay unreadable (the course, the grader's scratch);
    allowed: folders inside them that the notebook needs (the environment, the library, data).
    """
    protected = tuple(os.path.realpath(p) for p in protected)
    allowed = tuple(os.path.realpath(p) for p in allowed)
    stdlib = os.path.realpath(sysconfig.get_paths()["stdlib"]) + os.sep
    busy = threading.local()

    def by_the_submission() -> bool:
        """Whether the first frame outside this hook and the standard library is the submission's code."""
        frame = sys._getframe(1)
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename != __file__ and not (filename.startswith("<frozen") or
                                             os.path.realpath(filename).startswith(stdlib)):
                return is_student_file(filename)
            frame = frame.f_back
        return False

    def hook(event: str, args: tuple) -> None:
        if getattr(busy, "active", False):
            return
        busy.active = True
        try:
            _check(event, args)
        finally:
            busy.active = False

    def _refuse_course_path(path: str, verb: str) -> None:
        full = os.path.realpath(path)
        if _inside(full, protected) and not _inside(full, allowed):
            report(f"tried to {verb} {path}, a file of the course")
            raise PermissionError(f"{path}: the course's files are out of reach while a submission is graded")

    def _check(event: str, args: tuple) -> None:
        if event == "open" and isinstance(args[0], (str, bytes)):
            _refuse_course_path(os.fsdecode(args[0]), "open")
        elif event in _PATH_EVENTS:
            for arg in args:
                if isinstance(arg, (str, bytes, os.PathLike)):
                    _refuse_course_path(os.fsdecode(arg), "change")
        elif event in _PROCESS_EVENTS or event in _NETWORK_EVENTS or event in _SIGNAL_EVENTS:
            what = ("start a process" if event in _PROCESS_EVENTS else
                    "use the network" if event in _NETWORK_EVENTS else "send a signal")
            if by_the_submission():
                report(f"tried to {what} ({event})")
            raise PermissionError(f"a graded submission may not {what}")

    sys.addaudithook(hook)


def _package_dirs() -> tuple[str, ...]:
    dirs = []
    for name in (*PROTECTED_PACKAGES, "builtins"):
        module = sys.modules.get(name)
        if module is not None and getattr(module, "__file__", None):
            dirs.append(os.path.realpath(os.path.dirname(module.__file__)) + os.sep)
    return tuple(dirs)


def _made_by_a_library(value: object) -> bool:
    """A value that the libraries themselves made (torch wraps some of its functions when a
    lazily imported part loads): its code lives in a protected package, not in a notebook."""
    code = getattr(value, "__code__", None) or getattr(getattr(value, "__wrapped__", None), "__code__", None)
    if code is None:
        return not isinstance(value, types.FunctionType) and type(value).__module__.partition(".")[0] in \
            PROTECTED_PACKAGES
    return os.path.realpath(code.co_filename).startswith(_package_dirs())


def _public(module: types.ModuleType) -> dict[str, int]:
    """{public attribute: id of its value}: libraries rebind their private globals as they run."""
    return {key: id(value) for key, value in list(vars(module).items()) if not key.startswith("_")}


def _module_snapshot() -> dict[str, tuple[int, dict[str, int]]]:
    """sys.modules name -> (id of the module, its public attributes) for the protected packages."""
    snapshot = {name: (id(module), _public(module)) for name, module in list(sys.modules.items())
                if isinstance(module, types.ModuleType) and name.partition(".")[0] in PROTECTED_PACKAGES
                and not name.rpartition(".")[2].startswith("_")}
    snapshot["builtins"] = (id(builtins), _public(builtins))
    return snapshot


class TamperWatch:
    """Compares the protected state after each cell of the submission with the state before it."""

    def __init__(self) -> None:
        self.modules = _module_snapshot()
        self.checkers: dict[str, int] = {}

    def after_trusted_cell(self, namespace: dict) -> None:
        """The course's own cell ran: what it defined becomes the reference."""
        self.modules.update({k: v for k, v in _module_snapshot().items() if k not in self.modules})
        for name, value in namespace.items():
            if isinstance(value, types.ModuleType) or getattr(value, "__module__", "").startswith("dlcourse.testing"):
                self.checkers.setdefault(name, id(value))

    def after_student_cell(self, namespace: dict) -> list[str]:
        """What the submission's cell changed that it must not change (empty when nothing)."""
        found = []
        now = _module_snapshot()
        for name, (module_id, attributes) in self.modules.items():
            if name not in now or now[name][0] != module_id:
                found.append(f"replaced sys.modules[{name!r}]")
                continue
            current = now[name][1]
            values = vars(sys.modules[name]) if name in sys.modules else {}
            changed = [key for key, value_id in attributes.items() if current.get(key) != value_id
                       and not _made_by_a_library(values.get(key))]
            if changed:
                found.append(f"changed {name}.{changed[0]}" + (f" and {len(changed) - 1} more" if len(changed) > 1 else ""))
        for name, value_id in self.checkers.items():
            if name in namespace and id(namespace[name]) != value_id:
                found.append(f"rebound {name!r}, a name the course's checks use")
        if found:  # report each change once
            self.modules = {**self.modules, **{k: v for k, v in now.items()}}
            self.checkers = {k: id(namespace[k]) if k in namespace else v for k, v in self.checkers.items()}
        return found
