"""Issue 13's Done-when from a kernel: one jupyter-server with four connections (the local Loom
as `default`, the loom-v1, openloomi and NodeLoom stand-ins as `assets`, `loomi`, `agents`),
one real kernel started through its REST API, the magics and the SDK used in that kernel.

The kernel lists v1 assets into a DataFrame, moves a binary, follows pipeline events, streams a
chat from openloomi and from NodeLoom (shown incrementally: a cursor first, the whole answer
last), launches a Loom weaver, and holds no credential: not in its environment, not in any
output. A connection kind without a command's feature ends in one line.
"""
from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from loom_jupyter.client import Loom
from loom_jupyter.magics._errors import ArgumentsError
from loom_jupyter.magics.commands.connections import take_connection
from tests.fixtures.jupyter import LoomProxy
from tests.fixtures.loom_server import LocalLoom, running_local_loom
from tests.fixtures.wait import wait_until
from tests.standins.fixtures import *  # noqa: F403 - the stand-in fixtures, by name
from tests.standins.loom_v1 import LoomV1StandIn
from tests.standins.nodeloom import NodeLoomStandIn
from tests.standins.openloomi import OpenLoomiStandIn

pytestmark = pytest.mark.timeout(240)
CURSOR = "▌"


# -- the dispatcher's --connection, alone ----------------------------------------------------------
@pytest.mark.parametrize(("line", "kept", "name"), [
    (["weavers"], ["weavers"], None),
    (["weavers", "--connection", "staging"], ["weavers"], "staging"),
    (["--connection=assets", "request", "GET", "/api/v1/assets"],
     ["request", "GET", "/api/v1/assets"], "assets"),
    (["chat", "--connection", "a", "--connection=a"], ["chat"], "a"),
])
def test_connection_option_is_taken_anywhere(line: list[str], kept: list[str],
                                              name: str | None) -> None:
    assert take_connection(line) == (kept, name)


@pytest.mark.parametrize("line", [["weavers", "--connection"], ["x", "--connection", "--json"],
                                  ["x", "--connection", "Bad Name"],
                                  ["x", "--connection=a", "--connection", "b"]])
def test_bad_connection_options_are_one_line(line: list[str]) -> None:
    with pytest.raises(ArgumentsError) as info:
        take_connection(line)
    assert "\n" not in str(info.value) and "connection" in str(info.value)


# -- one server, four connections, one kernel ----------------------------------------------------
@pytest.fixture
def secrets_held(v1_standin: LoomV1StandIn, nodeloom_standin: NodeLoomStandIn,
                 loom_proxy_key: str) -> dict[str, str]:
    return {"v1-password": v1_standin.password, "nodeloom": nodeloom_standin.token("Builder"),
            "loom": loom_proxy_key}


@pytest.fixture
def loom_proxy_key(loom_target: Any) -> str:
    return str(loom_target.key)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return tmp_path / ".openloomi" / "token"


@pytest.fixture
def staging(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalLoom | None]:
    """A second local Loom (connection `staging`), for tests parametrized with it."""
    if not getattr(request, "param", False):
        yield None
        return
    with running_local_loom(tmp_path / "staging-data") as server:
        yield server


@pytest.fixture
def staging_key(staging: LocalLoom | None) -> str:
    """One user's key on `staging`: the connection's credential, and the test's (an ordinary
    user sees only their own weavers)."""
    return staging.make_key("user") if staging is not None else ""


