"""The embedded Loom-compatible server: `loom-jupyter local` / `python -m loom_jupyter.local`."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import LocalConfig, default_data_dir

__all__ = ["LocalConfig", "default_data_dir"]


def __getattr__(name: str) -> Any:
    """Loaded on first use: a weaver host (`python -m loom_jupyter.local.weaver_host`, one per
    weaver) imports this package too, and needs none of it."""
    if name in __all__:
        from . import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
