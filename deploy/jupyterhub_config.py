"""JupyterHub for a class of this course on one server, with nbgrader's exchange (see deploy/README.md).

Run it as root from the course's environment, in the hub's state folder:

    cd /srv/jupyterhub && /srv/dlcourse/.venv/bin/jupyterhub -f /srv/dlcourse/deploy/jupyterhub_config.py

Who is who (nbgrader's layout for one class with several graders):
- every student and instructor logs in with their own account and gets their own single-user
  server (JupyterLab in their home folder) with nbgrader's assignment list: fetch, submit,
  fetch feedback; no instructor panels there;
- the course folder (this checkout: solutions/, the gradebook, submitted/, autograded/,
  feedback/) belongs to one course account, grader-dlcourse, and is open to nobody else. That
  account's server (the course folder, the formgrader, a terminal for `dlcourse grade`) is
  opened by the instructors, the group formgrade-dlcourse, at /user/grader-dlcourse/; nobody
  logs in as it. (nbgrader's example runs it as a managed JupyterHub service instead, but
  JupyterHub 5 stops the whole hub when a managed service does not answer within 10 s, and the
  course's server takes longer than that on a loaded machine; a user's server has time-outs we set.)
- assignments, submissions and feedback move through nbgrader's exchange folder, writable by
  all (mode 1777), where nbgrader's own permissions keep students from listing each other's
  submissions.

The settings come from the environment, with the values of a class server as defaults; the
roster is two files in the state folder, one user name a line: instructors.txt, students.txt.
`dlcourse hub` runs this same file on loopback for a trial (deploy/trial_config.py).
"""

import os
import sys
from pathlib import Path

from dlcourse import course, hub

c = get_config()  # noqa: F821 (provided by traitlets when the file is loaded)

COURSE_ROOT = Path(os.environ.get("DLCOURSE_ROOT") or Path(__file__).resolve().parents[1])
STATE = Path(os.environ.get("DLCOURSE_HUB_STATE") or os.getcwd())  # hub database, cookie secret, roster
EXCHANGE = Path(os.environ.get("DLCOURSE_EXCHANGE") or "/srv/nbgrader/exchange")
COURSE_ACCOUNT = os.environ.get("DLCOURSE_COURSE_ACCOUNT") or "grader-dlcourse"  # owns COURSE_ROOT
PUBLIC_URL = os.environ.get("DLCOURSE_HUB_URL") or "http://127.0.0.1:8000"  # TLS (nginx, caddy) in front
HUB_PORT = int(os.environ.get("DLCOURSE_HUB_INTERNAL_PORT") or 8081)
PROXY_API_PORT = int(os.environ.get("DLCOURSE_HUB_PROXY_API_PORT") or 8001)
COURSE_ID = hub.COURSE_ID  # = c.CourseDirectory.course_id of jupyter_config.py

INSTRUCTORS, STUDENTS = hub.read_roster(STATE)
MARK = {hub.MARKER: str(STATE)}  # every server carries it: `dlcourse hub` finds what is left by it

# --- the hub ----------------------------------------------------------------------------------
c.JupyterHub.bind_url = PUBLIC_URL
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = HUB_PORT
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [hub.find_proxy() or "configurable-http-proxy"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{PROXY_API_PORT}"
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# The server's own accounts (PAM), each user's server a systemd unit with its own memory and
# CPU limit (pip install jupyterhub-systemdspawner; deploy/README.md has the sizes measured).
c.JupyterHub.authenticator_class = "pam"
c.JupyterHub.spawner_class = "systemdspawner.SystemdSpawner"
c.Spawner.mem_limit = "3G"
c.Spawner.cpu_limit = 1.0
c.Spawner.http_timeout = 60
c.Spawner.start_timeout = 120
c.Authenticator.allowed_users = set(INSTRUCTORS) | set(STUDENTS) | {COURSE_ACCOUNT}
c.Authenticator.blocked_users = {COURSE_ACCOUNT}  # its server is started by instructors, never logged into
c.Authenticator.admin_users = set()  # the server's administrator adds themselves here

# --- everyone's own server: the course's jupyter_config.py, the class's exchange, no formgrader
hub.prepare(COURSE_ROOT, STATE, EXCHANGE)
c.Spawner.cmd = [sys.executable, "-m", "jupyterhub.singleuser"]
c.Spawner.notebook_dir = "~"
c.Spawner.default_url = "/lab"
c.Spawner.environment = {"JUPYTER_CONFIG_PATH": hub.student_config_path(STATE), **MARK}


# --- the course account's server: the course folder and the formgrader, for the instructors ---
def course_server(spawner):
    if spawner.user.name == COURSE_ACCOUNT:
        spawner.notebook_dir = str(COURSE_ROOT)
        spawner.default_url = "/formgrader"
        spawner.environment = {**spawner.environment,
                               "JUPYTER_CONFIG_PATH": hub.course_config_path(COURSE_ROOT, STATE),
                               "PATH": course.jupyter_env(COURSE_ROOT)["PATH"]}  # nbgrader calls alembic by name


c.Spawner.pre_spawn_hook = course_server

# --- groups and roles, named as nbgrader names them for JupyterHub --------------------------
c.JupyterHub.load_groups = {f"formgrade-{COURSE_ID}": {"users": INSTRUCTORS},
                            f"nbgrader-{COURSE_ID}": {"users": STUDENTS}}
c.JupyterHub.load_roles = [{
    "name": f"formgrade-{COURSE_ID}",
    "description": "the instructors: start, stop and use the course account's server (formgrader)",
    "groups": [f"formgrade-{COURSE_ID}"],
    "scopes": [f"access:servers!user={COURSE_ACCOUNT}", f"servers!user={COURSE_ACCOUNT}",
               f"read:users!user={COURSE_ACCOUNT}"],
}]