@pytest.fixture
def loom_extension_config(v1_standin: LoomV1StandIn, openloomi_standin: OpenLoomiStandIn,
                          nodeloom_standin: NodeLoomStandIn, token_file: Path,
                          staging: LocalLoom | None, staging_key: str,
                          tmp_path: Path) -> dict[str, Any]:
    for standin in (v1_standin, openloomi_standin, nodeloom_standin):
        standin.reset()
    openloomi_standin.write_token_file(token_file)
    files = tmp_path / "secrets"
    files.mkdir()
    (files / "v1.password").write_text(v1_standin.password + "\n")
    (files / "nodeloom.key").write_text(nodeloom_standin.token("Builder") + "\n")
    more: dict[str, Any] = {}
    if staging is not None:
        (files / "staging.key").write_text(staging_key + "\n")
        more["staging"] = {"kind": "loom", "url": staging.url,
                           "api_key_file": str(files / "staging.key")}
    return {"connections": {
        **more,
        "assets": {"kind": "loom-v1", "url": v1_standin.url, "username": v1_standin.username,
                   "password_file": str(files / "v1.password")},
        # the same server, signed in to later with a password typed at %loom login's prompt
        "assets-me": {"kind": "loom-v1", "url": v1_standin.url,
                      "username": v1_standin.username},
        "loomi": {"kind": "openloomi", "url": openloomi_standin.url,
                  "token_file": str(token_file)},
        "agents": {"kind": "nodeloom", "url": nodeloom_standin.url,
                   "api_key_file": str(files / "nodeloom.key")},
    }}


@dataclass
class Cell:
    """What one executed cell showed: text streams, errors, and every display by id (updates
    applied, as a front end does), plus how often each display was drawn."""

    streams: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    displays: dict[str, str] = field(default_factory=dict)
    drawn: dict[str, list[str]] = field(default_factory=dict)
    results: list[str] = field(default_factory=list)
    prompts: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join([*self.streams, *self.errors, *self.displays.values(), *self.results,
                          *(t for ts in self.drawn.values() for t in ts)])


class Kernel:
    """A kernel started by the Jupyter server (its environment is the one the server gives)."""

    def __init__(self, jp_fetch: Any, jp_ws_fetch: Any) -> None:
        self.fetch, self.ws_fetch = jp_fetch, jp_ws_fetch
        self.kernel_id = ""
        self.ws: Any = None

    async def start(self) -> Kernel:
        r = await self.fetch("api", "kernels", method="POST", body=json.dumps({"name": "python3"}))
        self.kernel_id = json.loads(r.body)["id"]
        self.ws = await self.ws_fetch("api", "kernels", self.kernel_id, "channels")
        return self

    async def stop(self) -> None:
        if self.ws is not None:
            self.ws.close()
        if self.kernel_id:
            await self.fetch("api", "kernels", self.kernel_id, method="DELETE")

    async def run(self, code: str, timeout: float = 90.0, stdin: list[str] | None = None) -> Cell:
        """Execute `code`; `stdin` answers the kernel's input()/getpass() prompts in order (a
        front end without stdin when None)."""
        msg_id, session = uuid.uuid4().hex, uuid.uuid4().hex
        await self.ws.write_message(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "username": "",
                       "session": session, "version": "5.3", "date": ""},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": stdin is not None,
                        "stop_on_error": True}}))
        answers = list(stdin or [])
        cell = Cell()
        while True:
            raw = await asyncio.wait_for(self.ws.read_message(), timeout)
            assert raw is not None, "the kernel's WebSocket closed"
            msg = json.loads(raw)
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "input_request":
                cell.prompts.append(content["prompt"])
                await self.ws.write_message(json.dumps({
                    "header": {"msg_id": uuid.uuid4().hex, "msg_type": "input_reply",
                               "username": "", "session": session, "version": "5.3", "date": ""},
                    "parent_header": msg["header"], "metadata": {}, "channel": "stdin",
                    "buffers": [], "content": {"value": answers.pop(0) if answers else ""}}))
                continue
            text = (content.get("data") or {}).get("text/plain", "")
            display_id = (content.get("transient") or {}).get("display_id") or uuid.uuid4().hex
            if kind == "stream" and content["text"].startswith("UsageError: "):
                cell.errors.append(content["text"])  # a %loom command's one-line error
            elif kind == "stream":
                cell.streams.append(content["text"])
            elif kind == "error":
                cell.errors.append(f"{content['ename']}: {content['evalue']}")
            elif kind in ("display_data", "update_display_data"):
                cell.displays[display_id] = text
                cell.drawn.setdefault(display_id, []).append(text)
            elif kind == "execute_result":
                cell.results.append(text)
            elif kind == "status" and content["execution_state"] == "idle":
                return cell

    async def ok(self, code: str) -> Cell:
        cell = await self.run(code)
        assert not cell.errors, (code, cell.errors, cell.streams)
        return cell


