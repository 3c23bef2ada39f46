"""LogView against real weaver processes of the local Loom server."""

from __future__ import annotations

import base64

import pytest

from loom_jupyter.client import Loom
from loom_jupyter.widgets.logs import LogView

from ._support import assert_no_secret, wait_until

IMAGE = "python:3.12"


@pytest.fixture(scope="module")
def user_key(loom_server) -> str:
    return loom_server.make_key("user", name="logs-tests")


@pytest.fixture(scope="module")
def client(loom_server, user_key):
    with Loom(url=loom_server.url, api_key=user_key, timeout=30) as loom:
        yield loom
        for weaver in loom.weavers.list():
            if weaver.status in ("pending", "running"):
                loom.weavers.delete(weaver.id)


def printing(client: Loom, script: str) -> str:
    weaver = client.weavers.create(IMAGE, lifetime_hours=1, tags={"suite": "logs"},
                                   command=["sh", "-c", script])
    return weaver.id


@pytest.fixture
def views():
    made: list[LogView] = []
    yield made
    for view in made:
        view.close()
        assert not view._throttle._thread.is_alive()


def test_shows_the_output_of_a_weaver(client, views):
    weaver_id = printing(client, "for i in $(seq 1 30); do echo line-$i; done; sleep 60")
    view = LogView(weaver_id, client=client)
    views.append(view)
    wait_until(lambda: "line-30" in view.view.value, timeout=30, what="the last line in the view")
    assert [line for line in view.lines if line.startswith("line-")] == [f"line-{i}" for i in range(1, 31)]
    assert view.received >= 30 and view.info.value.startswith("following")
    assert view.view.value.index("line-1\n") < view.view.value.index("line-30")


def test_pause_freezes_the_view_while_lines_keep_arriving(client, views):
    weaver_id = printing(client, "i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.05; done")
    view = LogView(weaver_id, client=client)
    views.append(view)
    wait_until(lambda: "tick-3" in view.view.value, timeout=30, what="first ticks")
    view.pause_button.value = True  # what a click on the toggle does
    assert view.paused and view.pause_button.description == "Resume"
    frozen, seen = view.view.value, view.received
    wait_until(lambda: view.received >= seen + 10, timeout=30, what="more lines while paused")
    assert view.view.value == frozen
    assert "paused" in view.info.value
    view.resume()
    newest = view.lines[-1]
    assert newest in view.view.value and view.view.value != frozen


def test_search_filters_and_highlights(client, views):
    weaver_id = printing(client, "for i in $(seq 1 40); do echo row-$i; done; echo ERROR disk full; sleep 60")
    view = LogView(weaver_id, client=client)
    views.append(view)
    wait_until(lambda: "disk full" in view.view.value, timeout=30, what="the error line")
    view.search.value = "row-3"
    assert view.visible_lines() == ["row-3"] + [f"row-{i}" for i in range(30, 40)]
    assert "<mark>row-3</mark>" in view.view.value and "row-29" not in view.view.value
    view.search.value = "error"  # case-insensitive
    assert view.visible_lines() == ["ERROR disk full"]
    view.search.value = ""
    assert "row-29" in view.view.value


def test_buffer_is_bounded_and_downloadable(client, views):
    weaver_id = printing(client, "for i in $(seq 1 60); do echo n-$i; done; sleep 60")
    view = LogView(weaver_id, client=client, max_lines=10)
    views.append(view)
    wait_until(lambda: "n-60" in view.view.value, timeout=30, what="the last line")
    assert view.lines == [f"n-{i}" for i in range(51, 61)]
    assert view.received >= 60
    assert "10 lines buffered (max 10)" in view.info.value
    uri = view.prepare_download()
    text = base64.b64decode(uri.split(",", 1)[1]).decode()
    assert text == "".join(f"n-{i}\n" for i in range(51, 61))
    assert "save 10 lines" in view.download_link.value and "download=" in view.download_link.value


def test_timestamps_toggle(client, views):
    weaver_id = printing(client, "echo stamped; sleep 60")
    view = LogView(weaver_id, client=client)
    views.append(view)
    wait_until(lambda: "stamped" in view.view.value, timeout=30, what="the line")
    assert view.lines == ["stamped"]
    view.timestamps.value = True
    stamped = view.lines[0]
    assert stamped.endswith(" stamped") and stamped[:4].isdigit()  # ISO date first
    assert stamped in view.view.value


def test_stream_end_is_reported_and_no_credential_leaks(client, views, user_key):
    weaver_id = printing(client, "echo bye")
    view = LogView(weaver_id, client=client)
    views.append(view)
    wait_until(lambda: view.state == "ended", timeout=30, what="the stream to end")
    wait_until(lambda: view.info.value.startswith("ended"), what="the info line")
    assert "bye" in view.view.value
    assert_no_secret(view, user_key)
    assert weaver_id in repr(view) and "bye" in view._repr_html_()
