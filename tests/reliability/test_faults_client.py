"""The client SDK behind the fault proxy: each fault gives one clear error or is survived, then
the client recovers; logs lose and repeat nothing, a cut LLM answer is kept and flagged, and a
create whose answer was lost leaves exactly one weaver."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from loom_jupyter.client import (
    APIConnectionError,
    APITimeoutError,
    Loom,
    RateLimitError,
    ServerError,
    ServiceUnavailableError,
    StreamError,
)
from loom_jupyter.client.models.llm import Completed, TextDelta
from tests.fixtures.loom_server import LocalLoom

from .conftest import IMAGE, counting_script, delete_tagged, unique, weavers_tagged
from .faultproxy import FaultProxy

WEAVERS = r"^/api/weavers$"
CREATE = r"^/api/weaver$"
LOGS = r"/logs$"
STREAM = r"^/proxy/\w+/stream$"
MESSAGES = [{"role": "user", "content": "tell me about fault injection in twenty words"}]


@pytest.fixture
def loom(faults: FaultProxy, rel_key: str) -> Iterator[Loom]:
    with Loom(url=faults.url, api_key=rel_key, timeout=10) as client:
        yield client


def one_line(exc: BaseException) -> str:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text, text
    return text


def follow_with_drops(loom: Loom, faults: FaultProxy, weaver_id: str, drops: int,
                      every: float, reset: bool = False) -> tuple[list[str], int]:
    """Follow the logs to the end while cutting the live log connection `drops` times."""
    done, cut = threading.Event(), [0]

    def breaker() -> None:
        while not done.is_set() and cut[0] < drops:
            time.sleep(every)
            cut[0] += faults.drop(LOGS, reset=reset)

    thread = threading.Thread(target=breaker, daemon=True)
    thread.start()
    try:
        lines = [line.text for line in loom.weavers.logs(weaver_id)]
    finally:
        done.set()
        thread.join(5)
    return lines, cut[0]


# -- logs -----------------------------------------------------------------------------------

def test_log_follow_survives_20_forced_drops_without_loss_or_repeats(loom, faults):
    n = 1500
    case = unique()
    weaver = loom.weavers.create(IMAGE, command=counting_script(n, 0.004), tags={"case": case},
                                 lifetime_hours=1)
    lines, cut = follow_with_drops(loom, faults, weaver.id, drops=20, every=0.2)
    assert cut >= 20, f"only {cut} drops hit a live log stream"
    assert faults.count("GET", LOGS) > cut  # it reconnected after every drop
    expected = [f"line {i:05d}" for i in range(n)]
    missing = sorted(set(expected) - set(lines))
    assert not missing, f"{len(missing)} lines lost, first {missing[:3]}"
    assert len(lines) == len(set(lines)), "lines repeated"
    assert lines == expected


def test_log_follow_survives_resets_and_a_pause(loom, faults):
    n = 600
    weaver = loom.weavers.create(IMAGE, command=counting_script(n, 0.005), tags={"case": unique()},
                                 lifetime_hours=1)
    stream = loom.weavers.logs(weaver.id)
    got = [next(stream).text for _ in range(50)]
    faults.pause()  # a stalled network: nothing moves, then everything arrives
    time.sleep(1.0)
    faults.resume()
    for connections in (2, 3):
        assert faults.drop(LOGS, reset=True) == 1
        while faults.count("GET", LOGS) < connections:  # read on until it has reconnected
            got.append(next(stream).text)
    got += [line.text for line in stream]
    assert got == [f"line {i:05d}" for i in range(n)]


# -- LLM stream ------------------------------------------------------------------------------

def _full_answer(loom: Loom) -> str:
    events = list(loom.llm.stream("anthropic", "claude-sonnet-4-20250514", MESSAGES))
    assert isinstance(events[-1], Completed)
    return "".join(e.content for e in events if isinstance(e, TextDelta))


def test_llm_stream_cut_in_half_keeps_and_flags_the_partial_answer(loom, faults):
    full = _full_answer(loom)
    deltas = full.count(" ")
    assert deltas > 10, full
    faults.add("cut_after_events", "POST", STREAM, events=deltas // 2)
    seen: list[str] = []
    with pytest.raises(StreamError) as info:
        for event in loom.llm.stream("anthropic", "claude-sonnet-4-20250514", MESSAGES):
            assert not isinstance(event, Completed)
            if isinstance(event, TextDelta):
                seen.append(event.content)
    partial = info.value.partial_text
    assert partial == "".join(seen) and 0 < len(partial) < len(full) and full.startswith(partial)
    assert len(seen) == deltas // 2
    assert "The LLM stream was cut off" in one_line(info.value)  # chunked body ended early
    assert _full_answer(loom) == full  # and the next one is whole again


def test_llm_stream_reset_mid_answer_is_a_stream_error_with_partial_text(loom, faults):
    faults.add("reset_after", "POST", STREAM, n=600)
    with pytest.raises(StreamError) as info:
        list(loom.llm.stream("anthropic", "claude-sonnet-4-20250514", MESSAGES))
    assert "cut off" in one_line(info.value)
    assert info.value.partial_text.startswith("[offline]")


def test_llm_rate_limited_503_is_one_clear_error_with_retry_after(loom, faults):
    body = {"error": "service_unavailable", "message": "LLM rate limited; retry after 30 seconds"}
    faults.add("status", "POST", STREAM, status=503, body=body)
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        list(loom.llm.stream("anthropic", "claude-sonnet-4-20250514", MESSAGES))
    assert time.monotonic() - started < 5
    assert info.value.retry_after == 30 and info.value.status_code == 503
    assert "retry after 30 seconds" in one_line(info.value)
    assert faults.count("POST", STREAM) == 1  # a POST is not blindly repeated
    assert _full_answer(loom).startswith("[offline]")


# -- weaver create ---------------------------------------------------------------------------

def _create(loom: Loom, case: str) -> Any:
    return loom.weavers.create(IMAGE, command=["sleep", "30"], tags={"case": case}, lifetime_hours=1)


def test_create_whose_response_is_lost_makes_exactly_one_weaver(loom, faults, rel_server):
    case = unique()
    rule = faults.add("lose_response", "POST", CREATE)
    try:
        weaver = _create(loom, case)
        assert rule.fired == 1
        assert faults.count("POST", CREATE) == 1  # looked up, not sent again
        found = weavers_tagged(rel_server, "", case)
        assert [w["id"] for w in found] == [weaver.id]
        assert weaver.request_id is not None and weaver.tags == {"case": case}
    finally:
        delete_tagged(rel_server, case)


@pytest.mark.parametrize("status", [502, 504])
def test_create_after_an_ambiguous_gateway_error_is_retried_once(loom, faults, rel_server, status):
    case = unique()
    faults.add("status", "POST", CREATE, status=status, body={"error": "upstream_error",
                                                              "message": "gateway"})
    try:
        weaver = _create(loom, case)
        assert faults.count("POST", CREATE) == 2
        assert [w["id"] for w in weavers_tagged(rel_server, "", case)] == [weaver.id]
    finally:
        delete_tagged(rel_server, case)


def test_create_refused_with_503_is_one_error_and_creates_nothing(loom, faults, rel_server):
    case = unique()
    faults.add("status", "POST", CREATE, status=503, body={"error": "service_unavailable",
                                                           "message": "provisioner down"})
    with pytest.raises(ServiceUnavailableError) as info:
        _create(loom, case)
    assert "503" in one_line(info.value) and "provisioner down" in str(info.value)
    assert weavers_tagged(rel_server, "", case) == []
    try:
        assert _create(loom, case).tags == {"case": case}  # recovered
        assert len(weavers_tagged(rel_server, "", case)) == 1
    finally:
        delete_tagged(rel_server, case)


# -- idempotent requests: bursts, rate limits, resets, truncation, pauses, delays ----------------

@pytest.mark.parametrize("status", [502, 503, 504])
def test_short_gateway_burst_is_retried_away(loom, faults, status):
    faults.add("status", "GET", WEAVERS, times=2, status=status,
               body={"error": "upstream_error", "message": "burst"})
    assert isinstance(loom.weavers.list(), list)
    assert faults.count("GET", WEAVERS) == 3


@pytest.mark.parametrize("status", [502, 503, 504])
def test_long_gateway_burst_is_one_error_then_recovery(loom, faults, status):
    faults.add("status", "GET", WEAVERS, times=3, status=status,
               body={"error": "upstream_error", "message": "still down"})
    with pytest.raises(ServerError) as info:
        loom.weavers.list()
    assert info.value.status_code == status
    assert f"HTTP {status}" in one_line(info.value) and "still down" in str(info.value)
    assert isinstance(loom.weavers.list(), list)


def test_503_rate_limit_with_retry_hint_in_the_message_is_waited_out(loom, faults):
    faults.add("status", "GET", WEAVERS, status=503, body={
        "error": "service_unavailable", "message": "rate limited; retry after 1 seconds"})
    started = time.monotonic()
    assert isinstance(loom.weavers.list(), list)
    assert time.monotonic() - started >= 0.95
    assert faults.count("GET", WEAVERS) == 2


def test_429_with_retry_after_header_is_waited_out(loom, faults):
    faults.add("status", "GET", WEAVERS, status=429, headers={"Retry-After": "1"},
               body={"error": "too_many_requests", "message": "slow down"})
    started = time.monotonic()
    assert isinstance(loom.weavers.list(), list)
    assert time.monotonic() - started >= 0.95


def test_429_asking_for_a_long_wait_is_reported_not_awaited(loom, faults):
    faults.add("status", "GET", WEAVERS, status=429, headers={"Retry-After": "120"},
               body={"error": "too_many_requests", "message": "slow down"})
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        loom.weavers.list()
    assert time.monotonic() - started < 5 and info.value.retry_after == 120
    assert "HTTP 429" in one_line(info.value)
    assert isinstance(loom.weavers.list(), list)


@pytest.mark.parametrize("action", ["reset_after", "drop_after", "truncate"])
def test_broken_answer_to_a_get_is_retried(loom, faults, action):
    faults.add(action, "GET", WEAVERS, n=40)
    assert isinstance(loom.weavers.list(), list)
    assert faults.count("GET", WEAVERS) == 2


def test_connection_that_keeps_breaking_is_one_clear_error(loom, faults):
    faults.add("reset_after", "GET", WEAVERS, times=3, n=0)
    with pytest.raises(APIConnectionError) as info:
        loom.weavers.list()
    assert "lost the connection to Loom at" in one_line(info.value)
    assert faults.url in str(info.value)
    assert isinstance(loom.weavers.list(), list)


def test_paused_network_times_out_clearly_and_recovers(faults, rel_key):
    with Loom(url=faults.url, api_key=rel_key, timeout=0.5, max_retries=1) as loom:
        faults.pause()
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as info:
            loom.weavers.list()
        assert time.monotonic() - started < 5
        assert "timed out" in one_line(info.value)
        faults.resume()
        assert isinstance(loom.weavers.list(), list)


def test_slow_network_still_works(loom, faults):
    faults.add("delay", "GET", WEAVERS, seconds=0.3)
    faults.add("pause", "GET", WEAVERS, seconds=0.5)
    started = time.monotonic()
    assert isinstance(loom.weavers.list(), list)
    assert isinstance(loom.weavers.list(), list)
    assert time.monotonic() - started >= 0.75


def test_unreachable_loom_is_one_clear_error(rel_key):
    with Loom(url="http://127.0.0.1:9", api_key=rel_key, timeout=2, max_retries=0) as loom:
        with pytest.raises(APIConnectionError) as info:
            loom.weavers.list()
    assert "could not connect to Loom at http://127.0.0.1:9" in one_line(info.value)
    assert info.value.request_sent is False


def test_direct_server_untouched_by_faults(rel_server: LocalLoom, rel_key):
    """Positive control: the same calls without the proxy just work (the proxy adds the faults)."""
    with Loom(url=rel_server.url, api_key=rel_key) as loom:
        assert isinstance(loom.weavers.list(), list)