def assert_streamed(cell: Cell, answer: str) -> None:
    """One display: first drawn with a cursor (words arriving), finally the whole answer."""
    assert not cell.errors, cell.errors
    [drawn] = [v for v in cell.drawn.values() if answer in v[-1]]
    assert CURSOR in drawn[0] and answer not in drawn[0], drawn  # incremental, not all at once
    assert drawn[-1].strip() == answer and CURSOR not in drawn[-1]


def no_credential(text: str, secrets: dict[str, str], jwts: list[str]) -> None:
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} credential reached the kernel"
    for jwt in jwts:
        assert jwt not in text, "a JWT reached the kernel"
    assert "Bearer " not in text


async def test_one_kernel_uses_four_connections_without_credentials(
        loom_proxy: LoomProxy, jp_fetch: Any, jp_ws_fetch: Any, v1_standin: LoomV1StandIn,
        openloomi_standin: OpenLoomiStandIn, nodeloom_standin: NodeLoomStandIn,
        secrets_held: dict[str, str], token_file: Path) -> None:
    jwts = [base64.b64decode(token_file.read_text().strip()).decode()]
    kernel = await Kernel(jp_fetch, jp_ws_fetch).start()
    shown: list[str] = []
    try:
        await kernel.ok("%load_ext loom_jupyter\n%config LoomMagics.log_refresh_hz = 1000")

        listed = await kernel.ok("%loom connections")
        table = "\n".join(listed.displays.values())
        for name, kind in (("default", "loom"), ("assets", "loom-v1"), ("loomi", "openloomi"),
                           ("agents", "nodeloom")):
            assert any(line.split()[1:3] == [name, kind] or line.split()[:2] == [name, kind]
                       for line in table.splitlines()), (name, table)
        assert "password_file" in table and "token_file" in table and "api_key_file" in table
        shown.append(listed.text())

        # v1 assets into a DataFrame, the magic way and the SDK way
        magic = await kernel.ok("%loom request --connection assets GET /api/v1/assets "
                                "-o df --dataframe\nprint(type(df).__name__, len(df), "
                                "sorted(df.columns)[:3], df['name'].tolist())")
        out = "".join(magic.streams)
        assert "DataFrame 3" in out and "['created', 'edited', 'mimeType']" in out, out
        sdk = await kernel.ok(
            "import pandas as pd\nfrom loom_jupyter.client import Loom\n"
            "v1 = Loom(connection='assets')\n"
            "sdk_df = pd.DataFrame(a.model_dump(by_alias=True) for a in v1.assets.iterate())\n"
            "print(v1.kind, sdk_df['uuid'].tolist() == df['uuid'].tolist())")
        assert "loom-v1 True" in "".join(sdk.streams)
        table_cell = await kernel.ok("%loom request --connection assets GET /api/v1/assets "
                                     "--param perPage=2")
        assert "2 items of 3, page 1 of 2" in table_cell.text(), table_cell.text()

        # a binary up and down through the proxy
        binary = await kernel.ok(
            "blob = bytes(range(256)) * 40\n"
            "new = v1.assets.create('blob.bin', mime_type='application/octet-stream')\n"
            "print(v1.assets.upload(new.uuid, blob).size, v1.assets.download(new.uuid) == blob)")
        assert "10240 True" in "".join(binary.streams)

        # pipeline events, followed until finished
        events = await kernel.ok(
            "pipeline = v1.pipelines.list()[0]\n"
            "with v1.pipelines.events() as feed:\n"
            "    v1.pipelines.run(pipeline.uuid)\n"
            "    kinds = []\n"
            "    for event in feed:\n"
            "        kinds.append(event['type'])\n"
            "        if event['type'] == 'pipeline.finished':\n"
            "            break\n"
            "print(kinds[0], kinds.count('pipeline.progress'), kinds[-1])")
        assert "pipeline.started 3 pipeline.finished" in "".join(events.streams), events.streams

        # chat streamed from openloomi and from NodeLoom, as %%loom chat streams from Loom
        loomi = await kernel.run("%%loom chat --connection loomi\nHello openloomi")
        assert_streamed(loomi, "Hello from the openloomi stand-in. You said: Hello openloomi")
        again = await kernel.run("%%loom chat --connection loomi\nAnd again")
        assert_streamed(again, "Hello from the openloomi stand-in. You said: And again")
        sent = [r.json() for r in openloomi_standin.requests if r.path == "/api/ai/chat"]
        assert [m["content"] for m in sent[-1]["messages"]][:2] == [
            "Hello openloomi", "Hello from the openloomi stand-in. You said: Hello openloomi"]
        agent = await kernel.run("%%loom chat --connection agents\nHi agent")
        assert_streamed(agent, "Helper here. You said: Hi agent")
        shown += [loomi.text(), again.text(), agent.text()]

        # a Loom weaver on the default connection
        weaver = await kernel.ok("w = %loom create python:3.12 --tag suite:connections --wait "
                                 "-- sleep 60\nprint(w.status)\n%loom delete {w.id} --yes")
        assert "running" in "".join(weaver.streams), weaver.streams

        # a feature another kind does not have: one line
        refused = await kernel.run("%loom weavers --connection agents")
        assert refused.errors and "weavers is a Loom feature" in refused.errors[0]
        assert "'agents' is a nodeloom connection" in refused.errors[0]
        assert "Traceback" not in refused.text()
        chat_v1 = await kernel.run("%%loom chat --connection assets\nhello")
        assert chat_v1.errors and "is a loom-v1 connection" in chat_v1.errors[0]
        unknown = await kernel.run("%loom request --connection nope GET /api/x")
        assert unknown.errors and "Unknown connection 'nope'" in unknown.errors[0]
        for cell in (refused, chat_v1, unknown):
            assert "\n" not in cell.errors[0].strip()
        upstream = await kernel.run("%loom request --connection agents GET /api/workflows/nope")
        assert upstream.errors and "404" in upstream.errors[0], upstream.errors

        # no credential in the kernel: environment, outputs
        env = await kernel.ok("import os, json\nprint(json.dumps(dict(os.environ)))")
        environment = json.loads("".join(env.streams))
        assert json.loads(environment["LOOM_JUPYTER_CONNECTIONS"]) == {
            "default": "loom", "assets": "loom-v1", "assets-me": "loom-v1", "loomi": "openloomi",
            "agents": "nodeloom"}
        assert environment["LOOM_JUPYTER_PROXY_TOKEN"] == loom_proxy.proxy_token
        assert "LOOM_API_KEY" not in environment
        shown += [c.text() for c in (magic, sdk, table_cell, binary, events, weaver, refused,
                                     chat_v1, unknown, upstream)]
        no_credential(json.dumps(environment), secrets_held, jwts)
        no_credential("\n".join(shown), secrets_held, jwts)
    finally:
        await kernel.stop()


