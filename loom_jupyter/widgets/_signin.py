"""The dashboard's "Sign in to Loom" bar: shown when the Jupyter server holds no credential."""
from __future__ import annotations

import html
import time
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from loom_jupyter.client import LoomError

from ._poll import start_daemon

__all__ = ["SignInBar"]


class SignInBar(w.HBox):
    """In proxy mode with nobody signed in: a button that runs the server's device-code sign-in
    and shows the code, a link and a countdown. Hidden otherwise (direct mode has a key)."""

    def __init__(self, client: Any, on_signed_in: Callable[[], None],
                 poll_interval: float = 1.0) -> None:
        self._client = client
        self._on_signed_in = on_signed_in
        self._poll_interval = poll_interval
        self.note = w.HTML()
        self.button = w.Button(description="Sign in to Loom", icon="sign-in",
                               button_style="primary")
        self.button.on_click(lambda _b: start_daemon(self._run, "loom-signin"))
        super().__init__([self.button, self.note], layout=w.Layout(display="none"))
        self.check()

    def check(self) -> bool:
        """Show the bar if the server has no credential; True when someone is signed in."""
        if self._client.mode != "proxy":
            return True
        try:
            state = self._client.signin.state()
        except LoomError:
            return True  # an older extension without sign-in: nothing to offer
        self._show(state.credential is None)
        return state.credential is not None

    def _show(self, visible: bool) -> None:
        self.layout.display = "" if visible else "none"

    def _run(self) -> None:
        self.button.disabled = True
        try:
            state = self._client.signin.start()
            while state.state == "pending":
                self._pending(state)
                time.sleep(self._poll_interval)
                state = self._client.signin.state()
            outcome = state.last_attempt or {}
            self._say(outcome.get("message") or "The sign-in did not complete.",
                      ok=outcome.get("state") == "signed_in")
            if state.credential is not None:
                self.button.layout.display = "none"
                self._on_signed_in()
        except LoomError as exc:
            self._say(str(exc), ok=False)
        finally:
            self.button.disabled = False

    def _pending(self, state: Any) -> None:
        minutes, seconds = divmod(max(0, state.expires_in or 0), 60)
        link = html.escape(state.verification_url or "", quote=True)
        self.note.value = (f"Open <a href=\"{link}\" target=\"_blank\" rel=\"noopener\">{link}"
                           f"</a> and enter <b>{html.escape(state.user_code or '')}</b> "
                           f"(expires in {minutes}:{seconds:02d})")

    def _say(self, text: str, ok: bool) -> None:
        colour = "#2f855a" if ok else "#c53030"
        self.note.value = f'<span style="color:{colour}">{html.escape(text)}</span>'
