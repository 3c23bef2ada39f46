"""`%loom login|logout --connection NAME` for password kinds (loom-v1, openloomi).

The password is asked for with getpass in the kernel and sent once, in a request body, to the
Jupyter server's `loom/connections/NAME/signin`; the server signs in and keeps the token (and
the password, to renew it) in its memory. Nothing is stored in the notebook or the kernel.
"""
from __future__ import annotations

import getpass
from typing import Any

from ._errors import MagicError
from ._waiting import suspended

SIGNIN = "signin"  # relative to the connection's proxy prefix: loom/connections/NAME/signin


def _connection(client: Any) -> str:
    if client.connection is None:
        raise MagicError(f"%loom login signs in through the Jupyter server; this {client.kind} "
                         "client talks to its server directly: pass username= and password= "
                         "to Loom(...) instead.")
    return str(client.connection)


def _ask_password(prompt: str, name: str) -> str:
    try:
        with suspended():  # no "waiting for Loom…" while the user types
            password = getpass.getpass(prompt)
    except (NotImplementedError, EOFError, OSError):  # StdinNotImplementedError included
        raise MagicError(f"This front end cannot ask for a password, so nothing was done; give "
                         f"connection {name!r} a password_file or password_env in the Jupyter "
                         "server's configuration instead.") from None
    if not password:
        raise MagicError("No password given; nothing was done.")
    return password


def login(client: Any, username: str | None) -> None:
    name = _connection(client)
    state = client.request("GET", SIGNIN)
    if "username" not in state:  # a key, a token file: configured, not signed in to
        raise MagicError(f"Connection {name!r} uses its {state.get('source')} credential; there "
                         "is nothing to sign in to.")
    user = username or state.get("username")
    if not user:
        raise MagicError(f"Connection {name!r} has no username configured: add --username NAME.")
    password = _ask_password(f"Password for {user} at {state.get('url', name)}: ", name)
    client.request("POST", SIGNIN, json={"username": user, "password": password})
    print(f"Signed in to {name} ({state.get('url', '')}) as {user}; the Jupyter server keeps the "
          "token in memory (the password is never stored).")


def logout(client: Any) -> None:
    name = _connection(client)
    state = client.request("DELETE", SIGNIN)
    after = "still has a credential" if state.get("state") == "signed_in" else "is signed out"
    print(f"Connection {name!r} {after}.")
