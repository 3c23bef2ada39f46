"""The jupyter-server extension: `{base_url}loom/...`, an authenticated streaming proxy to Loom."""
from __future__ import annotations

__all__ = ["LoomJupyter"]


def __getattr__(name: str) -> object:
    # Lazy: importing loom_jupyter.server must not pull tornado/jupyter_server into a kernel.
    if name == "LoomJupyter":
        from .app import LoomJupyter

        return LoomJupyter
    raise AttributeError(name)
