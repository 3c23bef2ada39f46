"""IPython extension: `%load_ext loom_jupyter` registers the %loom and %%loom magics."""
from __future__ import annotations

from typing import Any

__all__ = ["load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """Register `LoomMagics` (commands, the SDK and widgets are imported on first use)."""
    from ._magics import LoomMagics

    unload_ipython_extension(ipython)
    ipython.register_magics(LoomMagics(shell=ipython))


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the magics and close the connection they held."""
    manager = ipython.magics_manager
    instance = manager.registry.pop("LoomMagics", None) if "LoomMagics" in manager.registry else None
    for kind in ("line", "cell"):
        manager.magics[kind].pop("loom", None)
    if instance is not None:
        instance.close()
        if instance in ipython.configurables:
            ipython.configurables.remove(instance)
