"""The sandbox a submission's code runs in while it is graded (bubblewrap on Linux)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dlcourse import sandbox

needs_sandbox = pytest.mark.skipif(sandbox.unavailable_reason() is not None,
                                   reason=str(sandbox.unavailable_reason()))

PROBE = r"""
import os, socket, sys
secret, scratch, parent = sys.argv[1], sys.argv[2], int(sys.argv[3])
results = {}
try:
    open(secret).read(); results["read course file"] = "yes"
except OSError:
    results["read course file"] = "no"
try:
    open(os.path.join(scratch, "note.txt"), "w").write("x"); results["write scratch"] = "yes"
except OSError:
    results["write scratch"] = "no"
try:
    open("/usr/bin/sandbox-was-here", "w"); results["write system"] = "yes"
except OSError:
    results["write system"] = "no"
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[4])), timeout=2); results["network"] = "yes"
except OSError:
    results["network"] = "no"
try:
    os.kill(parent, 0); results["see grader"] = "yes"
except OSError:
    results["see grader"] = "no"
print(results)
"""


@needs_sandbox
def test_the_student_process_sees_only_what_it_needs(tmp_path):
    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    secret = course / "solutions" / "hidden.ipynb"
    secret.write_text("the hidden tests")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    listener = __import__("socket").create_server(("127.0.0.1", 0))
    argv = [sys.executable, "-c", PROBE, str(secret), str(scratch), str(os.getpid()), str(listener.getsockname()[1])]
    command = sandbox.student_command(argv, scratch, tmp_path / "no-data", {"PATH": "/usr/bin:/bin"})
    assert command[0] == sandbox.BWRAP and "--unshare-all" in command and "--die-with-parent" in command
    assert str(course) not in command, "the course folder must not be mounted"
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    listener.close()
    assert result.returncode == 0, result.stderr
    assert eval(result.stdout) == {"read course file": "no", "write scratch": "yes", "write system": "no",
                                   "network": "no", "see grader": "no"}
    assert (scratch / "note.txt").read_text() == "x"


@needs_sandbox
def test_nothing_the_student_process_starts_outlives_it(tmp_path):
    marker = tmp_path / "scratch" / "alive"
    (tmp_path / "scratch").mkdir()
    code = ("import subprocess, time; subprocess.Popen(['sh', '-c', 'sleep 2; touch " + str(marker) + "'], "
            "start_new_session=True); print('started')")
    command = sandbox.student_command([sys.executable, "-c", code], tmp_path / "scratch", tmp_path, {"PATH": "/usr/bin:/bin"})
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert "started" in result.stdout, result.stderr
    import time
    time.sleep(4)
    assert not marker.exists(), "a process started in the sandbox outlived it"


def test_without_bubblewrap_the_command_runs_bare_and_says_why(monkeypatch):
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    monkeypatch.setattr(sandbox.sys, "platform", "linux")
    sandbox.unavailable_reason.cache_clear()
    try:
        assert "bubblewrap is not installed" in sandbox.unavailable_reason()
        assert sandbox.student_command(["python", "x"], Path("/tmp"), Path("/tmp"), {}) == ["python", "x"]
    finally:
        sandbox.unavailable_reason.cache_clear()


def test_a_memory_limit_that_the_platform_refuses_is_skipped(monkeypatch):
    import resource

    def refuse(which, limits):
        raise ValueError("not supported here")

    monkeypatch.setattr(resource, "setrlimit", refuse)
    sandbox.limit_memory(512)()  # must not raise
    assert sandbox.limit_memory(0) is None
