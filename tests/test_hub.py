"""A class on JupyterHub, end to end on 127.0.0.1, and the pieces `dlcourse hub` is made of.

The end-to-end test runs the class server's own configuration (deploy/jupyterhub_config.py,
through `dlcourse hub --system-users`) with real system accounts, as on a class server: an
instructor, two students and the course account. It needs root (to create the accounts and
run each server as its own), Linux, and configurable-http-proxy (`dlcourse hub --install-proxy`,
which `make test` runs); without them it is skipped with the reason. Every wait is bounded.
"""

from __future__ import annotations

import csv
import http.cookiejar
import json
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from dlcourse import course, hub

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT = "00_primer"
ARTIFACTS = ROOT / "test-artifacts" / "hub"  # the hub's log of the last run (git-ignored)
WRONG_ONE_HOT = ("def one_hot(y, num_classes):\n    out = np.zeros((len(y), num_classes))\n"
                 "    out[:, y] = 1.0\n    return out\n")
WRONG_MESSAGE = "every row is all ones"


# ------------------------------------------------------------------------------------ the pieces
def test_roster_round_trip_ignores_blank_lines_and_comments(tmp_path):
    hub.write_roster(tmp_path, ["teach"], ["alice", "bob"])
    (tmp_path / "students.txt").write_text("alice\n\n# dropped the course:\n  bob  \n", encoding="utf-8")
    assert hub.read_roster(tmp_path) == (["teach"], ["alice", "bob"])
    assert hub.read_roster(tmp_path / "nowhere") == ([], [])


def _nbgrader_sees(config_path: str, cwd: Path) -> dict:
    code = ("from nbgrader.apps import NbGrader; from jupyter_core.paths import jupyter_config_path\n"
            "app = NbGrader(); app.config_file_paths.append(jupyter_config_path()); app.load_config_file()\n"
            "c = app.config; import json\n"
            "print(json.dumps({'exchange': c.Exchange.root, 'course_id': c.CourseDirectory.course_id,"
            " 'timeout': c.Execute.timeout}))")
    env = {**os.environ, "JUPYTER_CONFIG_PATH": config_path}
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_server_gets_the_course_config_with_the_class_exchange(tmp_path):
    state, exchange = tmp_path / "hub", tmp_path / "srv" / "exchange"
    hub.prepare(ROOT, state, exchange)
    assert exchange.stat().st_mode & 0o7777 == 0o1777  # nbgrader wants it writable by all; sticky
    copied = state / "singleuser" / course.CONFIG_NAME
    assert copied.read_text(encoding="utf-8") == (ROOT / course.CONFIG_NAME).read_text(encoding="utf-8")
    assert all(p.stat().st_mode & 0o777 == 0o644 for p in (state / "singleuser").iterdir())
    student = _nbgrader_sees(hub.student_config_path(state), tmp_path)
    assert student == {"exchange": str(exchange), "course_id": "dlcourse", "timeout": 120}
    instructor = _nbgrader_sees(hub.course_config_path(ROOT, state), tmp_path)
    assert instructor["exchange"] == str(exchange), "the course server would use the course folder's own exchange"
    assert str(course.STUDENT_LAB) in hub.student_config_path(state)  # no instructor panels for students
    assert str(course.STUDENT_LAB) not in hub.course_config_path(ROOT, state)


def test_grading_carries_the_secret_its_submission_was_handed_in_with(tmp_path):
    from dlcourse.grading import SECRET, Submission, _carry_secret

    for student, secret in (("alice", "ab" * 64), ("bob", "x" * 2000)):
        folder = tmp_path / "submitted" / student / "01_x"
        folder.mkdir(parents=True)
        (folder / "x.ipynb").write_text("{}", encoding="utf-8")
        (folder / SECRET).write_text(secret, encoding="utf-8")
        target = tmp_path / "scratch" / student
        target.mkdir(parents=True)
        _carry_secret(Submission(student, "01_x", {"x.ipynb": folder / "x.ipynb"}, "", []), target)
    assert (tmp_path / "scratch" / "alice" / SECRET).read_text(encoding="utf-8") == "ab" * 64
    assert not (tmp_path / "scratch" / "bob" / SECRET).exists()  # not one nbgrader wrote


