"""The LLM proxy's pure parts: Retry-After parsing, key-free reprs, offline determinism."""

from __future__ import annotations

import email.utils
import time

import pytest

from loom_jupyter.local.base import wire_error
from loom_jupyter.local.config import LocalConfig
from loom_jupyter.local.llm import LlmService
from loom_jupyter.local.llm_offline import reply_text, requested_tool_call
from loom_jupyter.local.llm_providers import Upstream, rate_limited, retry_after_seconds
from loom_jupyter.local.llm_request import parse_llm_request

SECRET = "sk-ant-unit-0123456789abcdef"  # a made-up test value, shaped like a provider key


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("7", 7),
        (" 30 ", 30),
        ("", None),
        (None, None),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0),
    ],
)
def test_retry_after_seconds(header, seconds):
    assert retry_after_seconds(header) == seconds


def test_retry_after_http_date_in_the_future():
    header = email.utils.formatdate(time.time() + 120, usegmt=True)
    assert 110 <= (retry_after_seconds(header) or 0) <= 121


def test_rate_limited_message_carries_the_hint():
    assert wire_error(rate_limited(7)) == (503, {
        "error": "rate_limited",
        "message": "LLM rate limited; retry after 7 seconds",
    })
    assert rate_limited(None).message == "LLM rate limited; try again later"


def test_key_is_not_in_reprs_or_health(tmp_path):
    env = {"ANTHROPIC_API_KEY": SECRET, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}
    service = LlmService(LocalConfig(data_dir=tmp_path), env)
    upstream = Upstream(base_url="http://x", secret=SECRET)
    for text in (repr(service), repr(upstream)):
        assert SECRET not in text
    assert upstream.scrub(f"bad key {SECRET}!") == "bad key ***!"
    modes = {name: service.mode(name) for name in ("anthropic", "openai", "vertex")}
    assert modes == {"anthropic": "forwarding", "openai": "offline", "vertex": "offline"}


def test_blank_key_means_offline(tmp_path):
    service = LlmService(LocalConfig(data_dir=tmp_path), {"OPENAI_API_KEY": "  "})
    assert service.mode("openai") == "offline"


def test_offline_reply_is_deterministic():
    request = parse_llm_request(
        {"model": "m", "messages": [{"role": "user", "content": "one  two\nthree"}]}
    )
    first, second = reply_text("openai", request), reply_text("openai", request)
    assert first == second
    assert first.startswith("[offline]") and first.endswith('You said (3 words): "one two three"')


def test_tool_call_needs_an_offered_tool_and_valid_json():
    tools = [{"name": "run", "input_schema": {"type": "object"}}]
    ask = parse_llm_request(
        {
            "model": "m",
            "messages": [{"role": "user", "content": "call tool run with {oops}"}],
            "tools": tools,
        }
    )
    assert requested_tool_call(ask) == ("run", "{}")
    not_offered = parse_llm_request(
        {"model": "m", "messages": [{"role": "user", "content": "call tool run"}]}
    )
    assert requested_tool_call(not_offered) is None
