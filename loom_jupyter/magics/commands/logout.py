"""`%loom logout`: forget this Jupyter server's sign-in to Loom (revoked upstream where possible)."""
from __future__ import annotations

from argparse import Namespace
from typing import Any

SUMMARY = "Sign out: the Jupyter server forgets (and where Loom allows, revokes) your sign-in."


def configure(parser: Any) -> None:
    """No options."""


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    if magics.client.kind != "loom":  # a password kind behind --connection NAME
        from .._password_signin import logout

        return logout(magics.client)
    state = magics.client.signin.sign_out()
    message = (state.last_attempt or {}).get("message", "Signed out.")
    if state.credential:
        message += (f" This server still uses its {state.source} credential"
                    + (f" ({state.who})." if state.who else "."))
    print(message)
