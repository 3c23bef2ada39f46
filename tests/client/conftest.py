"""Client test fixtures: the variant server (one thread, all scenarios) and clients pointed at it."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from loom_jupyter.client import AsyncLoom, Loom
from tests.client import variant_scenarios  # noqa: F401  (registers the scenarios)
from tests.client.variant_app import KEY, VariantServer


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LOOM_URL", "LOOM_API_KEY", "LOOM_JUPYTER_PROXY_URL", "LOOM_JUPYTER_PROXY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def variants() -> Iterator[VariantServer]:
    server = VariantServer().start()
    yield server
    server.stop()


@pytest.fixture
def variant(variants: VariantServer) -> Iterator[Callable[..., Loom]]:
    """`variant("scenario")` -> a Loom client for that scenario (closed at teardown)."""
    clients: list[Loom] = []

    def make(name: str, **kwargs: Any) -> Loom:
        kwargs.setdefault("timeout", 5.0)
        client = Loom(f"{variants.url}/{name}", KEY, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def avariant(variants: VariantServer) -> Callable[..., AsyncLoom]:
    def make(name: str, **kwargs: Any) -> AsyncLoom:
        kwargs.setdefault("timeout", 5.0)
        return AsyncLoom(f"{variants.url}/{name}", KEY, **kwargs)

    return make
