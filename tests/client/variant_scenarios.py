"""The scenarios served by variant_app: every shape of loom-api.md §2 and §10, plus faults."""
from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone
from email.utils import formatdate
from urllib.parse import parse_qs

from tornado.iostream import StreamClosedError

from tests.client.variant_app import KEY, Handler, log_lines, scenario, sse_data, weaver

HTML = "<!doctype html><html><head><title>Loom</title></head><body><div id=app></div></body></html>"


def _error_shape(body: object, status: int, ctype: str = "application/json"):
    return lambda h, method, path: h.send(status, body, ctype)


SHAPES = {
    "shape-flat": (404, {"error": "weaver_not_found", "message": "Weaver not found: abc"}),
    "shape-nested": (404, {"error": {"code": "weaver_not_found", "message": "Weaver not found: abc"}}),
    "shape-code": (403, {"code": "forbidden", "message": "Support access not granted"}),
    "shape-status": (501, {"status": "not_implemented", "message": "Login is not implemented"}),
    "shape-text": (422, "Failed to deserialize the JSON body into the target type: missing field `tools`"),
    "shape-html": (500, "<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "shape-empty": (500, ""),
    "shape-401": (401, {"error": "unauthorized", "message": "Authentication required"}),
    "shape-echo": (400, {"error": "bad_request", "message": f"bad header Authorization: Bearer {KEY}"}),
}
for _name, (_status, _body) in SHAPES.items():
    _ctype = "application/json" if isinstance(_body, dict) else (
        "text/html" if str(_body).startswith("<") else "text/plain; charset=utf-8")
    scenario(_name)(_error_shape(_body, _status, _ctype))


@scenario("spa")
def spa(h: Handler, method: str, path: str) -> None:
    h.send(200, HTML, "text/html; charset=utf-8")


@scenario("rl503")
def rl503(h: Handler, method: str, path: str) -> None:
    h.send(503, {"error": "service_unavailable", "message": "LLM rate limited; retry after 30 seconds"})


@scenario("rl429")
def rl429(h: Handler, method: str, path: str) -> None:
    h.send(429, {"error": "rate_limited", "message": "slow down", "retry_after_secs": 12}, Retry_After="7")


@scenario("rl429-body")
def rl429_body(h: Handler, method: str, path: str) -> None:
    h.send(429, {"error": "rate_limited", "message": "slow down", "retry_after_secs": 12})


@scenario("unavailable")
def unavailable(h: Handler, method: str, path: str) -> None:
    h.send(503, {"error": "service_unavailable", "message": "Anthropic provider is not configured on the server"})


@scenario("flaky")
def flaky(h: Handler, method: str, path: str) -> None:
    """503 twice, then success: idempotent GETs retry, POSTs do not."""
    count = len(h.server.requests("flaky"))
    if count <= 2:
        h.send(503, {"error": "service_unavailable", "message": "try again later"})
    else:
        h.send(200, {"weavers": [weaver(1)], "count": 1})


@scenario("cleanup-omitted")
def cleanup_omitted(h: Handler, method: str, path: str) -> None:
    h.send(200, {"dry_run": True, "would_delete": ["a"], "count": 1})


@scenario("cleanup-null")
def cleanup_null(h: Handler, method: str, path: str) -> None:
    h.send(200, {"dry_run": False, "would_delete": None, "deleted": ["a", "b"], "count": 2})


@scenario("cleanup-spec")
def cleanup_spec(h: Handler, method: str, path: str) -> None:
    h.send(200, {"deleted_count": 2, "deleted_ids": ["a", "b"]})


@scenario("tag400")
def tag400(h: Handler, method: str, path: str) -> None:
    if "tag=" in h.request.query:
        h.send(400, "Failed to deserialize query string: invalid type: string, expected a sequence",
               "text/plain; charset=utf-8")
        return
    h.send(200, {"weavers": [weaver(1, tags={"project": "a"}), weaver(2, tags={"project": "b"}),
                             weaver(3, tags={"project": "a", "team": "t"})], "count": 3})


@scenario("bare")
def bare(h: Handler, method: str, path: str) -> None:
    h.send(200, [{"id": "T-1", "version": 2, "title": "one", "message_count": 1},
                 {"id": "T-2", "version": 1}])


@scenario("conflict")
def conflict(h: Handler, method: str, path: str) -> None:
    h.send(409, {"error": "conflict", "message": "Version conflict: expected 6, got 5",
                 "server_version": 6, "client_version": 5})


@scenario("badshape")
def badshape(h: Handler, method: str, path: str) -> None:
    h.send(200, {"weavers": [{"id": "x"}], "count": 1})


@scenario("slow")
async def slow(h: Handler, method: str, path: str) -> None:
    await asyncio.sleep(2)
    h.send(200, {"weavers": [], "count": 0})


# --- weaver create: the connection drops after (or before) the server acted -------------------

def _create_scenario(name: str, create_before_drop: bool) -> None:
    @scenario(name)
    def handler(h: Handler, method: str, path: str) -> None:
        made = h.server.state[name + ":weavers"]
        if method == "POST" and path == "api/weaver":
            body = h.body()
            attempt = len([r for r in h.server.requests(name) if r[1] == "POST"])
            if attempt == 1 and not create_before_drop:
                h.drop()
                return
            made.append(weaver(len(made) + 1, tags=body["tags"], image=body["image"]))
            if attempt == 1:
                h.drop()
            else:
                h.send(201, made[-1])
        elif method == "GET" and path == "api/weavers":
            wanted = [v.split(":", 1) for v in parse_qs(h.request.query).get("tag", [])]
            found = [w for w in made if all(w["tags"].get(k) == v for k, v in wanted)]
            h.send(200, {"weavers": found, "count": len(found)})
        elif path == "api/orgs":
            h.send(200, {"orgs": [{"id": "org-1", "name": "default", "role": "owner"}]})
        else:
            h.send(404, {"error": "not_found", "message": path})


_create_scenario("ambig-created", create_before_drop=True)
_create_scenario("ambig-lost", create_before_drop=False)


# --- weaver logs --------------------------------------------------------------------------------

def _chunks(text: str, size: int) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


async def _stream(h: Handler, chunks: list[str], drop_after: int | None = None) -> None:
    h.set_header("Content-Type", "text/event-stream")
    for i, chunk in enumerate(chunks):
        if drop_after is not None and i == drop_after:
            h.drop()
            return
        h.write(sse_data(chunk, crlf=i % 3 == 1))
        if i % 4 == 0:
            h.write(":keep-alive\n\n")
        if i % 5 == 0:
            h.write("data: keep-alive\n\n")
        await h.flush()
    h.finish()


@scenario("logs")
async def logs(h: Handler, method: str, path: str) -> None:
    if path.endswith("/logs"):
        text = "".join(line + "\n" for line in log_lines(12)) + "no newline at end"
        await _stream(h, _chunks(text, 17))
    else:
        h.send(200, {**weaver(1), "status": "succeeded"})


def _logdrop(name: str) -> None:
    scenario(name)(lambda h, method, path: logdrop(h, path, name))


async def logdrop(h: Handler, path: str, name: str) -> None:
    """First connection dies mid-line (inside a group of equal timestamps); later ones honour tail."""
    if not path.endswith("/logs"):
        h.send(200, {**weaver(1), "status": "succeeded"})
        return
    lines = log_lines(40)
    connection = len([r for r in h.server.requests(name) if r[2].endswith("/logs")])
    tail = parse_qs(h.request.query).get("tail")
    start = max(0, len(lines) - int(tail[0])) if tail else 0
    text = "".join(line + "\n" for line in lines[start:])
    if connection == 1:
        cut = text.index(lines[20]) + 30  # lines 18-20 share a timestamp; cut inside line 20
        await _stream(h, _chunks(text[:cut], 23) + ["unused"], drop_after=len(_chunks(text[:cut], 23)))
    elif connection == 2:
        h.set_header("Content-Type", "text/event-stream")
        h.write(sse_data(text[:10]))
        await h.flush()
        h.drop()  # a second drop before any complete line
    else:
        await _stream(h, _chunks(text, 29))


_logdrop("logdrop")
_logdrop("logdrop-async")


def group_lines() -> list[str]:
    """log_lines(40), but lines 18-26 share one timestamp (a burst stamped at once)."""
    lines = log_lines(40)
    stamp = lines[18].split(" ", 1)[0]
    return [f"{stamp} {line.split(' ', 1)[1]}" if 18 <= i <= 26 else line
            for i, line in enumerate(lines)]


@scenario("loggroup")
async def loggroup(h: Handler, method: str, path: str) -> None:
    """The first connection ends after line 20 (the cursor: 3 lines of the burst 18-26). By the
    second, the log has grown to 19 + tail lines: that replay begins at line 19, inside the
    burst, with no older line. Later (wider) ones see the same finished log."""
    if not path.endswith("/logs"):
        h.send(200, {**weaver(1), "status": "succeeded"})
        return
    connection = len([r for r in h.server.requests("loggroup") if r[2].endswith("/logs")])
    tail = int(parse_qs(h.request.query).get("tail", ["1000000"])[0])
    if connection == 2:
        h.server.state["loggroup:total"] = [min(40, 19 + tail)]
    total = h.server.state["loggroup:total"][0] if connection > 1 else 21
    lines = group_lines()[:total]
    text = "".join(line + "\n" for line in lines[max(0, total - tail):])
    chunks = _chunks(text, 31)
    if connection == 1:  # dropped right after line 20
        await _stream(h, [*chunks, "unused"], drop_after=len(chunks))
    else:
        await _stream(h, chunks)


# --- a log route that follows whatever it is asked (loom-api.md §4.6) ---------------------------

LIVE_EVERY = 0.05  # seconds between the lines a running weaver prints after the replay
KEEPALIVE_EVERY = 0.2  # seconds between keep-alive comments (Loom's own: 15 s)
SKEW = timedelta(hours=-1)  # "-skewed": the server's clock (its Date and the lines' stamps)


def live_stamp(skew: timedelta = timedelta(0)) -> str:
    """Now, as K8s stamps a line (RFC3339Nano, UTC), on a clock `skew` off the client's."""
    return (datetime.now(timezone.utc) + skew).strftime("%Y-%m-%dT%H:%M:%S.%f000Z")


def _always_follow(name: str, live: bool, keepalive: float = KEEPALIVE_EVERY,
                   skew: timedelta = timedelta(0), date: bool = True) -> None:
    """Replays the asked tail of log_lines(40) (stamped in the past), then never ends: with
    `live`, a new line `live N` stamped now every LIVE_EVERY s; keep-alives every `keepalive` s.
    Live lines are numbered from 0 on each connection and noted in state[name + ":live"].
    `follow=false` is ignored. `skew` sets the server's clock (its Date header and the stamps);
    without `date` no Date header is sent."""
    @scenario(name)
    async def handler(h: Handler, method: str, path: str) -> None:
        if not path.endswith("/logs"):
            h.send(200, weaver(1))
            return
        lines = log_lines(40)
        tail = parse_qs(h.request.query).get("tail")
        text = "".join(line + "\n" for line in lines[max(0, len(lines) - int(tail[0])) if tail else 0:])
        h.set_header("Content-Type", "text/event-stream")
        if date:
            h.set_header("Date", formatdate((datetime.now(timezone.utc) + skew).timestamp(),
                                             usegmt=True))
        else:
            h.clear_header("Date")
        try:
            for chunk in _chunks(text, 23):
                h.write(sse_data(chunk))
            await h.flush()
            await _keep_printing(h, name, live, keepalive, skew)
        except StreamClosedError:
            return  # the client left



async def _keep_printing(h: Handler, name: str, live: bool, keepalive: float,
                         skew: timedelta) -> None:
    printed = h.server.state[name + ":live"]
    next_keepalive, count = time.monotonic() + keepalive, 0
    while True:
        await asyncio.sleep(LIVE_EVERY if live else keepalive)
        if live:
            h.write(sse_data(f"{live_stamp(skew)} live {count}\n"))
            count += 1
            printed.append(count)
        if time.monotonic() >= next_keepalive:
            h.write(":keep-alive\n\n")
            next_keepalive += keepalive
        await h.flush()


_always_follow("logs-always-follow", live=True)
_always_follow("logs-always-follow-async", live=True)
_always_follow("logs-always-follow-skewed", live=True, skew=SKEW)
_always_follow("logs-always-follow-nodate", live=True, date=False)
_always_follow("logs-always-follow-quiet", live=False)
_always_follow("logs-always-follow-silent", live=False, keepalive=15.0)  # no byte for 15 s


# --- LLM streams -------------------------------------------------------------------------------

def _llm(payloads: list[str], named: bool = True) -> str:
    prefix = "event: llm\n" if named else ""
    return "".join(f"{prefix}data: {p}\n\n" for p in payloads)


DELTAS = ['{"type":"text_delta","content":"Hel"}', '{"type":"text_delta","content":"lo"}']
COMPLETED = ('{"type":"completed","response":{"message":{"role":"assistant","content":"Hello"},'
             '"tool_calls":[],"usage":{"input_tokens":3,"output_tokens":2},"finish_reason":"end_turn"}}')
SERVER_QUERY = '{"type":"server_query","id":"Q-1","kind":{"type":"read_file","path":"/x"}}'
TOOL = '{"type":"tool_call_delta","call_id":"toolu_1","tool_name":"read_file","arguments_fragment":"{\\"path\\":"}'


def _llm_scenario(name: str, text: str) -> None:
    @scenario(name)
    async def handler(h: Handler, method: str, path: str) -> None:
        h.server.state[name + ":bodies"].append(h.body())
        h.set_header("Content-Type", "text/event-stream")
        for chunk in _chunks(text, 11):
            h.write(chunk)
            await h.flush()
        h.finish()


_llm_scenario("llm-named", _llm(DELTAS + [TOOL, COMPLETED]))
_llm_scenario("llm-unnamed", _llm(DELTAS[:1] + [SERVER_QUERY] + DELTAS[1:] + [COMPLETED], named=False))
_llm_scenario("llm-truncated", _llm(DELTAS))
_llm_scenario("llm-error", _llm(DELTAS[:1] + [
    '{"type":"error","message":"Rate limited: retry after Some(30) seconds"}']))
_llm_scenario("llm-other-events", "event: ping\ndata: {}\n\n: comment\n\n" + _llm(DELTAS + [COMPLETED]))
