"""A class on a shared server: JupyterHub with nbgrader's exchange, and `dlcourse hub` to try it on loopback.

The class server's configuration is deploy/jupyterhub_config.py (deploy/README.md says how to set
it up). This module holds what that configuration and the trial need:
- the proxy: configurable-http-proxy from the npm registry, installed once into this Python
  environment (`dlcourse hub --install-proxy`, run by `make test`; nothing downloads at run time);
- `prepare`: the configuration folders of the single-user servers, in the hub's state folder;
- `run_trial` (`dlcourse hub`): the class server on 127.0.0.1 with a shared password, which
  prints its URL, passwords and how to add users, and stops every process it started on Ctrl-C.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import course

# configurable-http-proxy, pinned per Node.js: 5.x needs Node.js 20; 4.6.3 runs on 10 to 19 (Debian 12 ships 18)
PROXY_PACKAGES = ((20, "configurable-http-proxy@5.3.0"), (10, "configurable-http-proxy@4.6.3"))
PROXY_HOME = Path(sys.prefix) / "hub-proxy"        # npm's --prefix: inside this Python environment
MARKER = "DLCOURSE_HUB"                            # in the environment of every process a hub starts
START_TIMEOUT = 120                                # seconds until the hub must answer
COURSE_ID = "dlcourse"
COURSE_ACCOUNT = f"grader-{COURSE_ID}"            # the hub user whose server holds the course folder


# ------------------------------------------------------------------------------------ the proxy
def find_proxy() -> str | None:
    """The configurable-http-proxy command: this environment's, else one on PATH, else None."""
    local = PROXY_HOME / "node_modules" / ".bin" / "configurable-http-proxy"
    return str(local) if local.is_file() else shutil.which("configurable-http-proxy")


def _node_major() -> int | None:
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        return None
    result = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30)
    try:
        return int(result.stdout.strip().lstrip("v").split(".")[0])
    except ValueError:
        return None


def proxy_package(major: int | None) -> str | None:
    """The pinned configurable-http-proxy for Node.js `major` (None: no Node.js, or one too old)."""
    return next((package for oldest, package in PROXY_PACKAGES if major is not None and major >= oldest), None)


def proxy_problem() -> str | None:
    """Why the proxy cannot run here (one line), or None when it can."""
    major = _node_major()
    if major is None:
        return "Node.js not found: install Node.js and npm (apt-get install nodejs npm)"
    if proxy_package(major) is None:
        return f"Node.js {major} is too old for configurable-http-proxy: install Node.js 10 or newer"
    if find_proxy() is None:
        return ("configurable-http-proxy is not installed: run `dlcourse hub --install-proxy` once, online "
                "(`make test` does)")
    return None


