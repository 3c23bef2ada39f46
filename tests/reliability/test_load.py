"""Load through one jupyter-server with the extension: no errors, every byte in order, bounded memory.

Short variant (in `make test`): 20 SSE log streams + 5 terminals for 5 s. Long variant
(`LOOM_LONG_TESTS=1`): 200 SSE streams + 50 terminals for 60 s; figures in RESULTS.md.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fixtures.loom_server import LocalLoom, start_local_loom

from .conftest import long_only
from .load import JupyterServer, run_load, start_jupyter

# RSS growth (MiB) a server may show under the load; a leak of the streamed bytes would exceed it.
SHORT_GROWTH_MIB = 150
LONG_GROWTH_MIB = 400


@pytest.fixture
def load_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[JupyterServer, LocalLoom, str]]:
    root = tmp_path_factory.mktemp("load")
    loom = start_local_loom(root / "loom" / "data")
    jupyter = None
    try:
        key = loom.make_key("user", name="load")
        jupyter = start_jupyter(root / "jupyter", loom.url, key)
        yield jupyter, loom, key
    finally:
        if jupyter is not None:
            jupyter.stop()
        loom.stop()


def _check(result, growth: float) -> None:
    print("\nload:", result.summary())
    assert result.errors == [], result.errors[:10]
    assert result.max_open_streams == result.streams, "not every stream was open at once"
    assert result.lines > 0 and result.round_trips >= result.terminals
    for name, rss in result.rss.items():
        assert rss["peak"] - rss["baseline"] < growth, f"{name} grew {rss}"


async def test_short_load_20_streams_5_terminals(load_servers):
    jupyter, loom, key = load_servers
    result = await run_load(jupyter, loom, key, streams=20, producers=5, terminals=5, seconds=5)
    _check(result, SHORT_GROWTH_MIB)
    assert result.lines >= 20 * 100


@long_only
@pytest.mark.timeout(400)
async def test_long_load_200_streams_50_terminals(load_servers):
    jupyter, loom, key = load_servers
    result = await run_load(jupyter, loom, key, streams=200, producers=20, terminals=50,
                            seconds=60, pause=0.02)
    _check(result, LONG_GROWTH_MIB)
