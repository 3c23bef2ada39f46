"""The tutorial notebooks are committed with their outputs: none may hold a credential.

Scans every byte of every notebook (sources, outputs, widget state, metadata) for Loom key
shapes, bearer headers, and the values of credential variables set in this environment. The
nbval harness (harness.py) also fails any cell whose live output contains the key it gave the
kernel, and notebooks/refresh.py refuses to store such a notebook.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.ipynb"))
PATTERNS = {
    "Loom API key": re.compile(r"lk_[0-9a-f]{64}"),
    "Loom WebSocket token": re.compile(r"ws_[0-9a-f]{32}"),
    "bearer credential": re.compile(r"Bearer\s"),
    "Loom key (any shape)": re.compile(r"loom_sk_[A-Za-z0-9_\-]{8,}"),
    "provider key": re.compile(r"sk-(?:ant-)?[A-Za-z0-9_\-]{20,}"),
}
SECRET_ENV = ("LOOM_API_KEY", "LOOM_JUPYTER_PROXY_TOKEN", "ANTHROPIC_API_KEY", "OPENAI_API_KEY")


def test_there_are_notebooks() -> None:
    assert len(NOTEBOOKS) >= 6, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_holds_no_secret(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # JSON escapes (\u002f, \") must not hide a key: check the decoded strings too.
    decoded = "\n".join(_strings(json.loads(text)))
    for name, pattern in PATTERNS.items():
        for haystack in (text, decoded):
            match = pattern.search(haystack)
            assert match is None, f"{path.name} contains a {name} near {haystack[max(0, match.start() - 40):match.start()]!r}"
    for var in SECRET_ENV:
        value = os.environ.get(var, "")
        if len(value) >= 8:
            assert value not in text and value not in decoded, f"{path.name} contains the value of ${var}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_executed_and_reads_the_key_from_the_environment(path: Path) -> None:
    """Stored outputs exist (nbval compares them) and no cell passes a literal key."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code and all(c.get("execution_count") for c in code), f"{path.name} has unexecuted cells"
    for cell in code:
        source = "".join(cell["source"])
        assert not re.search(r"api_key\s*=\s*['\"]", source), f"{path.name}: a literal api_key= in a cell"


def _strings(node: object) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in [key, *_strings(value)]]
    return []