def install_proxy(progress=print) -> str | None:
    """npm-install the proxy into this environment; returns why it failed, or None."""
    npm, package = shutil.which("npm"), proxy_package(_node_major())
    if npm is None or package is None:
        return proxy_problem() or "npm not found: install it (apt-get install npm)"
    PROXY_HOME.mkdir(parents=True, exist_ok=True)
    progress(f"installing {package} into {PROXY_HOME} ...")
    try:
        result = subprocess.run([npm, "install", "--prefix", str(PROXY_HOME), "--no-audit", "--no-fund",
                                 "--fetch-retries=1", "--fetch-timeout=60000", package],
                                capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        return "npm install took more than 5 minutes (no network?)"
    if result.returncode != 0:
        return "npm install failed: " + (result.stderr.strip().splitlines() or ["no output"])[-1]
    return proxy_problem()


# ------------------------------------------------------------------------------------ configuration
def read_roster(state: Path) -> tuple[list[str], list[str]]:
    """(instructors, students) from instructors.txt and students.txt in the state folder (one name a line)."""
    def names(file: str) -> list[str]:
        path = state / file
        lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
        return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return names("instructors.txt"), names("students.txt")


def write_roster(state: Path, instructors: list[str], students: list[str]) -> None:
    for file, names in (("instructors.txt", instructors), ("students.txt", students)):
        (state / file).write_text("".join(f"{name}\n" for name in names), encoding="utf-8")


_EXCHANGE_CONFIG = """# Written by dlcourse.hub.prepare: the class's shared exchange, not the course folder's own.
c = get_config()  # noqa: F821
c.Exchange.root = {exchange!r}
"""
_NO_FORMGRADER = """# Written by dlcourse.hub.prepare: the formgrader runs in the course service only.
c = get_config()  # noqa: F821
c.ServerApp.jpserver_extensions = {"nbgrader.server_extensions.formgrader": False,
                                   "nbgrader.server_extensions.course_list": False}
"""


def prepare(root: Path, state: Path, exchange: Path) -> None:
    """The exchange folder, and the configuration folders of the servers, in `state`.

    state/singleuser/: everyone's own server: a copy of the course's jupyter_config.py (the
    course folder itself is closed to students), the shared exchange, no formgrader.
    state/course-server/: the course account's server: the shared exchange (the course's
    jupyter_config.py is read from the course folder, after this).
    """
    exchange.mkdir(parents=True, exist_ok=True)
    exchange.chmod(0o1777)  # nbgrader wants it writable by all; the sticky bit keeps entries their owner's
    for name, files in (("singleuser", {"nbgrader_config.py": _EXCHANGE_CONFIG.format(exchange=str(exchange)),
                                        "jupyter_server_config.py": _NO_FORMGRADER}),
                        ("course-server", {"nbgrader_config.py": _EXCHANGE_CONFIG.format(exchange=str(exchange))})):
        folder = state / name
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o755)
        for file, text in files.items():
            (folder / file).write_text(text, encoding="utf-8")
        if name == "singleuser":
            shutil.copyfile(root / course.CONFIG_NAME, folder / course.CONFIG_NAME)
        for file in folder.iterdir():
            file.chmod(0o644)


def student_config_path(state: Path) -> str:
    """JUPYTER_CONFIG_PATH of everyone's own server (first wins): the hub's folder, the course's extras."""
    return os.pathsep.join([str(state / "singleuser"), str(course.CONFIG_EXTRA), str(course.STUDENT_LAB)])


def course_config_path(root: Path, state: Path) -> str:
    """JUPYTER_CONFIG_PATH of the course account's server: the shared exchange, then the course's config."""
    return os.pathsep.join([str(state / "course-server"), str(root), str(course.CONFIG_EXTRA)])


# ------------------------------------------------------------------------------------ the trial
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _marked_processes(state: Path) -> list[int]:
    """Ids of the processes whose environment carries this hub's marker (Linux; [] elsewhere)."""
    wanted = f"{MARKER}={state}".encode()
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            if wanted in (entry / "environ").read_bytes().split(b"\0") and int(entry.name) != os.getpid():
                found.append(int(entry.name))
        except (OSError, ValueError):
            continue
    return found


def stop(process: subprocess.Popen, state: Path, grace: float = 30.0) -> list[int]:
    """Stop the hub (it stops the servers, the service and the proxy), then whatever it left; returns those ids."""
    if process.poll() is None:
        with _suppress_missing():
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            with _suppress_missing():
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    left = _marked_processes(state)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in left:
            with _suppress_missing():
                os.kill(pid, sig)
        deadline = time.monotonic() + 10
        while _marked_processes(state) and time.monotonic() < deadline:
            time.sleep(0.2)
    return left


class _suppress_missing:
    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        return kind is not None and issubclass(kind, (ProcessLookupError, PermissionError))


