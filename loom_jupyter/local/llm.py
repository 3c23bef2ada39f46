"""The local LLM proxy: forwards to a real provider when its key is set, else answers offline.

Environment, read once when the service is built (keys are never logged or echoed):
`ANTHROPIC_API_KEY` (+ `ANTHROPIC_BASE_URL`), `OPENAI_API_KEY` (+ `OPENAI_BASE_URL`, any
OpenAI-compatible server), `LOOM_LOCAL_LLM_TIMEOUT` (seconds to wait for upstream data,
default 120), `LOOM_LOCAL_OFFLINE_DELAY_MS` (pause between offline chunks, default 0).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from loom_jupyter.local import llm_anthropic, llm_offline, llm_openai
from loom_jupyter.local.errors import RateLimited, UpstreamFailed
from loom_jupyter.local.llm_providers import Upstream
from loom_jupyter.local.llm_request import LlmRequest

if TYPE_CHECKING:
    from loom_jupyter.local.config import LocalConfig

PROVIDERS = ("anthropic", "openai", "vertex")
DEFAULT_TIMEOUT = 120.0
CONNECT_TIMEOUT = 10.0
RATE_LIMIT_MESSAGE = "LLM rate limited; retry after 2 seconds"

_StreamFn = Callable[[httpx.AsyncClient, Upstream, LlmRequest], AsyncIterator[dict[str, Any]]]
_FORWARDERS: dict[str, tuple[str, str, _StreamFn]] = {
    # provider: (key variable, base-URL variable and default, translator)
    "anthropic": ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", llm_anthropic.stream),
    "openai": ("OPENAI_API_KEY", "OPENAI_BASE_URL", llm_openai.stream),
}
_DEFAULT_URLS = {"anthropic": llm_anthropic.DEFAULT_BASE_URL, "openai": llm_openai.DEFAULT_BASE_URL}


def _float_env(env: Mapping[str, str], name: str, default: float) -> float:
    try:
        value = float(env.get(name, "") or default)
    except ValueError:
        return default
    return value if value >= 0 else default


def _upstreams(env: Mapping[str, str]) -> dict[str, Upstream]:
    found = {}
    for provider, (key_var, url_var, _) in _FORWARDERS.items():
        secret = env.get(key_var, "").strip()
        if secret:
            base_url = env.get(url_var, "").strip() or _DEFAULT_URLS[provider]
            found[provider] = Upstream(base_url=base_url, secret=secret)
    return found


class LlmService:
    """Serves `/proxy/{provider}/*`; one instance per local server (the rate-limit count is shared)."""

    def __init__(self, config: LocalConfig, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self._rate_limit_every = int(getattr(config, "llm_rate_limit_every", 0) or 0)
        self._requests = 0
        timeout = _float_env(env, "LOOM_LOCAL_LLM_TIMEOUT", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
        self._upstreams = _upstreams(env)
        self._timeout = httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout))
        self._client: httpx.AsyncClient | None = None  # made on first use, inside the server's loop
        self._offline_delay = _float_env(env, "LOOM_LOCAL_OFFLINE_DELAY_MS", 0.0) / 1000.0

    def __repr__(self) -> str:
        return f"LlmService(forwarding={sorted(self._upstreams)}, rate_limit_every={self._rate_limit_every})"

    def mode(self, provider: str) -> str:
        """`forwarding` when a key is configured for `provider`, else `offline`."""
        return "forwarding" if provider in self._upstreams else "offline"

    def admit(self) -> None:
        """Count one request; in rate-limit mode every Nth gets the §5.4 503 before any stream."""
        self._requests += 1
        if self._rate_limit_every > 0 and self._requests % self._rate_limit_every == 0:
            raise RateLimited(RATE_LIMIT_MESSAGE)

    async def stream(
        self, provider: str, request: LlmRequest
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Loom events ending with `completed`; failures raise `LocalError`s (before or mid-stream)."""
        upstream = self._upstreams.get(provider)
        if upstream is None:
            async for event in llm_offline.respond(provider, request, self._offline_delay):
                yield event
            return
        if self._client is None:  # one pooled client: building TLS contexts per request is slow
            self._client = httpx.AsyncClient(timeout=self._timeout)
        async for event in _FORWARDERS[provider][2](self._client, upstream, request):
            yield event

    async def aclose(self) -> None:
        """Close pooled upstream connections (call when the server stops)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def complete(self, provider: str, request: LlmRequest) -> dict[str, Any]:
        """The §5.3 response, built from the same stream `/stream` serves."""
        events = self.stream(provider, request)
        try:
            async for event in events:
                if event["type"] == "completed":
                    return event["response"]
        finally:
            await events.aclose()
        raise UpstreamFailed("Invalid response: upstream stream ended before completion"
        )
