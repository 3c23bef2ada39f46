"""The JupyterHub the hub suite runs: one hub, configurable-http-proxy, one local process per user.

Everything that varies per run (ports, directories, the Loom URL, the admin service token) comes
from the JSON file named by $LOOM_HUB_TEST_SETTINGS, written by tests/hub/harness.py.

What a team deployment would copy from here is the Loom part: the admin sets the Loom URL once for
everybody in `c.Spawner.environment`; each person's credential stays their own (here a 0600 key
file per user; later a sign-in kept in that user's Jupyter data directory).
"""
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when JupyterHub loads this file

settings = json.loads(Path(os.environ["LOOM_HUB_TEST_SETTINGS"]).read_text())
run = Path(settings["run_dir"])
homes = Path(settings["homes_dir"])
keys = Path(settings["keys_dir"])

# -- the hub and its proxy, all on loopback, all state under the run directory ----------------
c.JupyterHub.bind_url = f"http://127.0.0.1:{settings['public_port']}"
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{settings['hub_port']}"
c.JupyterHub.db_url = f"sqlite:///{run / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(run / "jupyterhub_cookie_secret")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every single-user server
c.JupyterHub.log_level = "DEBUG"
c.ConfigurableHTTPProxy.command = [settings["chp"]]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = str(run / "proxy.pid")
c.ConfigurableHTTPProxy.debug = True

# -- who may log in, and the test's admin service ---------------------------------------------
c.JupyterHub.authenticator_class = "dummy"  # any name, any password: tests only
c.JupyterHub.services = [{"name": "loom-hub-tests", "api_token": settings["admin_token"]}]
c.JupyterHub.load_roles = [{
    "name": "loom-hub-tests",
    "scopes": ["admin:users", "admin:servers", "tokens", "read:users", "read:servers"],
    "services": ["loom-hub-tests"],
}]

# -- single-user servers: local processes, one HOME (and Jupyter dirs) per person --------------
c.JupyterHub.spawner_class = "simple"
c.Spawner.cmd = [settings["singleuser"]]
c.Spawner.args = ["--allow-root"]  # the suite runs as root; without it a spawn fails after ~11 s
c.Spawner.ip = "127.0.0.1"
c.Spawner.debug = True  # the single-user servers log at DEBUG: the key must not show even there
c.Spawner.start_timeout = 60
c.Spawner.http_timeout = 60
c.Spawner.popen_kwargs = {"start_new_session": False}  # in the hub's process group
c.SimpleLocalProcessSpawner.home_dir_template = str(homes / "{username}")


def _home(spawner):
    return homes / spawner.user.name


def _key_file(spawner):
    """The admin's per-person key file, if this person has one ("" = none: sign in instead)."""
    path = keys / f"{spawner.user.name}.key"
    return str(path) if path.exists() else ""


c.Spawner.environment = {
    "LOOM_URL": settings["loom_url"],  # one Loom for everyone, set by the admin
    "LOOM_API_KEY_FILE": _key_file,  # each person's own credential
    "JUPYTER_PLATFORM_DIRS": "1",
    "JUPYTER_CONFIG_DIR": lambda sp: str(_home(sp) / ".jupyter"),
    "JUPYTER_DATA_DIR": lambda sp: str(_home(sp) / ".local" / "share" / "jupyter"),
    "JUPYTER_RUNTIME_DIR": lambda sp: str(_home(sp) / ".local" / "share" / "jupyter" / "runtime"),
    "IPYTHONDIR": lambda sp: str(_home(sp) / ".ipython"),
    "XDG_DATA_HOME": lambda sp: str(_home(sp) / ".local" / "share"),
    "XDG_CONFIG_HOME": lambda sp: str(_home(sp) / ".config"),
    "XDG_CACHE_HOME": lambda sp: str(_home(sp) / ".cache"),
}
