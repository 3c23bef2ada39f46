"""The frames between the local server and a weaver host, over the host's Unix socket.

A frame is one kind byte, a 4-byte big-endian length and that many bytes. The host sends
OUTPUT (the first one, on connect, is its recent scrollback; possibly empty); the server sends
INPUT (raw bytes for the terminal), TERMINATE (SIGHUP + SIGTERM to the weaver's session) and
KILL (SIGKILL to it). Standard library only: the host process imports this too.
"""
from __future__ import annotations

import struct

OUTPUT, INPUT, TERMINATE, KILL = b"o", b"i", b"t", b"k"
KINDS = (OUTPUT, INPUT, TERMINATE, KILL)
_HEADER = struct.Struct(">cI")
MAX_FRAME = 16 * 1024 * 1024


class WireError(ValueError):
    """A frame that is not one of ours: the peer is not speaking this protocol."""


def frame(kind: bytes, payload: bytes = b"") -> bytes:
    return _HEADER.pack(kind, len(payload)) + payload


class FrameReader:
    """`feed(data)` as bytes arrive returns every frame it completed, as (kind, payload)."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[bytes, bytes]]:
        self._buffer += data
        out = []
        while len(self._buffer) >= _HEADER.size:
            kind, size = _HEADER.unpack_from(self._buffer)
            if kind not in KINDS or size > MAX_FRAME:
                raise WireError(f"bad frame {kind!r} of {size} bytes")
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            out.append((kind, bytes(self._buffer[_HEADER.size:end])))
            del self._buffer[:end]
        return out
