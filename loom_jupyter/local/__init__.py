"""The embedded Loom-compatible server: `loom-jupyter local` / `python -m loom_jupyter.local`."""
from __future__ import annotations

from .config import LocalConfig, default_data_dir

__all__ = ["LocalConfig", "default_data_dir"]
