"""`%load_ext loom_jupyter` must stay fast: no httpx, no ipywidgets until a command needs them."""
from __future__ import annotations

import json
import subprocess
import sys

SCRIPT = r"""
import json, sys
from IPython.core.interactiveshell import InteractiveShell
from traitlets.config import Config
config = Config()
config.HistoryManager.hist_file = ":memory:"
ip = InteractiveShell.instance(config=config)
before = set(sys.modules)
ip.run_line_magic("load_ext", "loom_jupyter")
loaded = sorted(set(sys.modules) - before)
ip.run_line_magic("loom", "help")
print(json.dumps({"loaded": loaded, "magic": "loom" in ip.magics_manager.magics["line"],
                  "cell": "loom" in ip.magics_manager.magics["cell"]}))
"""


def test_load_ext_imports_neither_httpx_nor_widgets(tmp_path):
    env = {"IPYTHONDIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         timeout=60, env=env, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["magic"] and report["cell"]
    heavy = [m for m in report["loaded"] if m.split(".")[0] in ("httpx", "httpcore", "ipywidgets", "anywidget",
                                                                 "pydantic", "websockets")]
    assert heavy == []
    assert "loom_jupyter.magics._magics" in report["loaded"]


def test_unload_removes_the_magics(shell):
    shell.run_line_magic("unload_ext", "loom_jupyter")
    try:
        assert "loom" not in shell.magics_manager.magics["line"]
        assert not any(type(c).__name__ == "LoomMagics" for c in shell.configurables)
    finally:
        shell.run_line_magic("load_ext", "loom_jupyter")
    assert "loom" in shell.magics_manager.magics["line"]
