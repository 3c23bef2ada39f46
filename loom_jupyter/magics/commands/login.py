"""`%loom login`: sign in to Loom as yourself; the Jupyter server runs the flow and keeps the token."""
from __future__ import annotations

import html
import time
from argparse import Namespace
from typing import Any

SUMMARY = ("Sign in to Loom as yourself: shows a code and a link to approve it; the Jupyter "
           "server keeps the sign-in (the kernel never sees a token).")


def configure(parser: Any) -> None:
    parser.add_argument("--no-wait", action="store_true",
                        help="show the code and return; %%loom status tells when it is done")
    parser.add_argument("--username", metavar="NAME",
                        help="for a loom-v1 or openloomi connection: whom to sign in as "
                             "(default: the configured username); the password is asked for")


def _clock(seconds: int | None) -> str:
    minutes, secs = divmod(max(0, seconds or 0), 60)
    return f"{minutes}:{secs:02d}"


def _pending(state: Any) -> dict[str, str]:
    left = _clock(state.expires_in)
    text = (f"To sign in to {state.url}, open {state.verification_url} and enter the code "
            f"{state.user_code} (expires in {left}).")
    link = html.escape(state.verification_url or "", quote=True)
    markup = (f"To sign in to {html.escape(state.url)}, open <a href=\"{link}\" target=\"_blank\" "
              f"rel=\"noopener\">{link}</a> and enter the code "
              f"<b style='font-size:1.2em;letter-spacing:.1em'>{html.escape(state.user_code or '')}"
              f"</b> <span style='opacity:.7'>(expires in {left})</span>")
    return {"text/plain": text, "text/html": markup}


def run(magics: Any, args: Namespace, cell: str | None) -> None:
    from .._display import LiveArea, text_bundle
    from .._errors import MagicError

    if magics.client.kind != "loom":  # a password kind behind --connection NAME
        from .._password_signin import login

        return login(magics.client, args.username)
    signin = magics.client.signin
    state = signin.state()
    if state.state == "signed_in" and state.source == "sign-in":
        print(f"Already signed in to {state.url} as {state.who} (%loom logout to switch).")
        return
    state = signin.start()
    area = LiveArea(hz=2)
    try:
        while state.state == "pending":
            area.set(_pending(state))
            if args.no_wait:
                area.flush()
                return
            time.sleep(1.0)
            state = signin.state()
    except KeyboardInterrupt:
        area.set(text_bundle(f"Stopped waiting. The code stays valid for "
                             f"{_clock(state.expires_in)}; %loom status shows when it is used."))
        area.flush()
        return
    outcome = state.last_attempt or {}
    if outcome.get("state") != "signed_in":
        area.set(text_bundle(outcome.get("message") or "The sign-in did not complete."))
        area.flush()
        raise MagicError(outcome.get("message") or "The sign-in did not complete: run %loom "
                         "login again.")
    area.set(text_bundle(outcome["message"]))
    area.flush()
