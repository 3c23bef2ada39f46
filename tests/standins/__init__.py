"""Loopback stand-ins for the three other platforms that share the Loom name (issue 13, item 5).

Each is a real HTTP server on 127.0.0.1 (tornado, on its own event-loop thread) that follows
its seed document and the issue-13 contract's wire facts (written in each module's docstring):

    loom_v1.LoomV1StandIn      seed 002: JWT login, paged assets, binaries, pipeline events WS
    openloomi.OpenLoomiStandIn seed 003: email login, refresh, token file, OpenAI-style SSE chat
    nodeloom.NodeLoomStandIn   seed 004: sdk_ tokens + roles, X-RateLimit-*, 429, agent chat SSE

All of them keep every request they received in `.requests` (method, raw path, query, every
header with its value, body: see `Recorded`), and have `.url`, `.credentials()`, `.reset()`
(state, options, rate windows and request log back to just-started) and `.configure(**options)`.

In a test module or a conftest.py (pytest only honours `pytest_plugins` in the root conftest):

    from tests.standins.fixtures import *  # noqa: F403  (v1_standin, openloomi_standin, ...)

As processes (e.g. for a notebook's conftest), `tests.standins.spawn("nodeloom", "--rate-limit",
"5")` or the CLI, which prints one JSON line {"kind","url","credentials"} and serves until
SIGTERM/SIGINT:

    python -m tests.standins {loom-v1|openloomi|nodeloom} --port N [--users ...]
"""
from __future__ import annotations

from tests.standins._server import Recorded, StandIn
from tests.standins._spawn import Spawned, spawn
from tests.standins.loom_v1 import LoomV1StandIn
from tests.standins.nodeloom import NodeLoomStandIn
from tests.standins.openloomi import OpenLoomiStandIn

KINDS: dict[str, type[StandIn]] = {
    "loom-v1": LoomV1StandIn,
    "openloomi": OpenLoomiStandIn,
    "nodeloom": NodeLoomStandIn,
}

__all__ = ["KINDS", "LoomV1StandIn", "NodeLoomStandIn", "OpenLoomiStandIn", "Recorded",
           "Spawned", "StandIn", "spawn"]
