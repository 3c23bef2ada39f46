"""Weaver variants (§10.8, §10.11, §10.12, §4.3) and faults: dropped log streams, ambiguous creates."""
from __future__ import annotations

from datetime import datetime, timezone
from urllib.parse import parse_qs

import pytest

from loom_jupyter.client import REQUEST_ID_TAG, LoomValidationError, NotFoundError
from tests.client.variant_app import log_lines


def _texts(lines):
    return [line.text for line in lines]


def test_logs_non_aligned_chunks_keepalives_crlf(variant):
    lines = list(variant("logs").weavers.logs("w1"))
    expected = [raw.split(" ", 1)[1] for raw in log_lines(12)] + ["no newline at end"]
    assert _texts(lines) == expected
    assert lines[0].timestamp == datetime(2025, 1, 15, 12, 0, 0, 123450, tzinfo=timezone.utc)
    assert lines[-1].timestamp is None


def test_logs_keep_timestamps_when_asked(variant):
    lines = list(variant("logs").weavers.logs("w1", timestamps=True, follow=False))
    assert _texts(lines)[:12] == log_lines(12)


def test_logs_always_request_timestamps_and_pass_tail(variants, variant):
    list(variant("logs").weavers.logs("w1", tail=5, follow=False))
    query = [r[3] for r in variants.requests("logs") if r[2].endswith("/logs")][-1]
    assert "tail=5" in query and "timestamps=true" in query and "follow=false" in query


def test_dropped_log_stream_resumes_without_loss_or_repeats(variants, variant):
    lines = list(variant("logdrop").weavers.logs("w1"))
    assert _texts(lines) == [raw.split(" ", 1)[1] for raw in log_lines(40)]
    log_requests = [r for r in variants.requests("logdrop") if r[2].endswith("/logs")]
    tails = [parse_qs(r[3]).get("tail", [None])[0] for r in log_requests]
    # The first asks for the whole log; each resume asks only for about what it missed.
    assert tails[0] == "1000000" and len(tails) >= 3 and all(int(t) < 40 for t in tails[1:])


def test_a_replay_that_begins_inside_a_burst_of_equal_timestamps_loses_nothing(variants, variant):
    """Counting the cursor's `same` lines as old is only right when the replay began before the
    burst: one that begins on the cursor's timestamp is widened until it shows an older line."""
    from tests.client.variant_scenarios import group_lines

    lines = list(variant("loggroup").weavers.logs("w1"))
    total = variants.state["loggroup:total"][0]
    assert 21 < total <= 27  # the second replay began inside the burst, with lines after it
    assert _texts(lines) == [raw.split(" ", 1)[1] for raw in group_lines()[:total]]
    log_requests = [r for r in variants.requests("loggroup") if r[2].endswith("/logs")]
    assert len(log_requests) >= 3  # the first, the replay inside the burst, then a wider one


async def test_dropped_log_stream_resumes_async(variants, avariant):
    async with avariant("logdrop-async") as client:
        lines = [line async for line in client.weavers.logs("w1")]
    assert _texts(lines) == [raw.split(" ", 1)[1] for raw in log_lines(40)]
    assert len([r for r in variants.requests("logdrop-async") if r[2].endswith("/logs")]) >= 3


def test_ambiguous_create_does_not_duplicate(variants, variant):
    client = variant("ambig-created")
    weaver = client.weavers.create("python:3.12", tags={"project": "demo"})
    made = variants.state["ambig-created:weavers"]
    assert len(made) == 1
    assert weaver.id == made[0]["id"]
    assert weaver.request_id == made[0]["tags"][REQUEST_ID_TAG]
    assert weaver.tags == {"project": "demo"}  # the bookkeeping tag is not the user's
    posts = [r for r in variants.requests("ambig-created") if r[1] == "POST"]
    assert len(posts) == 1  # found by its request-id tag, so never re-sent


def test_ambiguous_create_that_did_not_happen_is_retried_once(variants, variant):
    weaver = variant("ambig-lost").weavers.create("python:3.12", "org-1")
    made = variants.state["ambig-lost:weavers"]
    assert [w["id"] for w in made] == [weaver.id]
    lookups = [r for r in variants.requests("ambig-lost") if r[2] == "api/weavers"]
    assert lookups and REQUEST_ID_TAG in lookups[0][3]


def test_tag_filter_rejected_falls_back_to_local_filtering(variants, variant):
    found = variant("tag400").weavers.list(tags={"project": "a"})
    assert [w.pod_name for w in found] == ["weaver-1", "weaver-3"]
    found = variant("tag400").weavers.list(tags=["project:a", "team:t"])
    assert [w.pod_name for w in found] == ["weaver-3"]


@pytest.mark.parametrize(
    ("scenario", "dry_run", "ids", "count"),
    [("cleanup-omitted", True, ["a"], 1), ("cleanup-null", False, ["a", "b"], 2),
     ("cleanup-spec", False, ["a", "b"], 2)],
)
def test_cleanup_shapes(variant, scenario, dry_run, ids, count):
    result = variant(scenario).weavers.cleanup(dry_run=dry_run)
    assert (result.dry_run, result.ids, result.count) == (dry_run, ids, count)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"lifetime_hours": 0}, "lifetime_hours"),
        ({"lifetime_hours": 49}, "lifetime_hours"),
        ({"lifetime_hours": 2.5}, "lifetime_hours"),
        ({"resources": {"memory": "8GB"}}, "resources.memory"),
        ({"resources": {"cpu": "-1"}}, "resources.cpu"),
        ({"resources": {"gpu": "1"}}, "resources"),
        ({"env": {"1BAD": "x"}}, "env"),
        ({"env": {"A-B": "x"}}, "env"),
        ({"tags": {"": "x"}}, "tags"),
        ({"tags": {"k": "a\nb"}}, "tags"),
    ],
)
def test_create_validates_before_the_network(variants, variant, kwargs, field):
    before = len(variants.state["requests"])
    with pytest.raises(LoomValidationError) as info:
        variant("ambig-lost").weavers.create("python:3.12", "org-1", **kwargs)
    assert info.value.field == field and isinstance(info.value, ValueError)
    assert field.split(".")[0] in str(info.value)
    assert len(variants.state["requests"]) == before


@pytest.mark.parametrize("good", ["8Gi", "512Mi", "1.5", "500m", "1e3", "2", "0.5Gi", "128k"])
def test_kubernetes_quantities_accepted(good):
    from loom_jupyter.client import _validation

    assert _validation.resources({"memory": good}) == {"memory_limit": good}


def test_list_filter_syntax_is_checked(variant):
    with pytest.raises(LoomValidationError, match="key:value"):
        variant("tag400").weavers.list(tags=["nocolon"])


def test_unknown_route_on_weaver_get_is_not_found(variant):
    with pytest.raises(NotFoundError):
        variant("ambig-lost").weavers.get("nope")
