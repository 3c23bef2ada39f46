"""One real JupyterHub for the whole hub suite, in front of the session's one local Loom.

`hub` starts JupyterHub (see jupyterhub_config.py and harness.py) once per session and SIGTERMs it
at the end; `team` adds two people, alice and bob, each with their own Loom user and key file, and
starts both servers at once. A later test can add a person with no key file
(`hub.add_user("carol", key_file=False)`) and sign them in instead: each person has their own
HOME and Jupyter data directory (`HubUser.data_dir`).

configurable-http-proxy comes from npm (`make hub-deps`: tests/hub/node_modules). Without it, or
without jupyterhub, the suite is skipped on a workstation and fails under CI (`$CI` set), where
`.ci/run` must have installed both.
"""
from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.fixtures.loom_server import LocalLoom
from tests.hub.harness import CHP, LOOM_SECRET, Hub, HubUser


def _missing_parts() -> str | None:
    if importlib.util.find_spec("jupyterhub") is None:
        return "jupyterhub is not installed (pip install -e '.[test]')"
    if not os.access(CHP, os.X_OK):
        return f"configurable-http-proxy is not installed at {CHP} (make hub-deps)"
    return None


@pytest.fixture(scope="session")
def hub(loom_server: LocalLoom, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    missing = _missing_parts()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the JupyterHub suite cannot run: {missing}")
        pytest.skip(missing)
    hub = Hub(loom_server, tmp_path_factory.mktemp("hub"))
    hub.start()
    try:
        yield hub
    finally:
        hub.stop()
    # Shutdown is logged too: the whole log, start to end, holds no Loom credential.
    log = hub.log_text().encode()
    secrets = [u.loom_key for u in hub.users.values()] + [loom_server.admin_key]
    assert not LOOM_SECRET.search(log) and not any(s.encode() in log for s in secrets), \
        "a Loom credential is in the hub's or a single-user server's log"


@dataclass
class Team:
    alice: HubUser
    bob: HubUser


@pytest.fixture(scope="session")
def team(hub: Hub) -> Iterator[Team]:
    """alice and bob, each their own Loom user with a 0600 key file, both servers running."""
    team = Team(hub.add_user("alice"), hub.add_user("bob"))
    hub.spawn(team.alice, team.bob)
    try:
        yield team
    finally:
        _delete_weavers(hub.loom, {team.alice.loom_user_id, team.bob.loom_user_id})


def _delete_weavers(loom: LocalLoom, owners: set[str]) -> None:
    """Cleanup as Loom's admin (not part of any proof): every weaver the team left behind."""
    listed = httpx.get(f"{loom.url}/api/weavers", headers=loom.headers(), timeout=10)
    for weaver in listed.json().get("weavers", []):
        if weaver.get("owner_user_id") in owners:
            httpx.delete(f"{loom.url}/api/weaver/{weaver['id']}", headers=loom.headers(),
                         timeout=10)


@pytest.fixture
def alice(team: Team) -> HubUser:
    return team.alice


@pytest.fixture
def bob(team: Team) -> HubUser:
    return team.bob
