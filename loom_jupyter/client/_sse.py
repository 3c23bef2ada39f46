"""Sans-I/O Server-Sent Events decoding, shared by the sync and async clients."""
from __future__ import annotations

import codecs
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    event: str = "message"
    data: str = ""
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Feed raw bytes in any chunking; get complete events out (WHATWG event-stream rules).

    Lines end with CRLF, CR or LF (a CR at a chunk's end waits for a possible LF); comment
    lines are dropped; `data:` lines of one event are joined with LF; an event is dispatched
    at a blank line, and one left incomplete at end of stream is discarded, as the spec says.
    """

    def __init__(self) -> None:
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self._pending_cr = False
        self._reset()
        self.last_event_id: str | None = None

    def _reset(self) -> None:
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for line in self._lines(self._utf8.decode(chunk)):
            event = self._line(line)
            if event is not None:
                events.append(event)
        return events

    @property
    def pending(self) -> bool:
        """Part of an event has arrived (a field or a line of one)."""
        return bool(self._partial or self._data)

    def cut_off(self) -> list[str]:
        """The `data:` fields of a message event cut off before its blank line. The spec drops
        them; a stream whose fields are whole lines of text (Loom's log stream, loom-api.md
        §4.6: every LF of a chunk starts a new field) may keep all but the last."""
        return list(self._data) if self._event in ("", "message") else []

    def _lines(self, text: str) -> list[str]:
        if self._pending_cr:
            self._pending_cr = False
            text = text.removeprefix("\n")
        if text.endswith("\r"):
            self._pending_cr = True
            text = text[:-1] + "\n"
        text = self._partial + text
        parts = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._partial = parts.pop()
        return parts

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if self._id is not None:
            self.last_event_id = self._id
        if not self._data:
            self._reset()
            return None
        event = ServerSentEvent(
            event=self._event or "message", data="\n".join(self._data), id=self._id, retry=self._retry
        )
        self._reset()
        return event
