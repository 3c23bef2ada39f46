"""The sans-I/O SSE decoder under every chunking: CRLF, CR, split lines, comments, multi-line data."""
from __future__ import annotations

import pytest

from loom_jupyter.client._sse import ServerSentEvent, SSEDecoder

STREAM = (
    b": comment at start\r\n"
    b"event: llm\r\ndata: {\"a\":1}\r\n\r\n"
    b"data: line one\ndata: line two\ndata:\n\n"
    b"data:no-space\rid: 7\r\r"
    b":keep-alive\n\n"
    b"event: error\ndata: boom \xc3\xa9\n\n"
    b"retry: 100\ndata:  leading space kept\n\n"
    b"event: ignored-without-data\n\n"
    b"data: incomplete at eof"
)
EXPECTED = [
    ServerSentEvent("llm", '{"a":1}'),
    ServerSentEvent("message", "line one\nline two\n"),
    ServerSentEvent("message", "no-space", id="7"),
    ServerSentEvent("error", "boom é"),
    ServerSentEvent("message", " leading space kept", retry=100),
]


def _decode(chunks):
    decoder = SSEDecoder()
    return [event for chunk in chunks for event in decoder.feed(chunk)]


def test_whole_stream():
    assert _decode([STREAM]) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7, 13])
def test_every_chunk_size(size):
    assert _decode([STREAM[i:i + size] for i in range(0, len(STREAM), size)]) == EXPECTED


def test_every_single_split_point():
    for cut in range(len(STREAM)):
        assert _decode([STREAM[:cut], STREAM[cut:]]) == EXPECTED, cut


def test_cr_at_chunk_end_then_lf():
    assert _decode([b"data: x\r", b"\n\r", b"\n"]) == [ServerSentEvent("message", "x")]


def test_last_event_id_persists():
    decoder = SSEDecoder()
    decoder.feed(b"id: 3\ndata: a\n\n")
    assert decoder.last_event_id == "3"
