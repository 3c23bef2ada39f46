"""pytest fixtures for the stand-ins; import them by name into a conftest.py or test module:

    from tests.standins.fixtures import *  # noqa: F403

`v1_standin`, `openloomi_standin`, `nodeloom_standin`: one running stand-in each per test
session (shared: call `.reset()` when a test needs a clean state or changes options with
`.configure(...)`). `openloomi_token_file`: a fresh `~/.openloomi/token`-style file (base64 of a
JWT for the first user) in the test's tmp_path.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.standins.loom_v1 import LoomV1StandIn
from tests.standins.nodeloom import NodeLoomStandIn
from tests.standins.openloomi import OpenLoomiStandIn

__all__ = ["nodeloom_standin", "openloomi_standin", "openloomi_token_file", "v1_standin"]


@pytest.fixture(scope="session")
def v1_standin() -> Iterator[LoomV1StandIn]:
    """The Loom v1 asset server stand-in; user `admin`, see `.credentials()`."""
    with LoomV1StandIn() as standin:
        yield standin


@pytest.fixture(scope="session")
def openloomi_standin() -> Iterator[OpenLoomiStandIn]:
    """The openloomi stand-in; user `user@example.com`, see `.credentials()`."""
    with OpenLoomiStandIn() as standin:
        yield standin


@pytest.fixture(scope="session")
def nodeloom_standin() -> Iterator[NodeLoomStandIn]:
    """The NodeLoom stand-in; one `sdk_` token per role (`.token("Viewer")`), 1000 req/min."""
    with NodeLoomStandIn() as standin:
        yield standin


@pytest.fixture
def openloomi_token_file(openloomi_standin: OpenLoomiStandIn, tmp_path: Path) -> Path:
    return openloomi_standin.write_token_file(tmp_path / ".openloomi" / "token")
