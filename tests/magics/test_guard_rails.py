"""Bulk work asks first, stops at the server's limit and prints a bounded amount (issue 19):
`%loom create --count`, `%loom delete --tag`, `%loom cleanup`, and `%loom attach` checks first."""
from __future__ import annotations

import time

from IPython.core.error import StdinNotImplementedError

from loom_jupyter.client import Loom
from tests.fixtures.wait import wait_until

from .conftest import run

SLEEP = "-- sleep 60"
MISSING = "018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a"


def _no_stdin(prompt: str = "") -> str:
    """What `input()` does in a notebook front end that has no stdin."""
    raise StdinNotImplementedError("raw_input was called, but this frontend does not support input requests.")


def _active(client: Loom, suite: str | None = None) -> list:
    tags = {"suite": suite} if suite else None
    return [w for w in client.weavers.list(tags=tags) if w.status in ("pending", "running")]


def test_a_large_count_without_yes_creates_nothing_and_says_add_yes(ip, client, magics, monkeypatch):
    monkeypatch.setattr("builtins.input", _no_stdin)
    started = time.monotonic()
    line = run(ip, f"%loom create python:3.12 --tag suite:bulk --count 1000 {SLEEP}").usage_error()
    assert time.monotonic() - started < 2
    assert "Create 1000 weavers" in line and "add --yes" in line and "confirm_count_above" in line
    assert _active(client, "bulk") == []


def test_a_large_count_asks_where_there_is_stdin_and_no_means_nothing(ip, client, monkeypatch):
    asked = []
    monkeypatch.setattr("builtins.input", lambda prompt: asked.append(prompt) or "n")
    ran = run(ip, f"%loom create python:3.12 --tag suite:asked --count 21 {SLEEP}")
    assert ran.error is None and "Nothing created." in ran.all_text()
    assert asked == ["Create 21 weavers (more than the 20 of LoomMagics.confirm_count_above)? [y/N] "]
    assert _active(client, "asked") == []


def test_the_limit_is_a_setting(ip, client, magics, monkeypatch):
    monkeypatch.setattr("builtins.input", _no_stdin)
    monkeypatch.setattr(magics, "confirm_count_above", 1)
    line = run(ip, f"%loom create python:3.12 --tag suite:limit --count 2 {SLEEP}").usage_error()
    assert "add --yes" in line and _active(client, "limit") == []


def test_with_yes_creation_stops_at_the_servers_limit_in_bounded_output(
        ip, magics, loom_server_factory, monkeypatch):
    server = loom_server_factory(extra_args=["--max-weavers", "4"])
    monkeypatch.setenv("LOOM_URL", server.url)
    monkeypatch.setenv("LOOM_API_KEY", server.make_key("user"))
    ran = run(ip, f"made = %loom create python:3.12 --count 1000 --yes {SLEEP}")
    assert ran.error is None, ran.all_text()[-2000:]
    size = sum(len(text.encode()) for text in ran.texts())
    size += sum(len(v.encode()) for v in ip.display_formatter.format(ip.user_ns["made"])[0].values())
    assert size < 20_000, size
    said = [line for line in ran.io.stdout.splitlines() if line.startswith("Created ")]
    assert len(said) == 1, ran.io.stdout
    assert said[0].startswith("Created 4 of 1000 weavers") and "allows at most 4 pending or running" in said[0]
    with Loom(server.url, server.admin_key) as admin:
        existing = {w.id for w in admin.weavers.list() if w.status in ("pending", "running")}
        assert existing == {w.id for w in ip.user_ns["made"]}  # nothing half-made beyond the report
        for weaver_id in existing:
            admin.weavers.delete(weaver_id)


def test_a_small_batch_under_the_limit_says_how_many(ip, client):
    ran = run(ip, f"made = %loom create python:3.12 --tag suite:few --count 2 {SLEEP}")
    assert ran.error is None, ran.all_text()
    assert "Created 2 of 2 weavers." in ran.io.stdout
    assert {w.id for w in ip.user_ns["made"]} == {w.id for w in _active(client, "few")}


def test_a_large_board_is_one_summary_line_and_groups_failures(ip, magics, monkeypatch, loom_server_factory):
    server = loom_server_factory(extra_args=["--max-weavers", "3"])
    monkeypatch.setenv("LOOM_URL", server.url)
    monkeypatch.setenv("LOOM_API_KEY", server.make_key("user"))
    monkeypatch.setattr(magics, "board_rows", 2)
    ran = run(ip, f"made = %loom create python:3.12 --count 40 --yes {SLEEP}")
    assert ran.error is None, ran.all_text()
    last = ran.io.outputs[-1].data["text/plain"].splitlines()  # the board, as last drawn
    assert last[0].startswith("40 weavers: 3 created") and "not created" in last[0]
    assert len(last) <= 5 and all("replica=" not in line for line in last)
    assert "(max: 3)" in "\n".join(last[1:])  # the failures, once each, with how often
    shown = ip.display_formatter.format(ip.user_ns["made"])[0]["text/plain"]
    assert len(ip.user_ns["made"]) == 3 and "… and 1 more (the list holds all 3)" in shown


def test_delete_without_stdin_says_add_yes_in_one_line(ip, client, monkeypatch):
    for _ in range(2):
        client.weavers.create("python:3.12", command=["sleep", "60"], tags={"suite": "nostdin"})
    monkeypatch.setattr("builtins.input", _no_stdin)
    line = run(ip, "%loom delete --tag suite:nostdin").usage_error()
    assert "Delete 2 weavers" in line and "add --yes to %loom delete" in line
    assert "StdinNotImplementedError" not in line and len(_active(client, "nostdin")) == 2


def test_cleanup_asks_first_and_without_stdin_says_add_yes(ip, magics, monkeypatch, loom_server_factory):
    server = loom_server_factory(extra_args=["--weaver-hour-seconds", "0.3", "--cleanup-interval", "3600"])
    with Loom(server.url, server.admin_key) as admin:
        old = admin.weavers.create("python:3.12", command=["sleep", "60"], lifetime_hours=1)
        wait_until(lambda: admin.weavers.cleanup(dry_run=True).ids, 10, "the weaver to expire")
        monkeypatch.setenv("LOOM_URL", server.url)
        monkeypatch.setenv("LOOM_API_KEY", server.admin_key)
        monkeypatch.setattr("builtins.input", _no_stdin)
        line = run(ip, "%loom cleanup").usage_error()
        assert "Delete 1 expired weavers" in line and "add --yes to %loom cleanup" in line
        assert admin.weavers.get(old.id).status == "running"
        monkeypatch.setattr("builtins.input", lambda prompt: "y")
        ran = run(ip, "%loom cleanup")
        assert ran.error is None and f"Deleted 1 expired weaver: {old.id}" in ran.io.stdout
        assert server.admin_key not in ran.all_text()


def test_attach_checks_the_weaver_first(ip, client):
    started = time.monotonic()
    missing = run(ip, f"term_missing = %loom attach {MISSING}").usage_error()
    assert "not found" in missing.lower() and "term_missing" not in ip.user_ns
    assert time.monotonic() - started < 3
    ended = client.weavers.create("python:3.12", command=["sh", "-c", "exit 3"], tags={"suite": "ended"})
    wait_until(lambda: client.weavers.get(ended.id).status, 10, "the weaver to fail",
               until=lambda status: status == "failed")
    line = run(ip, f"term_ended = %loom attach {ended.id}").usage_error()
    assert f"Weaver {ended.id} is failed" in line and "no terminal" in line
    assert "term_ended" not in ip.user_ns
