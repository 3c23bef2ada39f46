"""One tag rule and one status vocabulary: the SDK filter, `%loom --tag` and the dashboard's tag
box give the same answer for every input of the table, against a real local Loom server."""
from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

import pytest

from loom_jupyter.client import Loom, LoomValidationError
from loom_jupyter.client.models import weavers as vocabulary
from loom_jupyter.client.models.tags import parse_tag_filter, parse_tag_filters, tag_filter_pair
from loom_jupyter.local import weavers as local_weavers
from loom_jupyter.widgets._weaver_table import STATUS_COLOURS
from loom_jupyter.widgets.dashboard import WeaverDashboard
from tests.fixtures.loom_server import LocalLoom
from tests.magics.conftest import magics, run, shell  # noqa: F401 - fixtures

SHAPE = "must look like KEY:VALUE, a key:value pair such as team:ds"
GOOD = [
    ("team:ds", ("team", "ds")),
    ("  team : ds ", ("team", "ds")),  # spaces around key and value are not part of them
    ("url:http://x:1", ("url", "http://x:1")),  # split at the first ':' only
    ("k8s.io/app:web", ("k8s.io/app", "web")),
    ("note:two words", ("note", "two words")),
    ("team:nobody", ("team", "nobody")),  # valid, and matches no weaver
]
BAD = [
    ("nocolon", f"tag 'nocolon' {SHAPE}"),
    ("team=ds", f"tag 'team=ds' {SHAPE}"),
    ("team:", f"tag 'team:' {SHAPE}"),  # no "key only" filter
    (":ds", f"tag ':ds' {SHAPE}"),
    ("bad key:v", "tag key 'bad key' must be letters, digits, '.', '_', '-' or '/' "
                  "(starting and ending with a letter or digit)"),
    ("-team:ds", "tag key '-team' must be letters, digits, '.', '_', '-' or '/' "
                 "(starting and ending with a letter or digit)"),
]
TAGS = {"team": "ds", "url": "http://x:1", "k8s.io/app": "web", "note": "two words"}


@pytest.mark.parametrize(("text", "pair"), GOOD, ids=[t for t, _ in GOOD])
def test_good_filters_parse(text, pair):
    assert parse_tag_filter(text) == pair
    assert parse_tag_filters(f"{text}, other:x") == {pair[0]: pair[1], "other": "x"}
    assert tag_filter_pair(*pair) == pair


@pytest.mark.parametrize(("text", "message"), BAD, ids=[t for t, _ in BAD])
def test_bad_filters_are_one_clear_line(text, message):
    with pytest.raises(ValueError) as caught:
        parse_tag_filter(text)
    assert str(caught.value) == message


def test_dict_filters_follow_the_same_rule():
    assert tag_filter_pair("team", 3) == ("team", "3")
    for key, value in [("bad key", "v"), ("team", ""), ("team", True), ("team", "a\nb")]:
        with pytest.raises(ValueError):
            tag_filter_pair(key, value)


def test_one_status_vocabulary_and_its_groupings():
    known = set(vocabulary.KNOWN_STATUSES)
    assert vocabulary.ACTIVE_STATUSES | vocabulary.FINAL_STATUSES | {vocabulary.TERMINATING} == known
    assert vocabulary.ACTIVE_STATUSES | {vocabulary.TERMINATING} == vocabulary.LIVE_STATUSES
    assert not vocabulary.ACTIVE_STATUSES & vocabulary.FINAL_STATUSES
    assert set(STATUS_COLOURS) == known  # the dashboard has a colour (and a filter) for each
    # local/ keeps its own copy on purpose (a check on the client): the two must agree
    assert local_weavers.STATUSES == vocabulary.KNOWN_STATUSES
    assert set(local_weavers.ACTIVE) == vocabulary.ACTIVE_STATUSES
    assert set(local_weavers.LIVE) == vocabulary.LIVE_STATUSES


# -- the three entry points, against real weavers ---------------------------------------------------

@pytest.fixture(scope="module")
def client(loom_server: LocalLoom, user_key: str) -> Iterator[Loom]:
    with Loom(url=loom_server.url, api_key=user_key, timeout=30) as loom:
        yield loom


@pytest.fixture(scope="module")
def tagged(client: Loom) -> Iterator[dict[str, str]]:
    """Two weavers: one with every tag of the table, one with `team:other`; name -> id."""
    made = {name: client.weavers.create("python:3.12", tags=tags, lifetime_hours=1,
                                        command=["sleep", "120"]).id
            for name, tags in (("all", TAGS), ("other", {"team": "other"}))}
    yield made
    for weaver_id in made.values():
        client.weavers.delete(weaver_id)


@pytest.fixture(scope="module")
def dashboard(client: Loom, tagged: dict[str, str]) -> Iterator[WeaverDashboard]:
    dash = WeaverDashboard(client, autostart=False, page_size=500)
    dash.refresh()
    yield dash
    dash.close()


@pytest.fixture
def connected(shell: Any, magics: Any, loom_server: LocalLoom, user_key: str,  # noqa: F811
              monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("TAGS_TEST_KEY", user_key)
    assert run(shell, f"%loom connect {loom_server.url} --api-key-env TAGS_TEST_KEY").error is None
    return shell


def _sdk(client: Loom, text: str) -> set[str] | str:
    try:
        return {w.id for w in client.weavers.list(tags=text)}
    except LoomValidationError as exc:
        return str(exc)


def _magic(ip: Any, text: str) -> set[str] | str:
    ran = run(ip, f"found = %loom weavers --tag={shlex.quote(text)}")
    if ran.error is not None:
        return ran.usage_error()
    return {w.id for w in ip.user_ns["found"]}


def _widget(dashboard: WeaverDashboard, text: str) -> set[str] | str:
    dashboard.tag_filter.value = ""
    dashboard.tag_filter.value = text
    shown = {weaver_id for _label, weaver_id in dashboard.selector.options}
    return dashboard.message if dashboard.message.startswith("Invalid") else shown


@pytest.mark.parametrize(("text", "pair"), GOOD, ids=[t for t, _ in GOOD])
def test_every_entry_point_selects_the_same_weavers(client, tagged, dashboard, connected,
                                                    text, pair):
    expected = {tagged["all"]} if TAGS.get(pair[0]) == pair[1] else set()
    mine = set(tagged.values())
    assert _sdk(client, text) & mine == expected
    assert _magic(connected, text) & mine == expected  # type: ignore[operator]
    assert _widget(dashboard, text) & mine == expected  # type: ignore[operator]


@pytest.mark.parametrize(("text", "message"), BAD, ids=[t for t, _ in BAD])
def test_every_entry_point_refuses_the_same_way(client, tagged, dashboard, connected,
                                                text, message):
    assert _sdk(client, text) == f"Invalid tags: {message}"
    assert _magic(connected, text) == (f"%loom weavers: argument --tag: {message} "
                                       "(see %loom weavers --help).")
    assert _widget(dashboard, text) == f"Invalid tags: {message}"
    # an invalid box filters nothing while it is being typed, and the complaint goes once fixed
    assert set(tagged.values()) <= {i for _l, i in dashboard.selector.options}
    dashboard.tag_filter.value = "team:other"
    assert dashboard.message == ""


def test_a_status_nobody_has_and_loom_does_not_know_is_a_typo(client, tagged, connected):
    ran = run(connected, "%loom weavers --status runing")
    assert "unknown --status 'runing'" in ran.usage_error()
    assert run(connected, "%loom weavers --status terminating").error is None