def test_stop_ends_the_processes_the_hub_left(tmp_path):
    env = {**os.environ, hub.MARKER: str(tmp_path)}
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], env=env, start_new_session=True)
    orphan = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGTERM, "
                               "signal.SIG_IGN); time.sleep(60)"], env=env, start_new_session=True)
    try:
        time.sleep(0.5)
        assert set(hub._marked_processes(tmp_path)) == {parent.pid, orphan.pid}
        left = hub.stop(parent, tmp_path, grace=5)
        assert left == [orphan.pid]  # it ignored SIGTERM: killed
        assert orphan.wait(timeout=15) == -signal.SIGKILL and parent.poll() is not None
        assert hub._marked_processes(tmp_path) == []
    finally:
        for process in (parent, orphan):
            if process.poll() is None:
                process.kill()


def test_a_missing_proxy_or_node_is_named_with_the_fix(monkeypatch):
    monkeypatch.setattr(hub, "_node_major", lambda: None)
    assert "install Node.js and npm" in hub.proxy_problem()
    monkeypatch.setattr(hub, "_node_major", lambda: 8)
    assert "too old" in hub.proxy_problem()
    assert [hub.proxy_package(major) for major in (8, 18, 20, 22)] == [
        None, "configurable-http-proxy@4.6.3", "configurable-http-proxy@5.3.0", "configurable-http-proxy@5.3.0"]
    monkeypatch.setattr(hub, "_node_major", lambda: 20)
    monkeypatch.setattr(hub, "find_proxy", lambda: None)
    assert "dlcourse hub --install-proxy" in hub.proxy_problem()


# ------------------------------------------------------------------------------------ end to end
def _skip_reason() -> str | None:
    if not sys.platform.startswith("linux"):
        return "the class server test needs Linux (system accounts, /proc)"
    if os.geteuid() != 0:
        return "the class server test needs root: it creates the class's system accounts, as on a class server"
    if not shutil.which("useradd"):
        return "useradd not found (apt-get install passwd)"
    return hub.proxy_problem()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # after the login form: keep the cookies, do not go on to spawn a server


class Session:
    """One user in a browser-like session: logs in through the hub's login form, then uses an API token."""

    def __init__(self, url: str, name: str):
        self.url, self.name, self.token = url, name, None
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirect)

    def _xsrf(self) -> str:
        return next(c.value for c in self.cookies if c.name == "_xsrf")

    def login(self, password: str) -> None:
        self.opener.open(f"{self.url}/hub/login", timeout=60).read()
        form = urllib.parse.urlencode({"username": self.name, "password": password, "_xsrf": self._xsrf()}).encode()
        try:
            self.opener.open(f"{self.url}/hub/login", data=form, timeout=60).read()
        except urllib.error.HTTPError as error:
            assert error.code == 302, f"{self.name} could not log in: {error.code} {error.read()[:500]}"
        request = urllib.request.Request(f"{self.url}/hub/api/users/{self.name}/tokens", method="POST",
                                         data=json.dumps({"note": "end-to-end test", "expires_in": 3600}).encode(),
                                         headers={"X-XSRFToken": self._xsrf(), "Content-Type": "application/json"})
        self.token = json.loads(self.opener.open(request, timeout=60).read())["token"]

    def call(self, method: str, path: str, body=None, form: dict | None = None, timeout: float = 300):
        """(HTTP status, decoded JSON or text) of a request with this user's token."""
        data = urllib.parse.urlencode(form).encode() if form else json.dumps(body).encode() if body is not None else None
        kind = "application/x-www-form-urlencoded" if form else "application/json"
        request = urllib.request.Request(f"{self.url}{path}", data=data, method=method,
                                         headers={"Authorization": f"token {self.token}", "Content-Type": kind})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                status, text = answer.status, answer.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        try:
            return status, json.loads(text) if text.strip() else None
        except ValueError:
            return status, text

    def ok(self, method: str, path: str, **kwargs):
        status, value = self.call(method, path, **kwargs)
        assert status < 400, f"{self.name}: {method} {path} answered {status}: {str(value)[:800]}"
        return value

    def start_server(self, owner: str) -> None:
        status, value = self.call("POST", f"/hub/api/users/{owner}/server")
        assert status in (201, 202, 400), f"{self.name} could not start {owner}'s server: {status} {value}"

    def wait_ready(self, owner: str, timeout: float = 240) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            server = (self.ok("GET", f"/hub/api/users/{owner}").get("servers") or {}).get("")
            if server and server.get("ready"):
                return
            time.sleep(1)
        pytest.fail(f"{owner}'s server was not ready within {timeout} s")


