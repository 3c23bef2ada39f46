"""A key is never echoed, never stored by the magics, and scrubbed from history when typed."""
from __future__ import annotations

import pytest

from .conftest import run

TYPED_KEY = "lk_" + "0123456789abcdef" * 4


def _history_text(shell) -> str:
    hm = shell.history_manager
    stored = [src for _, _, src in hm.get_range(raw=True, output=False)]
    cached = [f"{s} {r}" for _, s, r in hm.db_input_cache]
    names = [v for k, v in shell.user_ns.items() if k.startswith("_i") and isinstance(v, str)]
    return "\n".join([*shell.user_ns["In"], *hm.input_hist_raw, *stored, *cached, *names])


@pytest.mark.parametrize(
    "line",
    [
        f"%loom connect http://127.0.0.1:9 --api-key {TYPED_KEY}",
        f"%loom connect http://127.0.0.1:9 --api-key={TYPED_KEY}",
        f"%loom connect http://127.0.0.1:9 {TYPED_KEY}",
        f"%loom create img --env LOOM_API_KEY={TYPED_KEY}",
    ],
)
def test_literal_key_is_refused_and_scrubbed_from_history(offline, line):
    ran = run(offline, line)
    message = ran.usage_error()
    assert "--api-key-env" in message
    assert TYPED_KEY not in ran.all_text()
    assert TYPED_KEY not in _history_text(offline)
    assert "<redacted>" in offline.user_ns["In"][-1]


def test_key_option_without_key_shape_is_refused_too(offline):
    ran = run(offline, "%loom connect http://127.0.0.1:9 --api-key hunter2hunter2")
    ran.usage_error()
    assert "hunter2hunter2" not in _history_text(offline)


def test_scrub_reaches_the_history_database(offline):
    offline.history_manager.writeout_cache()
    run(offline, f"%loom connect --token {TYPED_KEY}")
    offline.history_manager.writeout_cache()
    rows = offline.history_manager.db.execute("SELECT source, source_raw FROM history").fetchall()
    assert rows and not any(TYPED_KEY in (a or "") + (b or "") for a, b in rows)
