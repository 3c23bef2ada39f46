"""One vocabulary between the SDK and the magics: status filters (one or several, typos caught
with "did you mean"), tag keys in any script, memory/cpu/lifetime_hours, readable reprs."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from loom_jupyter.client import Loom, LoomValidationError
from loom_jupyter.client.models.tags import check_tag_key, parse_tag_filter
from loom_jupyter.client.models.weavers import KNOWN_STATUSES, Weaver, status_filter
from tests.fixtures.wait import wait_until


@pytest.fixture
def loom(loom_server, user_key) -> Iterator[Loom]:
    with Loom(loom_server.url, user_key) as client:
        yield client


def test_status_filter_takes_one_or_several_and_catches_typos():
    assert status_filter(None) == frozenset()
    assert status_filter("running") == {"running"}
    assert status_filter(["running", "FAILED"]) == {"running", "failed"}
    assert status_filter(("evicted",)) == {"evicted"}  # a newer Loom's status: not refused here
    for typo, meant in (("succeded", "succeeded"), ("runing", "running"), ("pendng", "pending")):
        with pytest.raises(ValueError, match=f"did you mean '{meant}'"):
            status_filter(typo)
    with pytest.raises(ValueError):
        status_filter(["running", ""])


def test_list_by_status_in_the_sdk(loom):
    done = loom.weavers.create("python:3.12", command=["true"], lifetime_hours=1,
                               tags={"vocabulary": "status"})
    wait_until(lambda: loom.weavers.get(done.id).status == "succeeded", timeout=20)
    mine = {"vocabulary": "status"}
    assert [w.id for w in loom.weavers.list(tags=mine, status="succeeded")] == [done.id]
    assert [w.id for w in loom.weavers.list(tags=mine, status=["failed", "succeeded"])] == [done.id]
    assert list(loom.weavers.list(tags=mine, status="running")) == []
    with pytest.raises(LoomValidationError, match="did you mean 'succeeded'") as info:
        loom.weavers.list(status="succeded")
    assert info.value.field == "status"
    with pytest.raises(LoomValidationError, match="unknown status 'zzz'"):
        loom.weavers.list(status="zzz")  # nobody has it and Loom does not know it


@pytest.mark.parametrize("key", ["équipe", "日本語", "χ.ρ/ω-1", "straße", "e\u0301quipe", "a_b"])
def test_tag_keys_of_any_script(key):
    assert check_tag_key(key) == key
    assert parse_tag_filter(f"{key}:v") == (key, "v")


@pytest.mark.parametrize("key", ["_x", "x-", "a b", "a\u00a0b", "", "a:b", "k\x07"])
def test_tag_keys_still_refused(key):
    with pytest.raises(ValueError):
        check_tag_key(key)


def test_unicode_tags_round_trip_through_the_local_server(loom):
    weaver = loom.weavers.create("python:3.12", command=["true"], lifetime_hours=1,
                                 tags={"équipe": "données"})
    assert loom.weavers.get(weaver.id).tags == {"équipe": "données"}
    assert [w.id for w in loom.weavers.list(tags="équipe:données")] == [weaver.id]


def test_memory_cpu_keywords_and_the_older_resources_dict(loom):
    a = loom.weavers.create("python:3.12", command=["true"], memory="128Mi", cpu="1", lifetime_hours=1)
    b = loom.weavers.create("python:3.12", command=["true"], lifetime_hours=1,
                            resources={"memory_limit": "128Mi"})
    assert a.id and b.id
    with pytest.raises(LoomValidationError, match="quantity"):
        loom.weavers.create("python:3.12", memory="lots")
    with pytest.raises(LoomValidationError) as info:
        loom.weavers.create("python:3.12", cpu="1", resources={"cpu": "2"})
    assert info.value.field == "cpu"


def test_weaver_repr_is_readable():
    weaver = Weaver.model_validate({"id": "w1", "status": "failed", "reason": "exit code 3",
                                    "created_at": "2025-01-15T12:34:56.123Z", "tags": {"a": "b"}})
    text = repr(weaver)
    assert text.startswith("Weaver(id='w1', ") and "created_at=2025-01-15T12:34:56.123Z" in text
    assert "datetime" not in text and "TzInfo" not in text and "reason='exit code 3'" in text
    assert str(weaver) == text
    assert set(KNOWN_STATUSES) >= {"running", "succeeded"}