# -- the dashboard switches between the server's Loom connections --------------------------------
def one_loom_dashboard() -> None:
    from loom_jupyter.widgets.dashboard import WeaverDashboard

    with Loom() as default:
        dash = WeaverDashboard(default, autostart=False)
        try:  # only one Loom among the four connections: nothing to switch to
            assert dash.connection.layout.display == "none"
            assert dash.connection_name == "default"
        finally:
            dash.close()


async def test_dashboard_has_no_switch_with_one_loom(loom_proxy: LoomProxy) -> None:
    await asyncio.to_thread(one_loom_dashboard)


@pytest.mark.parametrize("staging", [True], indirect=True)
async def test_dashboard_switches_between_loom_connections(loom_proxy: LoomProxy,
                                                           staging: LocalLoom,
                                                           staging_key: str) -> None:
    def scenario() -> None:
        from loom_jupyter.widgets.dashboard import WeaverDashboard

        with Loom(url=staging.url, api_key=staging_key) as direct:
            weaver = direct.weavers.create("python:3.12", command=["sleep", "60"],
                                           tags={"suite": "switch"}, lifetime_hours=1)
            default = Loom()
            dash = WeaverDashboard(default, autostart=False)
            try:
                assert dash.connection.layout.display == "flex"
                assert tuple(dash.connection.options) == ("default", "staging")
                dash.refresh()
                assert weaver.id not in dash._table.weavers  # the default Loom's list
                dash.connection.value = "staging"  # what picking it in the dropdown does
                assert dash.connection_name == "staging"
                wait_until(lambda: weaver.id in dash._table.weavers, 20,
                           f"staging's weavers ({dash.message})")
                dash.switch("default")
                assert dash._client is default  # the magics' own client again, not a new one
                wait_until(lambda: weaver.id not in dash._table.weavers, 20, "default's weavers")
            finally:
                dash.close()
                default.close()
                direct.weavers.delete(weaver.id)

    await asyncio.to_thread(scenario)


