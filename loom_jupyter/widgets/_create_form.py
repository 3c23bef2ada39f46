"""The dashboard's create form: parses and validates every field before anything is sent."""

from __future__ import annotations

import re
import shlex
from typing import Any
from collections.abc import Callable

import ipywidgets as w

from loom_jupyter.client import LoomValidationError
from loom_jupyter.client.models.tags import parse_tag_filters

__all__ = ["CreateForm", "parse_env", "parse_tags"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LAYOUT = w.Layout(width="auto")


def _invalid(field: str, message: str) -> LoomValidationError:
    return LoomValidationError(field, message)


def parse_tags(text: str) -> dict[str, str]:
    """``"project:x, team:y"`` -> dict, by the SDK's one tag rule (``client/models/tags.py``)."""
    try:
        return parse_tag_filters(text)
    except ValueError as exc:
        raise _invalid("tags", str(exc)) from None


def parse_env(text: str) -> dict[str, str]:
    """``K=V`` items separated by newlines or commas (so values cannot hold commas here)."""
    env: dict[str, str] = {}
    for item in (part.strip() for part in re.split(r"[\n,]", text)):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not _ENV_NAME.match(key.strip()):
            raise _invalid("env", f"{item!r} must look like NAME=value.")
        env[key.strip()] = value
    return env


def _resources(memory: str, cpu: str) -> dict[str, str] | None:
    # Quantities ("2Gi", "500m") are checked by the client, before anything is sent.
    resources = {"memory": memory.strip(), "cpu": cpu.strip()}
    return {key: value for key, value in resources.items() if value} or None


def _command(text: str) -> list[str] | None:
    try:
        return shlex.split(text) or None
    except ValueError as exc:
        raise _invalid("command", f"cannot parse it ({exc}).") from None


class CreateForm(w.VBox):
    """Fields for a new weaver; ``submit`` hands validated ``weavers.create`` kwargs on."""

    def __init__(
        self,
        on_submit: Callable[[dict[str, Any]], None],
        on_invalid: Callable[[LoomValidationError], None],
        org_id: str = "",
    ) -> None:
        self._on_submit = on_submit
        self._on_invalid = on_invalid
        self.image = w.Text(description="image", placeholder="python:3.12", layout=_LAYOUT)
        self.org = w.Text(value=org_id, description="org", layout=_LAYOUT)
        self.tags = w.Text(description="tags", placeholder="project:x, team:y", layout=_LAYOUT)
        self.env = w.Textarea(description="env", placeholder="NAME=value, one a line", layout=_LAYOUT)
        self.memory = w.Text(description="memory", placeholder="e.g. 2Gi", layout=_LAYOUT)
        self.cpu = w.Text(description="cpu", placeholder="e.g. 2 or 500m", layout=_LAYOUT)
        self.lifetime = w.IntText(value=4, description="lifetime (h)", layout=_LAYOUT)
        self.command = w.Text(description="command", placeholder="optional, e.g. sleep 600", layout=_LAYOUT)
        self.submit_button = w.Button(description="Create weaver", button_style="primary", icon="plus")
        self.submit_button.on_click(lambda _b: self.submit())
        fields = [self.image, self.org, self.tags, self.env, self.memory, self.cpu, self.lifetime]
        super().__init__(children=[*fields, self.command, self.submit_button])

    def request(self) -> dict[str, Any]:
        """Parse the text fields into ``client.weavers.create`` arguments.

        Only the syntax of the text is checked here (``LoomValidationError`` naming the
        field); values such as lifetime and quantities are checked by the client itself
        before it sends anything, and reported on the same status line.
        """
        image = self.image.value.strip()
        if not image:
            raise _invalid("image", "give one, e.g. python:3.12.")
        return {
            "image": image,
            "org_id": self.org.value.strip() or None,
            "tags": parse_tags(self.tags.value) or None,
            "env": parse_env(self.env.value) or None,
            "resources": _resources(self.memory.value, self.cpu.value),
            "lifetime_hours": self.lifetime.value,
            "command": _command(self.command.value),
        }

    def submit(self) -> None:
        """Validate, then hand over; invalid input goes to ``on_invalid`` and nothing is sent."""
        try:
            kwargs = self.request()
        except LoomValidationError as exc:
            self._on_invalid(exc)
            return
        self._on_submit(kwargs)
