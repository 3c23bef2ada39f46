"""Execute the tutorial notebooks in place, each against a fresh local Loom server.

    python notebooks/refresh.py                 # every notebooks/*.ipynb
    python notebooks/refresh.py notebooks/02-weavers.ipynb

The outputs stored here are what `make test-notebooks` (strict `pytest --nbval`) compares
against, under the same environment (tests/notebooks/harness.py). A notebook whose outputs
would contain the server's API key is not written.

Widgets are stored as their static HTML/text snapshot only: the widget-view reference (a random
model id nbval ignores anyway) and the widget state (which would embed the terminal's compiled
JavaScript) are left out, so a stored notebook shows the snapshot instead of "model not found"
and refreshing does not churn ids.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import nbformat  # noqa: E402
from jupyter_client.manager import KernelManager  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbval.kernel import CURRENT_ENV_KERNEL_NAME, NbvalKernelspecManager  # noqa: E402

from tests.notebooks.harness import NOTEBOOKS, notebook_servers  # noqa: E402

CELL_TIMEOUT = 120


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def drop_widget_views(nb: nbformat.NotebookNode) -> None:
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            output.get("data", {}).pop(WIDGET_VIEW, None)


def execute(path: Path, servers: object) -> float:
    started = time.monotonic()
    server = servers.start_for(str(path))  # type: ignore[attr-defined]
    nb = nbformat.read(path, as_version=4)
    # The kernel of the Python running this script, as `pytest --nbval-current-env` uses.
    km = KernelManager(kernel_name=CURRENT_ENV_KERNEL_NAME, kernel_spec_manager=NbvalKernelspecManager())
    client = NotebookClient(nb, km=km, timeout=CELL_TIMEOUT, record_timing=False,
                            store_widget_state=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    drop_widget_views(nb)
    text = nbformat.writes(nb)
    if server.admin_key in text:
        raise SystemExit(f"{path}: an output contains the Loom API key; not written.")
    path.write_text(text, encoding="utf-8")
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every notebooks/*.ipynb")
    args = parser.parse_args(argv)
    paths = [p.resolve() for p in args.notebooks] or sorted(NOTEBOOKS.glob("*.ipynb"))
    with notebook_servers() as servers:
        for path in paths:
            print(f"{path.name}: executing…", flush=True)
            print(f"{path.name}: stored outputs ({execute(path, servers):.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
