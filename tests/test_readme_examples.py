"""The README's examples run as written against the local server.

Convention: a fenced ```python block whose line just above is an HTML comment starting with
`<!-- test` is runnable; the test runs every such block, in order, as one IPython cell each
(so `%loom` lines and `%%loom` cells work as in a notebook), in one namespace, connected
through LOOM_URL/LOOM_API_KEY as a user would be. JSON bodies the README shows for the API-key
route are sent to the local server as written.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.magics.conftest import ENV_NAMES, magics, run, shell  # noqa: F401 - fixtures

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^<!-- test[^\n]*-->\n```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_KEY_BODY = re.compile(r"`(\{\"name\"[^`]*\"scopes\"[^`]*\})`")


def runnable_blocks(text: str) -> list[str]:
    return [m.group(1) for m in _BLOCK.finditer(text)]


def test_the_marker_convention_finds_the_blocks():
    text = "<!-- test -->\n```python\nx = 1\n```\n\n```python\nnot = run\n```\n"
    assert runnable_blocks(text) == ["x = 1\n"]
    blocks = runnable_blocks(README.read_text())
    assert len(blocks) >= 3, "the README lost its runnable examples (or their <!-- test --> markers)"
    assert any("%loom" in b for b in blocks) and any("Loom()" in b for b in blocks)


@pytest.fixture
def as_a_user(shell, magics, loom_server, user_key, monkeypatch):  # noqa: F811
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LOOM_URL", loom_server.url)
    monkeypatch.setenv("LOOM_API_KEY", user_key)
    yield shell
    import ipywidgets

    for widget in list(ipywidgets.Widget.widgets.values()):  # the dashboard's poller stops
        if type(widget).__name__ == "WeaverDashboard":
            widget.close()


def test_readme_python_and_magic_examples_run_as_written(as_a_user):
    outputs: list[str] = []
    for number, block in enumerate(runnable_blocks(README.read_text()), 1):
        ran = run(as_a_user, block)
        assert ran.error is None, f"README example {number} failed: {ran.error!r}\n{block}\n{ran.all_text()}"
        outputs.append(ran.all_text())
    everything = "\n".join(outputs)
    # What the comments in the examples promise.
    assert "42" in outputs[0] and "succeeded" in outputs[0] and "[offline]" in everything
    assert "trained" in everything and "lines]" in everything
    assert len(as_a_user.user_ns["last_lines"]) == 1


def _admin_post(server: Any, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{server.url}/api/orgs/{server.org_id}/api-keys", json=body,
                      headers=server.headers(), timeout=10)


def test_readme_api_key_bodies_are_accepted_as_written(loom_server):
    bodies = [json.loads(b) for b in _KEY_BODY.findall(README.read_text())]
    assert bodies, "no API-key body found in the README"
    for body in bodies:
        response = _admin_post(loom_server, body)
        assert response.status_code == 201, (body, response.text)
    # The mistake the README used to show is refused, as Loom refuses it.
    assert _admin_post(loom_server, {"name": "x", "scopes": []}).status_code == 400
