"""Server-extension test helpers: the capture upstream and its fake (never real) Loom key."""
from __future__ import annotations

from typing import Any

import pytest

from tests.server.capture import start_capture

FAKE_KEY = "lk_" + "c0ffee" * 10 + "abcd"


@pytest.fixture
async def capture() -> Any:
    cap, server = await start_capture()
    yield cap
    server.stop()
