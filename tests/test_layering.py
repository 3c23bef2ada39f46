"""The SDK stays free of Jupyter: importing it must not pull in tornado, jupyter_server, IPython or ipywidgets."""
from __future__ import annotations

import subprocess
import sys

FORBIDDEN = ("tornado", "jupyter_server", "IPython", "ipywidgets")


def test_client_imports_no_jupyter_stack():
    code = (
        "import sys, loom_jupyter.client\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
        "assert 'httpx' in sys.modules and 'websockets' in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"loom_jupyter.client imported {result.stdout.strip()}"
