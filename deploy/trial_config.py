"""The class server of jupyterhub_config.py, for a trial on loopback (`dlcourse hub` runs it).

What changes for the trial, and only that: a shared password instead of the server's accounts,
a hub administrator "admin" (admin password) who can add users, every server a plain local
process, and ports chosen by `dlcourse hub`. DLCOURSE_HUB_SYSTEM_USERS=1 (root only) runs each
user's server as the system account of that name, as on the class server (the end-to-end test
does this); otherwise every server runs as you, with its home under the trial's state folder.
"""

import os
from pathlib import Path

c = get_config()  # noqa: F821
load_subconfig(str(Path(__file__).with_name("jupyterhub_config.py")))  # noqa: F821

c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = os.environ["DLCOURSE_HUB_PASSWORD"]
c.SharedPasswordAuthenticator.admin_password = os.environ["DLCOURSE_HUB_ADMIN_PASSWORD"]
c.Authenticator.admin_users = {"admin"}
c.Authenticator.allowed_users.add("admin")

if os.environ.get("DLCOURSE_HUB_SYSTEM_USERS") == "1":
    c.JupyterHub.spawner_class = "localprocess"
else:
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = os.path.join(os.environ["DLCOURSE_HUB_STATE"], "home", "{username}")
    if os.geteuid() == 0:  # a container: the servers run as root too, which Jupyter refuses without this
        c.Spawner.args = ["--allow-root"]
c.Spawner.mem_limit = None   # enforced by the systemd spawner only
c.Spawner.cpu_limit = None
c.Spawner.http_timeout = 120  # a cold start on a loaded laptop
c.Spawner.start_timeout = 180
