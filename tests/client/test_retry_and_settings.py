"""Pure parts: retry decisions and backoff, settings precedence, body parsing, log cursor."""
from __future__ import annotations

import itertools

import httpx
import pytest

from loom_jupyter.client import (
    APIConnectionError,
    APIStatusError,
    Loom,
    LoomConfigError,
    RateLimitError,
    ServerError,
    resolve_settings,
)
from loom_jupyter.client._base import Call
from loom_jupyter.client._problems import build_error, retry_after
from loom_jupyter.client._retry import RetryPolicy, backoff, should_retry, wait_for
from loom_jupyter.client.resources.logs import Cursor, LineBuffer, split_timestamp

GET = Call("GET", "/api/weavers", idempotent=True)
POST = Call("POST", "/api/weaver")


def test_backoff_is_capped_exponential():
    assert list(itertools.islice(backoff(RetryPolicy(base=0.5, cap=3)), 5)) == [0.5, 1, 2, 3, 3]


@pytest.mark.parametrize(
    ("call", "exc", "expected"),
    [
        (GET, APIConnectionError("x", request_sent=True), True),
        (POST, APIConnectionError("x", request_sent=True), False),
        (POST, APIConnectionError("x", request_sent=False), True),
        (GET, ServerError("x", status_code=502), True),
        (GET, ServerError("x", status_code=500), False),
        (POST, ServerError("x", status_code=503), False),
        (GET, APIStatusError("x", status_code=404), False),
    ],
)
def test_should_retry(call, exc, expected):
    assert should_retry(call, exc) is expected


def test_wait_honours_retry_after_until_the_cap():
    policy = RetryPolicy(max_retry_after=10)
    assert wait_for(RateLimitError("x", status_code=429, retry_after=4), 0.5, policy) == 4
    assert wait_for(RateLimitError("x", status_code=429, retry_after=40), 0.5, policy) is None
    assert wait_for(ServerError("x", status_code=502), 0.5, policy) == 0.5


@pytest.mark.parametrize(
    ("message", "seconds"),
    [("LLM rate limited; retry after 30 seconds", 30), ("Rate limited: retry after Some(12) seconds", 12),
     ("try again later", None)],
)
def test_retry_after_in_message(message, seconds):
    assert retry_after(httpx.Headers(), None, message) == seconds


def test_retry_after_http_date_header():
    value = retry_after(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}), None, "")
    assert value == 0.0  # in the past


def test_503_rate_limited_code_is_rate_limit():
    err = build_error("GET", "/x", 503, httpx.Headers({"content-type": "application/json"}),
                      b'{"error":"rate_limited","message":"slow"}', [])
    assert isinstance(err, RateLimitError) and err.retry_after is None


ENV = {"LOOM_JUPYTER_PROXY_URL": "http://127.0.0.1:8888/base/loom/", "LOOM_JUPYTER_PROXY_TOKEN": "jt",
       "LOOM_URL": "http://loom.example", "LOOM_API_KEY": "lk_env"}


def test_settings_precedence():
    proxy_only = {k: v for k, v in ENV.items() if k.startswith("LOOM_JUPYTER")}
    s = resolve_settings(environ=proxy_only)
    assert (s.mode, s.url, s.auth_headers()["Authorization"]) == ("proxy", ENV["LOOM_JUPYTER_PROXY_URL"], "token jt")
    s = resolve_settings(environ=ENV)
    assert (s.mode, s.url, s.auth_headers()["Authorization"]) == ("direct", "http://loom.example", "Bearer lk_env")
    s = resolve_settings("http://other", "lk_arg", environ=ENV)
    assert (s.url, s.auth_headers()["Authorization"]) == ("http://other", "Bearer lk_arg")


def test_inherited_url_without_its_key_does_not_outrank_the_proxy():
    """A kernel of a server started with LOOM_URL + LOOM_API_KEY inherits only the URL."""
    kernel_env = {k: v for k, v in ENV.items() if k != "LOOM_API_KEY"}
    s = resolve_settings(environ=kernel_env)
    assert (s.mode, s.auth_headers()["Authorization"]) == ("proxy", "token jt")
    s = resolve_settings(environ={"LOOM_URL": "http://loom.example"})
    assert s.mode == "direct" and "Authorization" not in s.auth_headers()


def test_explicit_url_never_receives_another_hosts_key():
    s = resolve_settings("http://elsewhere", environ=ENV)
    assert "Authorization" not in s.auth_headers()
    assert resolve_settings("http://loom.example/", environ=ENV).auth_headers()["Authorization"] == "Bearer lk_env"


def test_no_url_is_a_config_error():
    with pytest.raises(LoomConfigError, match="LOOM_URL"):
        resolve_settings(environ={})


def test_proxy_paths_are_appended_to_the_proxy_base(monkeypatch):
    for k, v in ENV.items():
        if k.startswith("LOOM_JUPYTER"):
            monkeypatch.setenv(k, v)
    with Loom() as client:
        request = client._http.build_request(**client._request_args(Call("GET", "/api/weavers")))
        assert str(request.url) == "http://127.0.0.1:8888/base/loom/api/weavers"
        assert request.headers["Authorization"] == "token jt"
        assert client.mode == "proxy"


def test_split_timestamp_nanoseconds_order():
    a, _, text = split_timestamp("2025-01-15T12:00:00.1Z hello")
    b, _, _ = split_timestamp("2025-01-15T12:00:00.099999999Z x")
    c, stamp, _ = split_timestamp("2025-01-15T13:00:00.1+01:00 same instant as a")
    assert text == "hello" and b < a and a == c and stamp.microsecond == 100000
    assert split_timestamp("no stamp")[0] is None


def test_line_buffer_and_cursor():
    buf = LineBuffer()
    assert buf.feed("a\r\nb") == ["a"] and buf.feed("c\n") == ["bc"] and buf.flush() == []
    cursor = Cursor()
    k1, k2 = (1, 0), (2, 0)
    assert all(cursor.admit(k) for k in (k1, k2, k2))
    cursor.start_resume()
    assert [cursor.admit(k) for k in (k1, k2, k2, k2, (3, 0))] == [False, False, False, True, True]
