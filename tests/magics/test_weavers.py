"""Weaver magics against the local Loom: create (with --count/--wait), list, get, logs, delete,
cleanup, attach, dashboard, threads; interrupts and bad input end in one line, never a traceback."""
from __future__ import annotations

import uuid

import pytest

from loom_jupyter.client import Loom, LoomError, Thread
from tests.fixtures.wait import wait_until

from IPython.utils.capture import capture_output

from .conftest import run

SLEEP = "-- sleep 60"


def _tagged(client: Loom, tag: str) -> list:
    return [w for w in client.weavers.list(tags={"suite": tag}) if w.status != "terminating"]


def test_create_with_options_returns_the_weaver(ip, client, user_key):
    ran = run(ip, "w = %loom create python:3.12 --tag suite:one --env GREETING=hi --memory 256Mi "
                  "--cpu 1 --lifetime 2 --wait -- sh -c 'echo $GREETING; sleep 60'")
    assert ran.error is None, ran.all_text()
    weaver = ip.user_ns["w"]
    assert weaver.status == "running" and weaver.tags == {"suite": "one"}
    assert weaver.lifetime_hours == 2 and weaver.image == "python:3.12"
    assert [line.text for line in client.weavers.logs(weaver.id, follow=False)] == ["hi"]
    assert user_key not in ran.all_text()


def test_count_launches_in_parallel_with_distinct_replica_tags(ip, client):
    ran = run(ip, f"ws = %loom create python:3.12 --tag suite:sweep --count 3 --wait {SLEEP}")
    assert ran.error is None, ran.all_text()
    made = ip.user_ns["ws"]
    assert sorted(w.tags["replica"] for w in made) == ["0", "1", "2"]
    assert {w.id for w in _tagged(client, "sweep")} == {w.id for w in made}
    assert all(w.status == "running" for w in made)


def test_weavers_table_filters_and_stores_a_dataframe(ip, client):
    run(ip, f"%loom create python:3.12 --tag suite:table {SLEEP}")
    run(ip, "%loom create python:3.12 --tag suite:table -- true")
    wait_until(lambda: sorted(w.status for w in client.weavers.list(tags={"suite": "table"})), 30,
               "one weaver running, the other finished",
               until=lambda statuses: statuses == ["running", "succeeded"])
    ran = run(ip, "%loom weavers --tag suite:table --status running -o df --dataframe")
    assert ran.error is None, ran.all_text()
    df = ip.user_ns["df"]
    assert list(df["status"]) == ["running"] and "suite" in str(df["tags"][0])
    shown = run(ip, "%loom weavers --tag suite:table")
    bundle, _ = ip.display_formatter.format(shown.value)  # what a notebook front end receives
    assert "<table" in bundle["text/html"] and "succeeded" in bundle["text/html"]
    assert "succeeded" in bundle["text/plain"]


def test_get_shows_one_weaver_and_unknown_id_is_one_line(ip, client):
    weaver = client.weavers.create("python:3.12", command=["sleep", "60"], tags={"suite": "get"})
    ran = run(ip, f"%loom get {weaver.id}")
    assert ran.error is None and weaver.id in ran.all_text() and "running" in ran.all_text()
    missing = run(ip, "%loom get 018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a").usage_error()
    assert "not found" in missing.lower()


def test_logs_once_and_follow_until_the_weaver_ends(ip, client):
    weaver = client.weavers.create("python:3.12", tags={"suite": "logs"},
                                   command=["sh", "-c", "for i in 1 2 3; do echo l-$i; sleep 0.2; done"])
    follow = run(ip, f"%loom logs {weaver.id} --follow")
    assert follow.error is None
    text = follow.all_text()
    assert "l-1" in text and "l-3" in text and "log ended" in text and "3 lines received" in text
    once = run(ip, f"%loom logs {weaver.id} --tail 1")
    assert "l-3" in once.all_text() and "l-2" not in once.all_text()
    stamped = run(ip, f"%loom logs {weaver.id} --tail 1 --timestamps").all_text()
    assert "Z l-3" in stamped


def test_follow_stops_cleanly_on_interrupt(ip, magics, client):
    weaver = client.weavers.create("python:3.12", tags={"suite": "interrupt"},
                                   command=["sh", "-c", "i=0; while true; do i=$((i+1)); echo t-$i; sleep 0.02; done"])
    seen = []

    def interrupt_after_five(line):
        seen.append(line)
        if len(seen) == 5:
            raise KeyboardInterrupt

    magics.hooks["log_line"] = interrupt_after_five
    ran = run(ip, f"%loom logs {weaver.id} -f")
    assert ran.error is None  # the stop button ends following, it is not an error
    assert "stopped following (interrupted)" in ran.all_text() and "Traceback" not in ran.all_text()
    assert len(seen) == 5


