"""JupyterLab itself, with our server extension enabled by the installed jupyter-config."""
from __future__ import annotations

import pytest

from ._harness import JupyterLab, Lab

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90)]


def test_extension_proxies_to_the_local_loom(jupyter_lab: JupyterLab) -> None:
    resp = jupyter_lab.get("loom/status")
    assert resp.status_code == 200, resp.text
    status = resp.json()
    assert status["configured"] and status["credential"] and status["reachable"], status
    assert jupyter_lab.loom_key not in resp.text
    orgs = jupyter_lab.get("loom/api/orgs")
    assert orgs.status_code == 200 and orgs.json()["orgs"], orgs.text


def test_notebook_cell_runs_and_kernel_gets_the_proxy_not_the_key(lab: Lab) -> None:
    path = lab.lab.write_notebook("smoke.ipynb", [(
        "import os\n"
        "print('answer', 6 * 7)\n"
        "print('proxy', bool(os.environ.get('LOOM_JUPYTER_PROXY_URL')),"
        " 'key', 'LOOM_API_KEY' in os.environ)\n"
        "from loom_jupyter.client import Loom\n"
        "with Loom() as loom:\n"
        "    print('mode', loom.mode, 'orgs', len(loom.orgs()))"
    )])
    lab.open_notebook(path)
    lab.run_cell(0)
    output = lab.output(0)
    output.filter(has_text="answer 42").wait_for()
    output.filter(has_text="mode").wait_for()
    text = output.inner_text()
    # The kernel inherits LOOM_URL (not the key): the client must still pick the proxy.
    assert "proxy True key False" in text and "mode proxy orgs 1" in text, text
    assert lab.errors == [], lab.report()