def start(root: Path, state: Path, exchange: Path, port: int, instructors: list[str], students: list[str],
          system_users: bool = False, course_account: str = COURSE_ACCOUNT) -> tuple[subprocess.Popen, dict[str, str]]:
    """Start the trial hub on 127.0.0.1:`port` (log in state/jupyterhub.log); returns it and its settings."""
    problem = proxy_problem()
    if problem:
        raise course.CourseError(problem)
    if system_users:
        _check_system_users(root, [*instructors, *students], course_account)
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)
    write_roster(state, instructors, students)
    settings = {
        "DLCOURSE_ROOT": str(root), "DLCOURSE_HUB_STATE": str(state), "DLCOURSE_EXCHANGE": str(exchange),
        "DLCOURSE_HUB_URL": f"http://127.0.0.1:{port}", "DLCOURSE_HUB_INTERNAL_PORT": str(_free_port()),
        "DLCOURSE_HUB_PROXY_API_PORT": str(_free_port()),
        "DLCOURSE_COURSE_ACCOUNT": course_account, "DLCOURSE_HUB_SYSTEM_USERS": "1" if system_users else "0",
        "DLCOURSE_HUB_PASSWORD": secrets.token_urlsafe(12), "DLCOURSE_HUB_ADMIN_PASSWORD": secrets.token_urlsafe(32),
    }
    env = {key: value for key, value in os.environ.items() if key != "JUPYTER_CONFIG_PATH"}
    env.update(settings)
    env[MARKER] = str(state)
    env["PATH"] = course.jupyter_env(root)["PATH"]  # this environment's scripts first
    log = open(state / "jupyterhub.log", "ab")
    process = subprocess.Popen([sys.executable, "-m", "jupyterhub", "-f", str(root / "deploy" / "trial_config.py")],
                               cwd=state, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                               start_new_session=True)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            urllib.request.urlopen(f"{settings['DLCOURSE_HUB_URL']}/hub/api", timeout=2).read()
            return process, settings
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(process, state)
                tail = (state / "jupyterhub.log").read_text(errors="replace").splitlines()[-15:]
                raise course.CourseError("the hub did not start:\n    " + "\n    ".join(tail)) from None
            time.sleep(0.5)


def _check_system_users(root: Path, users: list[str], course_account: str) -> None:
    import pwd

    if os.geteuid() != 0:
        raise course.CourseError("--system-users runs each server as its own account: that needs root")
    missing = [name for name in [*users, course_account] if not _account_exists(pwd, name)]
    if missing:
        raise course.CourseError(f"no system account {', '.join(missing)}: create them first (useradd -m NAME)")
    if root.stat().st_uid != pwd.getpwnam(course_account).pw_uid:
        raise course.CourseError(f"the course folder {root} must belong to {course_account} (chown -R)")


def _account_exists(pwd, name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


HOW_TO = """\
JupyterHub for the class is running: {url}
  students ({students}) and instructors ({instructors}): log in with the password  {password}
  the course folder and the formgrader, for instructors: {url}/hub/spawn/{account}, then
    {url}/user/{account}/formgrader
  add users: log in as admin with the password  {admin_password}
    then Admin -> Add Users (an instructor also goes into the group formgrade-{course_id}: Admin -> Groups),
    or stop and start again with more --student / --instructor
  log: {state}/jupyterhub.log    stop: Ctrl-C (stops every server it started)
"""


def run_trial(root: Path, args) -> int:
    """`dlcourse hub`: start the trial, print how to use it, and stop it all on Ctrl-C or SIGTERM."""
    if args.install_proxy:
        problem = install_proxy()
        print(problem or f"configurable-http-proxy installed: {find_proxy()}")
        return 1 if problem else 0
    kept = args.state is not None
    state = Path(args.state).resolve() if kept else Path(tempfile.mkdtemp(prefix="dlcourse-hub-"))
    exchange = Path(args.exchange).resolve() if args.exchange else root / "exchange"
    instructors, students = args.instructor or ["instructor"], args.student or ["student1", "student2"]
    account = args.course_account or COURSE_ACCOUNT
    process, settings = start(root, state, exchange, args.port, instructors, students, args.system_users, account)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(HOW_TO.format(url=settings["DLCOURSE_HUB_URL"], students=", ".join(students), course_id=COURSE_ID, account=account,
                        instructors=", ".join(instructors), password=settings["DLCOURSE_HUB_PASSWORD"],
                        admin_password=settings["DLCOURSE_HUB_ADMIN_PASSWORD"], state=state), flush=True)
    try:
        process.wait()
        print("the hub stopped by itself; see its log")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        left = stop(process, state)
        print(f"stopped the hub{f' and {len(left)} process(es) it left' if left else ''}", flush=True)
        if not kept:
            shutil.rmtree(state, ignore_errors=True)
