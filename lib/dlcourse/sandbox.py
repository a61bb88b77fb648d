"""Where a submission's code runs while it is graded: a sandbox that shows it only what it needs.

On Linux with bubblewrap (`apt-get install bubblewrap`), the student's process gets:
- read-only: the system (/usr, /etc), Python, the course's environment, the dlcourse library
  and the data cache; nothing else of the course (no solutions/, no gradebook, no other
  submission, no home folder);
- read-write: an empty scratch folder (its home and working folder) and a private /tmp;
- no network (its own, empty network namespace), its own process namespace (it cannot see or
  signal the grader or anyone else), a new session, and death with its parent: nothing it
  starts outlives it. A memory limit applies to each of its processes.

Elsewhere (macOS, Windows, a Linux without user namespaces) the student's process runs as a
plain process in its scratch folder: the audit hook of `dlcourse.remote.watch` still refuses
to open the course's files from Python, but a submission that goes around Python (a native
library, a subprocess) can read what the grader can read. Grade a class on Linux.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

BWRAP = "bwrap"


@functools.lru_cache(maxsize=1)
def unavailable_reason() -> str | None:
    """Why submissions cannot be sandboxed here (one line), or None when they can."""
    if not sys.platform.startswith("linux"):
        return f"no sandbox on {sys.platform}: submissions run as plain processes (grade a class on Linux)"
    if shutil.which(BWRAP) is None:
        return "bubblewrap is not installed (apt-get install bubblewrap): submissions run as plain processes"
    probe = subprocess.run([BWRAP, *_system_binds(), "--unshare-all", "--unshare-user", "--die-with-parent",
                            "--", "/bin/true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bubblewrap cannot start a sandbox here ({probe.stderr.strip()[:200]}): submissions run as plain processes"
    return None


def _system_binds() -> list[str]:
    binds = ["--ro-bind", "/usr", "/usr", "--ro-bind-try", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev",
             "--tmpfs", "/tmp"]
    for name in ("bin", "lib", "lib64", "sbin"):
        path = Path("/") / name
        if path.is_symlink():
            binds += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            binds += ["--ro-bind", str(path), str(path)]
    return binds


def readable_roots() -> list[Path]:
    """What the student's process must be able to read: Python, this environment, dlcourse."""
    import dlcourse

    roots = {Path(sys.base_prefix), Path(sys.prefix), Path(dlcourse.__file__).resolve().parent.parent,
             Path(sysconfig.get_paths()["purelib"]), Path(sys.executable).resolve().parent.parent}
    return sorted(root.resolve() for root in roots if root.exists())


def student_command(argv: list[str], scratch: Path, data: Path, env: dict[str, str]) -> list[str]:
    """The command line that runs `argv` in the sandbox (or bare, where there is none).

    scratch: the student's writable home and working folder; data: the dataset cache (read-only).
    env: the whole environment the process gets. Open file descriptors pass through.
    """
    if unavailable_reason() is not None:
        return argv
    command = [BWRAP, *_system_binds()]
    for root in readable_roots():
        command += ["--ro-bind", str(root), str(root)]
    if data.is_dir():
        command += ["--ro-bind", str(data), str(data)]
    for device in sorted(Path("/dev").glob("nvidia*")):  # a GPU server grades on its GPU
        command += ["--dev-bind", str(device), str(device)]
    command += ["--bind", str(scratch), str(scratch), "--chdir", str(scratch),
                "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
                "--die-with-parent", "--new-session", "--clearenv"]
    for key, value in env.items():
        command += ["--setenv", key, value]
    return [*command, "--", *argv]


def limit_memory(memory_mb: int):
    """A preexec_fn that caps each process's address space at `memory_mb` MB (None on Windows or 0)."""
    if not memory_mb or sys.platform == "win32":
        return None

    def limit() -> None:
        import resource

        size = memory_mb * 1024 * 1024
        for which, value in ((resource.RLIMIT_AS, size), (resource.RLIMIT_CORE, 0)):
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):  # macOS does not enforce an address-space limit
                pass

    return limit
