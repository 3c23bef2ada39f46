"""Every error body shape of loom-api.md §2/§10.3 becomes one typed, one-sentence error."""
from __future__ import annotations

import pytest

from loom_jupyter.client import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseValidationError,
    ServerError,
    ServiceUnavailableError,
)
from tests.client.variant_app import KEY


@pytest.mark.parametrize(
    ("scenario", "cls", "status", "code", "text"),
    [
        ("shape-flat", NotFoundError, 404, "weaver_not_found", "Weaver not found: abc"),
        ("shape-nested", NotFoundError, 404, "weaver_not_found", "Weaver not found: abc"),
        ("shape-code", PermissionDeniedError, 403, "forbidden", "Support access not granted"),
        ("shape-status", ServerError, 501, "not_implemented", "Login is not implemented"),
        ("shape-text", BadRequestError, 422, None, "missing field `tools`"),
        ("shape-html", ServerError, 500, None, "HTML page"),
        ("shape-empty", ServerError, 500, None, "HTTP 500"),
        ("shape-401", AuthenticationError, 401, "unauthorized", "Authentication required"),
    ],
)
def test_error_shapes(variant, scenario, cls, status, code, text):
    client = variant(scenario, max_retries=0)
    with pytest.raises(cls) as info:
        client.weavers.get("abc")
    err = info.value
    assert type(err) is cls
    assert (err.status_code, err.code) == (status, code)
    assert text in str(err)
    assert "\n" not in str(err) and str(err).endswith(".")
    assert str(err).startswith("GET /api/weaver/abc failed with HTTP")


def test_html_200_means_route_not_served(variant):
    with pytest.raises(NotFoundError, match="is this URL a Loom server"):
        variant("spa").weavers.list()


def test_html_200_on_a_stream_route(variant):
    with pytest.raises(NotFoundError, match="not served"):
        list(variant("spa").weavers.logs("w1", follow=False))


def test_rate_limit_503_parses_retry_after_from_the_message(variant):
    client = variant("rl503")
    with pytest.raises(RateLimitError) as info:
        client.llm.complete("anthropic", "m", [{"role": "user", "content": "hi"}])
    assert info.value.retry_after == 30.0
    assert info.value.status_code == 503


def test_rate_limit_503_on_get_is_not_awaited_when_the_hint_is_long(variants, variant):
    before = len(variants.requests("rl503"))
    with pytest.raises(RateLimitError):
        variant("rl503").weavers.list()
    assert len(variants.requests("rl503")) - before == 1  # 30 s > max_retry_after: report, don't wait


def test_rate_limit_429_prefers_the_header(variant):
    with pytest.raises(RateLimitError) as info:
        variant("rl429", max_retries=0).weavers.list()
    assert info.value.retry_after == 7.0


def test_rate_limit_429_body_field(variant):
    with pytest.raises(RateLimitError) as info:
        variant("rl429-body", max_retries=0).weavers.list()
    assert info.value.retry_after == 12.0


def test_plain_503_is_service_unavailable_not_rate_limit(variant):
    with pytest.raises(ServiceUnavailableError) as info:
        variant("unavailable").llm.complete("anthropic", "m", [{"role": "user", "content": "x"}])
    assert not isinstance(info.value, RateLimitError)
    assert "not configured" in str(info.value)


def test_idempotent_get_retries_transient_503(variants, variant):
    weavers = variant("flaky").weavers.list()
    assert [w.pod_name for w in weavers] == ["weaver-1"]
    assert len(variants.requests("flaky")) == 3


def test_invalid_success_body_raises_response_validation_error(variant):
    with pytest.raises(ResponseValidationError) as info:
        variant("badshape").weavers.list()
    assert '"id": "x"' in info.value.body or '"id":"x"' in info.value.body
    assert "created_at" in str(info.value)


def test_server_echoing_the_key_is_scrubbed(variant):
    with pytest.raises(APIStatusError) as info:
        variant("shape-echo").weavers.get("abc")
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.body)
    assert "[redacted]" in str(info.value)
