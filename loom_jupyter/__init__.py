"""loom-jupyter: the Loom AI coding-agent platform, inside Jupyter."""
from __future__ import annotations

from typing import Any

from ._version import __version__

__all__ = ["__version__", "load_ipython_extension", "unload_ipython_extension"]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from .server.app import LoomJupyter

    return [{"module": "loom_jupyter.server.app", "app": LoomJupyter}]


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext loom_jupyter`: register the %loom magics (imported lazily, so loading stays fast)."""
    from .magics import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    from .magics import unload_ipython_extension as _unload

    _unload(ipython)
