"""A stream that breaks mid-answer: the partial text is kept and flagged (a stand-in Loom that hangs up)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from .conftest import run

WORDS = ["Partial ", "answer ", "so far"]


class _HangUp(BaseHTTPRequestHandler):
    """Speaks Loom's `/proxy/{provider}/stream` SSE framing (loom-api.md §5.5), then drops."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for word in WORDS:
            payload = json.dumps({"type": "text_delta", "content": word})
            self.wfile.write(f"event: llm\ndata: {payload}\n\n".encode())
            self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hangup_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HangUp)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_broken_stream_keeps_partial_text_and_flags_it(offline, magics, hangup_url, monkeypatch):
    monkeypatch.setenv("STANDIN_KEY", "lk_" + "a" * 64)
    assert run(offline, f"%loom connect {hangup_url} --api-key-env STANDIN_KEY --no-check").error is None
    magics.chat.reset()
    ran = run(offline, "%%loom chat\nhello")
    shown = [o.data["text/markdown"] for o in ran.io.outputs if "text/markdown" in o.data][-1]
    assert shown.startswith("".join(WORDS)) and "stream broke off" in shown
    assert magics.chat.messages[-1] == {"role": "assistant", "content": "".join(WORDS)}
    # Saving needs a thread API the stand-in lacks: that failure is one line, the answer stays.
    assert ran.usage_error()
    assert magics.chat.unsaved