async def test_a_password_typed_at_the_prompt_signs_the_server_in(
        loom_proxy: LoomProxy, jp_fetch: Any, jp_ws_fetch: Any,
        v1_standin: LoomV1StandIn) -> None:
    """`%loom login --connection NAME` for a password kind: getpass in the kernel, the Jupyter
    server signs in and keeps the token; the password is in no output, variable or history."""
    kernel = await Kernel(jp_fetch, jp_ws_fetch).start()
    try:
        await kernel.ok("%load_ext loom_jupyter")
        before = await kernel.run("%loom request --connection assets-me GET /api/v1/assets")
        assert len(before.errors) == 1 and "401" in before.errors[0], before.errors

        blind = await kernel.run("%loom login --connection assets-me")  # no stdin to ask on
        assert len(blind.errors) == 1 and "cannot ask for a password" in blind.errors[0]

        wrong = await kernel.run("%loom login --connection assets-me", stdin=["not-it"])
        assert len(wrong.errors) == 1 and "not-it" not in wrong.text(), wrong.errors

        signed = await kernel.run("%loom login --connection assets-me",
                                  stdin=[v1_standin.password])
        assert not signed.errors, signed.errors
        assert signed.prompts == [f"Password for {v1_standin.username} at {v1_standin.url}: "]
        assert "Signed in to assets-me" in "".join(signed.streams)
        listed = await kernel.ok("%loom request --connection assets-me GET /api/v1/assets")
        assert "items" in listed.text() or "uuid" in listed.text(), listed.text()

        hidden = await kernel.ok(
            "import os\nsecret = " + json.dumps(v1_standin.password) + "\n"
            "print(any(secret in v for v in os.environ.values()), "
            "any(secret in str(v) for k, v in globals().items()\n"
            "    if k not in ('secret', 'In') and not k.startswith('_')), "
            "sum(secret in h for h in In[:-1]))")
        assert "".join(hidden.streams).split() == ["False", "False", "0"], hidden.streams

        out = await kernel.ok("%loom logout --connection assets-me")
        assert "is signed out" in "".join(out.streams)
        after = await kernel.run("%loom request --connection assets-me GET /api/v1/assets")
        assert len(after.errors) == 1
    finally:
        await kernel.stop()