def test_delete_asks_before_deleting_many_and_deletes_by_tag(ip, client, monkeypatch):
    for _ in range(2):
        client.weavers.create("python:3.12", command=["sleep", "60"], tags={"suite": "doomed"})
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    kept = run(ip, "%loom delete --tag suite:doomed")
    assert "Nothing deleted." in kept.all_text() and len(_tagged(client, "doomed")) == 2
    gone = run(ip, "%loom delete --tag suite:doomed --yes")
    assert "Deleted 2 weavers" in gone.all_text()
    assert all(w.status == "terminating" for w in client.weavers.list(tags={"suite": "doomed"}))


def test_delete_by_tag_skips_weavers_already_terminating(ip, client):
    stubborn = ["sh", "-c", "trap '' HUP TERM; sleep 60"]  # stays `terminating` for the grace
    client.weavers.create("python:3.12", command=stubborn, tags={"suite": "stubborn"})
    assert "Deleted 1 weaver" in run(ip, "%loom delete --tag suite:stubborn").all_text()
    assert [w.status for w in client.weavers.list(tags={"suite": "stubborn"})] == ["terminating"]
    again = run(ip, "%loom delete --tag suite:stubborn")
    assert "No weavers match; nothing deleted." in again.all_text()


def test_follow_renders_only_when_the_area_is_redrawn():
    from loom_jupyter.magics._follow import LogFollower

    follower = LogFollower(iter([f"line {i}" for i in range(5000)]), hz=4, keep=100)
    renders = []
    real = follower._render
    follower._render = lambda footer: renders.append(footer) or real(footer)
    with capture_output():
        assert follower.run() == "ended"
    assert follower.received == 5000
    assert len(renders) < 50  # a few redraws, not one render per line


def test_cleanup_needs_an_admin_and_dry_run_lists(ip, loom_server, monkeypatch):
    refused = run(ip, "%loom cleanup --dry-run").usage_error()
    assert "admin" in refused.lower()
    monkeypatch.setenv("LOOM_API_KEY", loom_server.admin_key)
    ip.magics_manager.registry["LoomMagics"].close()  # reconnect with the admin key
    ran = run(ip, "%loom cleanup --dry-run")
    assert ran.error is None and "Would delete" in ran.all_text()
    assert loom_server.admin_key not in ran.all_text()


def test_attach_and_dashboard_return_widgets(ip, client):
    weaver = client.weavers.create("python:3.12", command=["sh", "-i"], tags={"suite": "widgets"})
    term = run(ip, f"t = %loom attach {weaver.id}")
    assert term.error is None, term.all_text()
    assert type(ip.user_ns["t"]).__name__ == "Terminal"
    ip.user_ns["t"].close()
    board = run(ip, "d = %loom dashboard")
    assert board.error is None and type(ip.user_ns["d"]).__name__ == "WeaverDashboard"
    ip.user_ns["d"].close()


def test_threads_and_thread(ip, client):
    thread_id = f"T-{uuid.uuid4()}"
    stamp = "2025-01-01T00:00:00+00:00"
    client.threads.put(Thread.model_validate({
        "id": thread_id, "version": 1, "created_at": stamp, "updated_at": stamp,
        "last_activity_at": stamp, "metadata": {"title": "magic listing probe"},
        "conversation": {"messages": [{"role": "user", "content": "hello from a test"},
                                      {"role": "assistant", "content": "hello back"}]}}))
    listed = run(ip, "%loom threads --search 'listing probe'")
    assert listed.error is None and thread_id in listed.all_text()
    shown = run(ip, f"%loom thread {thread_id} --last 1")
    assert "hello back" in shown.all_text() and "hello from a test" not in shown.all_text()


@pytest.mark.parametrize("line", [
    "%loom create python:3.12 --lifetime 49",
    "%loom create python:3.12 --lifetime 0",
    "%loom create python:3.12 --tag nocolon",
    "%loom create python:3.12 --memory lots",
    "%loom create python:3.12 --env 1BAD=x",
    "%loom create python:3.12 --count 0",
    "%loom logs",
    "%loom logs 018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a --tail -3",
    "%loom delete",
    "%loom weavers --tag",
])
def test_bad_input_is_one_line_and_creates_nothing(ip, client, line):
    before = {w.id for w in client.weavers.list()}
    message = run(ip, line).usage_error()
    assert message
    assert {w.id for w in client.weavers.list()} == before


def test_why_a_weaver_failed_is_shown_everywhere(ip, client):
    """Issue 19: the server says `exit code 3`; the SDK, the magics and wait() all say it too."""
    created = client.weavers.create("python:3.12", command=["sh", "-c", "exit 3"],
                                    tags={"suite": "reasons"})
    weaver = wait_until(lambda: client.weavers.get(created.id), 20, "the weaver to fail",
                        until=lambda w: w.status == "failed")
    assert (weaver.reason, weaver.exit_code, weaver.status_text) == (
        "exit code 3", 3, "failed (exit code 3)")
    with pytest.raises(LoomError, match=r"is failed \(exit code 3\), so it will never be running"):
        client.weavers.wait(created.id, "running", timeout=5)
    listed = run(ip, "%loom weavers --tag suite:reasons")
    assert "reason" in listed.all_text() and "exit code 3" in listed.all_text()
    got = run(ip, f"%loom get {created.id}")
    assert "exit code 3" in got.all_text()
