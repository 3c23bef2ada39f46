"""Magics and widgets behind the fault proxy: one clear line per fault, nothing lost or doubled."""
from __future__ import annotations

import pytest

from loom_jupyter.client import Loom
from loom_jupyter.widgets.logs import LogView
from tests.magics.conftest import magics, run, shell  # noqa: F401 - fixtures
from tests.widgets._support import wait_until

from .conftest import IMAGE, counting_script, delete_tagged, unique, weavers_tagged
from .faultproxy import FaultProxy

LOGS = r"/logs$"


@pytest.fixture
def ip(shell, magics, faults: FaultProxy, rel_key: str, monkeypatch):  # noqa: F811
    """The shell connected to Loom through the fault proxy (direct mode, a user key)."""
    for name in ("LOOM_URL", "LOOM_API_KEY", "LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REL_LOOM_KEY", rel_key)
    ran = run(shell, f"%loom connect {faults.url} --api-key-env REL_LOOM_KEY --no-check")
    assert ran.error is None, ran.io.stderr
    return shell


@pytest.fixture
def client(faults: FaultProxy, rel_key: str):
    with Loom(url=faults.url, api_key=rel_key, timeout=10) as loom:
        yield loom


def test_magic_log_follow_over_forced_drops_shows_every_line_once(ip, magics, faults, client):  # noqa: F811
    n = 800
    weaver = client.weavers.create(IMAGE, command=counting_script(n, 0.004),
                                   tags={"case": unique()}, lifetime_hours=1)
    magics.log_buffer_lines = n + 10
    received: list[str] = []
    cuts = [0]

    def drop_now_and_then(line) -> None:
        received.append(line.text)
        if len(received) % 60 == 0 and cuts[0] < 10:
            cuts[0] += faults.drop(LOGS)

    magics.hooks["log_line"] = drop_now_and_then
    ran = run(ip, f"%loom logs {weaver.id} --follow")
    assert ran.error is None, ran.io.stderr
    assert cuts[0] == 10
    expected = [f"line {i:05d}" for i in range(n)]
    assert received == expected
    final = ran.io.outputs[-1].data["text/plain"]
    assert final.splitlines()[:-1] == expected and f"[log ended; {n} lines received]" in final


def test_magic_create_whose_answer_is_lost_makes_one_weaver(ip, faults, rel_server):
    case = unique()
    faults.add("lose_response", "POST", r"^/api/weaver$")
    try:
        ran = run(ip, f"%loom create {IMAGE} --tag case:{case} --lifetime 1 -- sleep 30")
        assert ran.error is None, ran.io.stderr
        made = weavers_tagged(rel_server, "", case)
        assert len(made) == 1 and ran.value.id == made[0]["id"]
        assert faults.count("POST", r"^/api/weaver$") == 1
    finally:
        delete_tagged(rel_server, case)


def test_magic_chat_cut_mid_answer_keeps_and_flags_it_then_recovers(ip, magics, faults):  # noqa: F811
    magics.chat.reset()
    faults.add("cut_after_events", "POST", r"/stream$", events=6)
    ran = run(ip, "%%loom chat --new\nexplain retries")
    shown = [o.data["text/markdown"] for o in ran.io.outputs if "text/markdown" in o.data][-1]
    partial, _, note = shown.partition("\n\n---\n")
    assert partial.startswith("[offline]") and len(partial.split()) == 6
    assert "Answer cut short (the stream broke off" in note and "partial answer is kept" in note
    assert magics.chat.messages[-1] == {"role": "assistant", "content": partial}
    again = run(ip, "%%loom chat\nand again")
    text = [o.data["text/markdown"] for o in again.io.outputs if "text/markdown" in o.data][-1]
    assert again.error is None and "cut short" not in text and text.startswith("[offline]")


def test_magic_chat_rate_limited_is_one_line_with_the_wait(ip, magics, faults):  # noqa: F811
    magics.chat.reset()
    faults.add("status", "POST", r"/stream$", status=503, body={
        "error": "service_unavailable", "message": "LLM rate limited; retry after 30 seconds"})
    message = run(ip, "%%loom chat --new\nhello").usage_error()
    assert "busy" in message and "retry after 30 seconds" in message


@pytest.mark.parametrize("status", [502, 503, 504])
def test_magic_listing_under_a_long_burst_is_one_line_then_works(ip, faults, status):
    faults.add("status", "GET", r"^/api/weavers$", times=3, status=status,
               body={"error": "upstream_error", "message": "down for a moment"})
    message = run(ip, "%loom weavers").usage_error()
    assert "list" in message and "weavers" in message and "HTTP" not in message and "down for a moment" in message
    assert run(ip, "%loom weavers").error is None


def test_magic_unreachable_loom_says_what_to_check(shell, magics, rel_key, monkeypatch):  # noqa: F811
    monkeypatch.setenv("REL_LOOM_KEY", rel_key)
    assert run(shell, "%loom connect http://127.0.0.1:9 --api-key-env REL_LOOM_KEY --no-check").error is None
    message = run(shell, "%loom weavers").usage_error()
    assert "could not connect to Loom at http://127.0.0.1:9" in message
    assert "Is Loom running and reachable?" in message and rel_key not in message


def test_log_view_widget_over_forced_drops(client, faults):
    n = 600
    weaver = client.weavers.create(IMAGE, command=counting_script(n, 0.005),
                                   tags={"case": unique()}, lifetime_hours=1)
    view = LogView(weaver.id, client, tail=None)
    try:
        cuts = 0
        while view.state != "ended" and not view.state.startswith("error") and cuts < 8:
            wanted = (cuts + 1) * 50
            wait_until(lambda n=wanted: view.received > n or view.state == "ended", 20, "more lines")
            cuts += faults.drop(LOGS)
        wait_until(lambda: view.state == "ended", 30, "the log to end")
        assert cuts >= 5
        assert view.lines == [f"line {i:05d}" for i in range(n)]
    finally:
        view.close()
