"""Fixtures for the browser tests: a JupyterLab server started like `make lab`, and Chromium.

The lab runs on a scratch copy of the course (jupyter_config.py, solutions/, course/) in a
temporary folder, so notebooks run there (and the lab's autosave) never touch the committed
files. It is started exactly as `make lab` starts it (`.venv/bin/dlcourse lab ...`) plus
`--no-browser`, a free loopback port and a random token; it stops when the session ends, also
when a test fails.

The browser is the system Chromium (Debian package `chromium`); no browser is ever downloaded.
Without it (or without Playwright) every UI test is skipped with a one-line reason.

DLCOURSE_UI_ROOT=/path/to/a/course runs the suite on another course folder (one holding
jupyter_config.py and solutions/), e.g. a scratch course with a deliberately broken widget.
Screenshots and the lab's log go to test-artifacts/ui/ (git-ignored).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from labdriver import ARTIFACTS, CHROMIUM_ARGS, SOURCE_ROOT, chromium_path, skip_reason  # noqa: E402

LAB_START_TIMEOUT = 120  # seconds until /api/status must answer (cold start on a busy 2-core box)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "ui: browser tests of the course in JupyterLab (need /usr/bin/chromium and Playwright)")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.ui_call_failed = report.failed  # read by the `page` fixture to screenshot failures
    return report


# --- the lab ------------------------------------------------------------------------------------

@dataclass
class Lab:
    url: str           # http://127.0.0.1:PORT
    token: str
    root: Path         # the scratch course root the lab serves
    process: subprocess.Popen
    log: Path

    def api(self, method: str, path: str, body: dict | None = None, timeout: float = 10):
        """Call the server's REST API; returns the decoded JSON (None for an empty answer)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}", data=data, method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            text = answer.read().decode()
        return json.loads(text) if text.strip() else None

    def link(self, path: str, workspace: str | None = None) -> str:
        """URL opening `path` (relative to the course root) in the lab, in a fresh workspace."""
        prefix = f"/lab/workspaces/{workspace}" if workspace else "/lab"
        return f"{self.url}{prefix}/tree/{path}?token={self.token}"

    def kernels(self) -> list[dict]:
        """The running kernels. jupyter_server answers 500 to this while a kernel is still
        starting (its last_activity is not set yet: a race in the server), so ask again."""
        for attempt in range(10):
            try:
                return self.api("GET", "/api/kernels") or []
            except urllib.error.HTTPError as error:
                if error.code < 500 or attempt == 9:
                    raise
                time.sleep(0.5)

    def shutdown_kernels(self) -> None:
        for session in self.api("GET", "/api/sessions") or []:
            try:
                self.api("DELETE", f"/api/sessions/{session['id']}")
            except urllib.error.URLError:
                pass
        for kernel in self.kernels():
            try:
                self.api("DELETE", f"/api/kernels/{kernel['id']}")
            except urllib.error.URLError:
                pass

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _dlcourse() -> str:
    here = Path(sys.executable).parent / ("dlcourse.exe" if os.name == "nt" else "dlcourse")
    found = str(here) if here.exists() else shutil.which("dlcourse")
    if not found:
        pytest.fail("the `dlcourse` command is not installed next to this Python; run `make test` once")
    return found


def _write_lab_settings(settings: Path) -> None:
    """User settings of the test lab: no news or update checks (offline), every cell in the DOM."""
    files = {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
            {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }
    for name, values in files.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def _copy_course(source: Path, root: Path) -> None:
    shutil.copy2(source / "jupyter_config.py", root / "jupyter_config.py")
    ignore = shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__")
    for folder in ("solutions", "course"):
        if (source / folder).is_dir():
            shutil.copytree(source / folder, root / folder, ignore=ignore)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the lab's process group (the server shuts its kernels down), SIGKILL if it hangs."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A running JupyterLab on a scratch copy of the course, started like `make lab`."""
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("ui-lab")
    root = base / "course-root"
    root.mkdir()
    _copy_course(SOURCE_ROOT, root)
    _write_lab_settings(base / "lab-settings")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for stale in [*ARTIFACTS.glob("FAILED-*.png"), *ARTIFACTS.glob("lab-*.log")]:
        stale.unlink(missing_ok=True)
    log = ARTIFACTS / f"lab-{os.getpid()}.log"

    env = dict(os.environ)
    env.update({
        "DLCOURSE_ROOT": str(root),
        "JUPYTERLAB_SETTINGS_DIR": str(base / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(base / "lab-workspaces"),
        "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
    })
    # A student's shell: no MPLBACKEND (the test runner sets Agg for nbval/nbgrader; a lab
    # kernel must get ipykernel's inline backend, or plots and widget figures stay blank).
    for name in ("MPLBACKEND", "NBGRADER_EXECUTION"):
        env.pop(name, None)
    port, token = _free_port(), secrets.token_hex(16)
    # The "." (the course root, = cwd) keeps the options after it away from dlcourse's own parser.
    command = [_dlcourse(), "lab", ".", "--no-browser", f"--port={port}", "--ServerApp.port_retries=0",
               "--ServerApp.ip=127.0.0.1", f"--IdentityProvider.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")  # CI containers run as root; the server refuses otherwise
    with open(log, "wb") as log_file:
        process = subprocess.Popen(command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    server = Lab(url=f"http://127.0.0.1:{port}", token=token, root=root, process=process, log=log)
    try:
        deadline = time.monotonic() + LAB_START_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(f"`dlcourse lab` exited with {process.returncode} before answering:\n{server.log_tail()}")
            try:
                server.api("GET", "/api/status", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"the lab did not answer /api/status within {LAB_START_TIMEOUT} s:\n{server.log_tail()}")
                time.sleep(0.5)
        yield server
    finally:
        try:
            if process.poll() is None:
                server.shutdown_kernels()
        except Exception:  # the server may be half dead; _stop still ends it
            pass
        _stop(process)


# --- the browser ----------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def browser():
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, lab, request):
    """A fresh browser page; on a failed test its screenshot lands in test-artifacts/ui/."""
    context = browser.new_context(viewport={"width": 1366, "height": 768})  # a common laptop screen
    context.set_default_timeout(30_000)
    page = context.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}") if message.type == "error" else None)
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    page.console_errors = console
    try:
        yield page
    finally:
        if getattr(request.node, "ui_call_failed", False):
            name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in request.node.name)
            try:
                page.screenshot(path=str(ARTIFACTS / f"FAILED-{name}.png"), full_page=True)
            except Exception:
                pass
        context.close()
        lab.shutdown_kernels()
