"""pytest --nbval on these notebooks: each runs against its own fresh local Loom server.

The hooks live in tests/notebooks/harness.py (shared with refresh.py, which stores the outputs).
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.notebooks.harness import (  # noqa: F401 - pytest finds the hooks by name
    pytest_runtest_call,
    pytest_runtest_setup,
    pytest_sessionfinish,
)
