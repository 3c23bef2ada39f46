"""`%loom status`: where the connection points and whether it works, without any secret."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

SUMMARY = "Show the connection: mode (direct/proxy), URL, reachable, user, server version."


def configure(parser: Any) -> None:
    """No options."""


def _probe(client: Any) -> list[tuple[str, Any]]:
    from loom_jupyter.client import LoomError

    rows: list[tuple[str, Any]] = []
    try:
        health = client.health()
        rows += [("reachable", f"yes ({health.status})"),
                 ("server version", health.server_version or "unknown")]
    except LoomError as exc:
        rows.append(("reachable", f"no: {exc}"))
        return rows
    try:
        me = client.me()
        roles = f" [{', '.join(me.global_roles)}]" if me.global_roles else ""
        rows.append(("user", f"{me.display_name or me.username or me.id}{roles}"))
    except LoomError as exc:
        rows.append(("user", f"unknown: {exc}"))
    return rows


def _credential(client: Any) -> str:
    """Where the credential comes from; in proxy mode, the server's (its source and person)."""
    from loom_jupyter.client import LoomError

    if client.mode != "proxy":
        return "API key (hidden)" if client._secrets() else "none"
    try:
        state = client.signin.state()
    except LoomError as exc:
        return f"held by the Jupyter server (its sign-in state is unknown: {exc})"
    if state.state == "pending":
        return f"none yet: a sign-in is waiting for code {state.user_code} (%loom login)"
    if not state.credential:
        return "none: run %loom login to sign in"
    who = f", {state.who}" if state.who else ""
    return f"held by the Jupyter server ({state.source}{who})"


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from IPython.display import display

    from loom_jupyter.client import LoomConfigError

    from .._display import fields_view

    try:
        client = magics.client
    except LoomConfigError as exc:
        rows: list[tuple[str, Any]] = [("connected", f"no: {exc}"),
                                      ("to connect", "%loom connect URL --api-key-env NAME")]
    else:
        rows = [("mode", client.mode), ("url", client.url), ("credential", _credential(client)),
                *_probe(client)]
    display(fields_view(rows, "Loom connection"), raw=True)