def _open_python_prefix(keep: Path) -> list[str]:
    """A command prefix under which every account can run this Python ([] when they already can).

    A class server installs the course's environment where all accounts can read it. A CI box
    may not: here the interpreter lives under /root (mode 0700), and a clone may sit in a closed
    folder too. The prefix runs a command in a private mount namespace where each closed folder
    above the interpreter, the virtual environment or the dlcourse library is replaced by an open
    one that holds only the way to them; nothing changes outside the namespace.
    """
    targets = sorted({Path(p).resolve() for p in (sys.base_prefix, sys.prefix, Path(hub.__file__).parents[1])})
    targets = [t for t in targets if not any(other in t.parents for other in targets)]
    closed: dict[Path, list[Path]] = {}
    for target in targets:
        top = next((folder for folder in reversed(target.parents) if not folder.stat().st_mode & 0o001), None)
        if top is not None:
            closed.setdefault(top, []).append(target)
    if not closed:
        return []
    where = ", ".join(map(str, closed))
    if not shutil.which("unshare"):
        pytest.skip(f"this Python is under {where}, closed to other accounts, and `unshare` is missing")
    steps = ["set -e"]
    for number, (folder, insides) in enumerate(closed.items()):
        kept = [keep / f"{number}-{index}" for index in range(len(insides))]
        steps += [f"mkdir -p {k} && mount --bind {shlex.quote(str(i))} {k}" for i, k in zip(insides, kept)]
        steps.append(f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(folder))}")
        steps += [f"mkdir -p {shlex.quote(str(i))} && mount --bind {k} {shlex.quote(str(i))}" for i, k in zip(insides, kept)]
    script = "; ".join(steps) + '; exec "$@"'
    prefix = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
    if subprocess.run([*prefix, "true"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip(f"this Python is under {where}, closed to other accounts, and no mount namespace can open it")
    return prefix


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as(server: dict, user: str, command: list[str], cwd: Path | None = None,
        timeout: float = 900) -> subprocess.CompletedProcess:
    """Run a command as a system account, with that account's home (what its terminal would do)."""
    home = pwd.getpwnam(user).pw_dir
    env = {"HOME": home, "USER": user, "PATH": os.environ["PATH"], "LANG": "C.UTF-8",
           **{k: os.environ[k] for k in ("PYTHONPATH",) if k in os.environ}}
    runuser = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
    return subprocess.run([*server["prefix"], *runuser, *command], cwd=cwd or home, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _can_read(server: dict, user: str, path: Path) -> bool:
    code = f"import os, sys; p = {str(path)!r}; os.listdir(p) if os.path.isdir(p) else open(p, 'rb').read()"
    result = _as(server, user, [sys.executable, "-c", code], timeout=60)
    assert result.returncode == 0 or "PermissionError" in result.stderr, result.stderr
    return result.returncode == 0


def _answer(notebook: dict, grade_id: str, source: str) -> None:
    cell = next(c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    cell["source"] = source


def _solution_body(grade_id: str) -> str:
    notebook = json.loads((ROOT / course.SOURCE_DIR / ASSIGNMENT / "primer.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in notebook["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)
    return "".join(line for line in "".join(cell["source"]).splitlines(keepends=True) if "### " not in line)


def _kill_processes_of(uid: int) -> None:
    """What a test account still runs (nothing, when `dlcourse hub` stopped it all) is killed before userdel."""
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if entry.stat().st_uid == uid:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ValueError):
            continue


@pytest.fixture
def class_server():
    """System accounts, a course folder owned by the course account, and `dlcourse hub` running on it."""
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    tag = secrets.token_hex(3)
    names = {role: f"dlc{tag}{role}" for role in ("teach", "alice", "bob", "grader")}
    base = Path(tempfile.mkdtemp(prefix="dlcourse-hub-test-"))
    base.chmod(0o755)
    (base / "home").mkdir(mode=0o755)
    created, hub_process = [], None
    try:
        for name in names.values():
            subprocess.run(["useradd", "--create-home", "--home-dir", str(base / "home" / name), "--shell",
                            "/bin/sh", "--user-group", name], check=True, capture_output=True, timeout=60)
            created.append(name)
            (base / "home" / name).chmod(0o700)
        root = base / "home" / names["grader"] / "course"
        root.mkdir()
        shutil.copy2(ROOT / course.CONFIG_NAME, root)
        shutil.copytree(ROOT / "deploy", root / "deploy")
        for folder in (course.SOURCE_DIR, course.RELEASE_DIR):
            shutil.copytree(ROOT / folder / ASSIGNMENT, root / folder / ASSIGNMENT)
        subprocess.run(["chown", "-R", f"{names['grader']}:{names['grader']}", str(root)], check=True, timeout=60)
        root.chmod(0o700)
        port, prefix = _free_port(), _open_python_prefix(base / "python")
        env = {**os.environ, "DLCOURSE_ROOT": str(root)}
        command = [*prefix, sys.executable, "-m", "dlcourse", "hub", "--port", str(port), "--state", str(base / "hub"),
                   "--exchange", str(base / "exchange"), "--system-users", "--course-account", names["grader"],
                   "--instructor", names["teach"], "--student", names["alice"], "--student", names["bob"]]
        hub_process = subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                       text=True, start_new_session=True)
        printed = []
        deadline = time.monotonic() + hub.START_TIMEOUT + 30
        while not any("stop: Ctrl-C" in line for line in printed):
            line = hub_process.stdout.readline()
            if not line and hub_process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("`dlcourse hub` did not start:\n" + "".join(printed))
            printed.append(line)
        text = "".join(printed)
        yield {"url": f"http://127.0.0.1:{port}", "names": names, "root": root, "base": base,
               "exchange": base / "exchange", "process": hub_process, "printed": text, "prefix": prefix,
               "password": re.search(r"the password\s+(\S+)", text).group(1)}
    finally:
        if hub_process is not None and hub_process.poll() is None:
            os.killpg(hub_process.pid, signal.SIGTERM)
            try:
                hub_process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(hub_process.pid, signal.SIGKILL)
        for name in created:
            _kill_processes_of(pwd.getpwnam(name).pw_uid)
            subprocess.run(["userdel", "--remove", name], capture_output=True, timeout=60)
        if (base / "hub" / "jupyterhub.log").is_file():  # for a failure's post-mortem
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy2(base / "hub" / "jupyterhub.log", ARTIFACTS / "jupyterhub.log")
        shutil.rmtree(base, ignore_errors=True)


def test_a_class_on_the_hub_release_submit_grade_and_feedback(class_server):
    url, names, root = class_server["url"], class_server["names"], class_server["root"]
    grader = names["grader"]
    assert f"/user/{grader}/formgrader" in class_server["printed"]
    users = {role: Session(url, names[role]) for role in ("teach", "alice", "bob")}
    for user in users.values():
        user.login(class_server["password"])
    # The instructor starts the course account's server; each student starts their own.
    users["teach"].start_server(grader)
    for role in ("alice", "bob"):
        users[role].start_server(names[role])
    users["teach"].wait_ready(grader)
    formgrader = f"/user/{grader}/formgrader/api"

    released = users["teach"].ok("POST", f"{formgrader}/assignment/{ASSIGNMENT}/release")
    assert released.get("success"), released
    answers = {"alice": _solution_body("one_hot"), "bob": WRONG_ONE_HOT}
    for role, answer in answers.items():
        student, name = users[role], names[role]
        student.wait_ready(name)
        listed = student.ok("GET", f"/user/{name}/assignments?course_id=dlcourse")
        assert [a["assignment_id"] for a in listed["value"]] == [ASSIGNMENT], listed
        student.ok("POST", f"/user/{name}/assignments/fetch", form={"course_id": "dlcourse", "assignment_id": ASSIGNMENT})
        path = f"/user/{name}/api/contents/{ASSIGNMENT}/primer.ipynb"
        notebook = student.ok("GET", path + "?content=1")["content"]
        _answer(notebook, "one_hot", answer)
        student.ok("PUT", path, body={"type": "notebook", "format": "json", "content": notebook})
        submitted = student.ok("POST", f"/user/{name}/assignments/submit",
                               form={"course_id": "dlcourse", "assignment_id": ASSIGNMENT})
        assert not (isinstance(submitted, dict) and submitted.get("success") is False), submitted

    collected = users["teach"].ok("POST", f"{formgrader}/assignment/{ASSIGNMENT}/collect")
    assert collected.get("success"), collected
    graded = _as(class_server, grader, [sys.executable, "-m", "dlcourse", "grade", ASSIGNMENT, "--workers", "2"], cwd=root)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    with open(root / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert rows[names["alice"]]["autograded"] == "1" and rows[names["bob"]]["autograded"] == "0", rows
    made = _as(class_server, grader, [sys.executable, "-m", "dlcourse", "feedback", ASSIGNMENT], cwd=root)
    assert made.returncode == 0, made.stdout + made.stderr
    _return_feedback(users, names, formgrader)
    # What a student cannot reach: another student's files and submission, the course folder.
    alice = users["alice"]
    for path in (f"/user/{names['bob']}/api/contents/{ASSIGNMENT}",
                 f"/user/{grader}/api/contents/{course.SOURCE_DIR}/{ASSIGNMENT}/primer.ipynb",
                 f"{formgrader}/assignments"):
        status, _ = alice.call("GET", path)
        assert status in (403, 404), f"a student reached {path} ({status})"  # the hub hides what one may not see
    status, _ = alice.call("POST", f"/hub/api/users/{grader}/server")
    assert status in (403, 404), f"a student could start the course account's server ({status})"
    inbound = class_server["exchange"] / "dlcourse" / "inbound"
    for path in (class_server["base"] / "home" / names["bob"] / ASSIGNMENT / "primer.ipynb", inbound,
                 root / course.SOURCE_DIR / ASSIGNMENT / "primer.ipynb", root / "submitted", root / "gradebook.db"):
        assert not _can_read(class_server, names["alice"], path), f"a student can read {path}"
    assert _can_read(class_server, grader, root / "gradebook.db")  # the checks above can succeed
    assert _can_read(class_server, names["bob"], class_server["base"] / "home" / names["bob"] / ASSIGNMENT / "primer.ipynb")

    # Stopping `dlcourse hub` stops every process it started.
    process = class_server["process"]
    os.killpg(process.pid, signal.SIGTERM)
    rest = process.communicate(timeout=120)[0]
    assert "stopped the hub" in rest, rest
    assert hub._marked_processes(class_server["base"] / "hub") == []


def _return_feedback(users: dict, names: dict, formgrader: str) -> None:
    """The instructor returns the feedback; each student fetches it and sees their own page only."""
    returned = users["teach"].ok("POST", f"{formgrader}/assignment/{ASSIGNMENT}/release_feedback")
    assert returned.get("success"), returned
    pages = {}
    for role in ("alice", "bob"):
        student, name = users[role], names[role]
        student.ok("POST", f"/user/{name}/assignments/fetch_feedback",
                   form={"course_id": "dlcourse", "assignment_id": ASSIGNMENT})
        folders = student.ok("GET", f"/user/{name}/api/contents/{ASSIGNMENT}/feedback")["content"]
        assert len(folders) == 1, f"{role} got feedback for {len(folders)} submissions"
        page = student.ok("GET", f"/user/{name}/api/contents/{urllib.parse.quote(folders[0]['path'])}/primer.html"
                          "?content=1&format=text")
        pages[role] = page["content"]
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / f"feedback-{role}.html").write_text(pages[role], encoding="utf-8")
    mistake = re.compile(f"✗ [^<]*{WRONG_MESSAGE}")  # the check's output (the visible check's code names it too)
    assert "Score: 1.0 / 7.0" in pages["alice"] and not mistake.search(pages["alice"])
    assert "Score: 0.0 / 7.0" in pages["bob"] and mistake.search(pages["bob"])
    assert all("BEGIN HIDDEN TESTS" not in page for page in pages.values())
