"""Issue 12's promise under a real JupyterHub: a new person with no key signs in as themselves.

carol's server gets the admin's Loom URL and no credential. From her kernel she starts the
sign-in; she approves the code as herself (what Loom's /device page does with her Loom login);
then her kernel creates, follows and attaches to a weaver that Loom says is hers. No key is
pasted, and the `lt_` token appears in no answer, kernel or log (the suite's scans look for it).
"""
from __future__ import annotations

import json

import httpx

from tests.fixtures.wait import wait_until
from tests.hub.harness import LOOM_SECRET, Hub
from tests.hub.test_hub import KERNEL_SDK, marker, shell_command

START = """
import json
from loom_jupyter.client import Loom
with Loom() as loom:
    s = loom.signin.start()
    print(json.dumps({"state": s.state, "code": s.user_code, "url": s.verification_url}))
"""
STATE = """
import json
from loom_jupyter.client import Loom
with Loom() as loom:
    s = loom.signin.state()
    print(json.dumps({"state": s.state, "source": s.source, "who": s.who}))
"""


def test_a_new_person_signs_in_and_works_with_no_key(hub: Hub) -> None:
    carol = hub.add_user("carol", key_file=False)
    hub.spawn(carol)
    with hub.kernel(carol) as kernel:
        before = kernel.run_json(STATE)
        assert before == {"state": "signed_out", "source": None, "who": None}, before
        started = kernel.run_json(START)
        assert started["state"] == "pending" and started["url"].endswith("/device"), started
        approved = httpx.post(f"{hub.loom.url}/api/auth/device/complete", timeout=10,
                              json={"user_code": started["code"]},
                              headers={"Authorization": f"Bearer {carol.loom_key}"})
        assert approved.status_code == 200, approved.text
        done = wait_until(lambda: kernel.run_json(STATE), 30, "carol's sign-in to complete",
                          until=lambda s: s["state"] == "signed_in", interval=0.5)
        assert done == {"state": "signed_in", "source": "sign-in",
                        "who": carol.loom_display_name}, done
        again = kernel.run("%load_ext loom_jupyter\n%loom login")
        assert f"Already signed in to {hub.loom.url} as {carol.loom_display_name}" in again
        mark = marker()
        out = kernel.run_json(KERNEL_SDK.format(mark=mark, command=shell_command(mark)), 90)
        assert out["me"] == carol.loom_user_id and out["owner"] == carol.loom_user_id, out
        assert out["log"].endswith(f"ready-{mark}") and out["typed"] is True, out
        env = json.dumps(kernel.env).encode()
    assert not LOOM_SECRET.search(env)
    stored = list(carol.data_dir.glob("loom_jupyter/signin-*.json"))
    assert len(stored) == 1 and (stored[0].stat().st_mode & 0o777) == 0o600
    token = json.loads(stored[0].read_text())["token"]
    assert token.startswith("lt_")
    assert hub.transcript.leaks((token,)) == []
    assert token.encode() not in hub.log_text().encode()
    # Her server restarts: the sign-in is kept in her own Jupyter data directory.
    hub.stop_server(carol)
    hub.spawn(carol)
    with hub.as_user(carol) as client:
        me = client.get(f"{carol.loom_prefix}api/auth/me")
        assert me.status_code == 200 and me.json()["id"] == carol.loom_user_id, me.text
        assert client.delete(f"{carol.loom_prefix}api/weaver/{out['id']}").status_code == 204
