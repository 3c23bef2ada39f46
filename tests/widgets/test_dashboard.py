"""WeaverDashboard against a real local Loom server: listing, row-level refresh, create, delete, filters."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from loom_jupyter.client import Loom, Weaver
from loom_jupyter.widgets._weaver_table import WeaverTable
from loom_jupyter.widgets.dashboard import WeaverDashboard
from loom_jupyter.widgets.logs import LogView
from tests.fixtures.wait import wait_until

from ._support import assert_no_secret

IMAGE = "python:3.12"


@pytest.fixture(scope="module")
def client(loom_server, user_key):
    with Loom(url=loom_server.url, api_key=user_key, timeout=30) as loom:
        yield loom
    with Loom(url=loom_server.url, api_key=user_key, timeout=30) as loom:
        for weaver in loom.weavers.list():  # each test module leaves nothing running
            if weaver.status not in ("succeeded", "failed", "terminating"):
                loom.weavers.delete(weaver.id)


@pytest.fixture
def dashboard(client):
    dash = WeaverDashboard(client, interval=0.2, idle_interval=0.5, page_size=25)
    yield dash
    dash.close()
    assert not dash._poller.running


def sleeper(client: Loom, tags: dict[str, str], seconds: int = 120) -> Weaver:
    return client.weavers.create(IMAGE, tags=tags, lifetime_hours=1, command=["sleep", str(seconds)])


def live_ids(client: Loom) -> set[str]:
    return {v.id for v in client.weavers.list() if v.status not in ("terminating", "succeeded", "failed")}


def test_lists_outside_weaver_and_rerenders_only_the_row_that_changed(client, dashboard):
    steady = sleeper(client, {"t": "rows"})
    client.weavers.wait(steady.id, until="running", timeout=30)
    brief = client.weavers.create(IMAGE, tags={"t": "rows"}, lifetime_hours=1,
                                  command=["sh", "-c", "sleep 2"])
    wait_until(lambda: brief.id in dashboard._table.rows and steady.id in dashboard._table.rows,
               what="both weavers listed")
    wait_until(lambda: dashboard._table.weavers[steady.id].status == "running", what="steady running")
    steady_row = dashboard._table.rows[steady.id]
    wait_until(lambda: dashboard._table.weavers[brief.id].status == "succeeded", timeout=30,
               what="the brief weaver to finish")
    assert "succeeded" in dashboard._table.rows[brief.id].html
    wait_until(lambda: brief.id in dashboard.table.value and "succeeded" in dashboard.table.value)
    # the untouched row's fragment is the very same object: it was not rebuilt
    assert dashboard._table.rows[steady.id] is steady_row
    assert "rows" in dashboard.table.value and IMAGE in dashboard.table.value


def test_create_form_validation_error_creates_nothing(client, dashboard):
    before = {v.id for v in client.weavers.list()}
    form = dashboard.form
    form.image.value = ""
    form.submit_button.click()
    assert dashboard.message.startswith("Invalid image")
    form.image.value = IMAGE
    form.tags.value = "team:a, broken"
    form.submit_button.click()
    assert "Invalid tags" in dashboard.message and "broken" in dashboard.message
    form.tags.value = "team:a"
    form.env.value = "1BAD=x"
    form.submit_button.click()
    assert "Invalid env" in dashboard.message
    form.env.value = ""
    # values the client itself checks before sending: reported on the same line
    for field, value, expected in [("lifetime", 0, "Invalid lifetime_hours"),
                                   ("memory", "lots", "Invalid resources.memory")]:
        getattr(form, field).value = value
        form.submit_button.click()
        wait_until(lambda expected=expected: dashboard.message.startswith(expected)
                   and not form.submit_button.disabled,
                   timeout=10, what=expected)
        form.lifetime.value, form.memory.value = 4, ""
    assert "#c53030" in dashboard.status.value  # shown as an error line
    assert dashboard.last_created is None
    assert {v.id for v in client.weavers.list()} == before


def test_create_form_creates_and_reaches_running(client, dashboard):
    form = dashboard.form
    assert form.org.value  # defaults to the caller's only org
    form.image.value = IMAGE
    form.tags.value = "suite:create, who:form"
    form.env.value = "GREETING=hi"
    form.memory.value = "512Mi"
    form.lifetime.value = 2
    form.command.value = "sleep 120"
    form.submit_button.click()
    assert form.submit_button.disabled  # no second create while the first is on its way
    wait_until(lambda: dashboard.last_created, timeout=60, what="the create to finish")
    created = client.weavers.get(dashboard.last_created)
    assert created.status == "running"
    assert created.tags == {"suite": "create", "who": "form"}
    assert created.lifetime_hours == 2
    assert "is running" in dashboard.message
    wait_until(lambda: created.id in dashboard.table.value, what="the new row")
    wait_until(lambda: not form.submit_button.disabled, what="the form to re-enable")


def test_bulk_delete_by_tag_asks_first(client, dashboard):
    doomed = [sleeper(client, {"batch": "bulk"}).id for _ in range(3)]
    keeper = sleeper(client, {"batch": "keep"}).id
    dashboard.bulk_tag.value = "batch:bulk"
    dashboard.bulk_delete_button.click()
    assert dashboard.confirm_box.layout.display == "flex"
    assert "3 weaver" in dashboard.confirm_label.value
    dashboard.cancel_button.click()
    assert dashboard.confirm_box.layout.display == "none"
    assert set(doomed) <= live_ids(client)
    dashboard.bulk_delete_button.click()
    dashboard.confirm_button.click()
    wait_until(lambda: not set(doomed) & live_ids(client), timeout=30, what="the tagged weavers to go")
    assert keeper in live_ids(client)
    wait_until(lambda: dashboard.message == "Deleted 3 weaver(s).", what="the delete report")


def test_filters_by_tag_and_status(client, dashboard):
    a = sleeper(client, {"filter": "a"}).id
    b = sleeper(client, {"filter": "b"}).id
    wait_until(lambda: {a, b} <= set(dashboard._table.rows), what="both listed")
    dashboard.tag_filter.value = "filter:a"
    ids = {value for _label, value in dashboard.selector.options}
    assert a in ids and b not in ids
    assert dashboard.selector.value == a  # the only row is picked: Logs works without a click
    assert a[-4:] in dashboard.table.value and b not in dashboard.table.value
    dashboard.status_filter.value = "failed"
    assert dashboard.selector.options == () and dashboard.selector.value is None
    assert "no weavers" in dashboard.table.value
    dashboard.status_filter.value = ""
    dashboard.tag_filter.value = "filter"  # key only: refused by the SDK's one tag rule
    assert dashboard.message.startswith("Invalid tags:") and "KEY:VALUE" in dashboard.message
    assert {a, b} <= {value for _label, value in dashboard.selector.options}  # nothing filtered


def test_single_delete_and_logs_open_below_the_table(client, dashboard):
    target = sleeper(client, {"single": "yes"}).id
    wait_until(lambda: target in {v for _l, v in dashboard.selector.options}, what="target listed")
    dashboard.selector.value = target
    dashboard.logs_button.click()
    view = dashboard.detail.children[-1]
    assert isinstance(view, LogView) and view.weaver_id == target
    dashboard.delete_button.click()
    assert target in dashboard.confirm_label.value
    dashboard.confirm_button.click()
    wait_until(lambda: target not in live_ids(client), timeout=30, what="the weaver to go")
    dashboard.detail.children[0].children[1].click()  # the detail's close button
    assert dashboard.detail.children == ()
    wait_until(lambda: view._stop.is_set(), what="the log view to stop")


def test_no_credential_in_widget_state_or_repr(client, dashboard, user_key):
    sleeper(client, {"secret": "check"})
    dashboard.refresh()
    dashboard.open_logs(dashboard._table.select()[0].id)
    assert assert_no_secret(dashboard, user_key) > 30
    assert "weavers" in repr(dashboard) and "<table" in dashboard._repr_html_()


def _weaver(i: int, status: str = "running") -> Weaver:
    created = datetime.now(timezone.utc) - timedelta(minutes=i)
    return Weaver(id=f"00000000-0000-7000-8000-{i:012d}", status=status, created_at=created,
                  image="img", tags={"n": str(i % 5)}, lifetime_hours=4, age_hours=0.0)


def test_five_hundred_rows_rebuild_one_fragment_per_change():
    table = WeaverTable()
    weavers = [_weaver(i) for i in range(500)]
    assert len(table.update(weavers)) == 500
    rows = dict(table.rows)
    weavers[123] = _weaver(123, "failed")
    assert table.update(weavers) == {weavers[123].id}
    assert sum(table.rows[k] is not rows[k] for k in rows) == 1
    page = table.render(table.select(tags={"n": "3"})[:25])
    assert page.count("<tr data-weaver-id") == 25
    assert table.update(weavers[:-1]) == {weavers[-1].id} and len(table.rows) == 499


def test_a_failed_weaver_shows_why(client, dashboard):
    failed = client.weavers.create("python:3.12", command=["sh", "-c", "exit 7"],
                                   tags={"suite": "why"})
    wait_until(lambda: client.weavers.get(failed.id).status, 20, "the weaver to fail",
               until=lambda status: status == "failed")
    dashboard.status_filter.value = "failed"
    dashboard.refresh()
    assert "exit code 7" in dashboard.table.value
