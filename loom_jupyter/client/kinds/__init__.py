"""The registry of connection kinds. Adding a kind: one module with a `KIND`, one line below."""
from __future__ import annotations

import difflib

from .._errors import LoomConfigError
from .base import Kind, Paging, Token, jwt_expiry
from .loom import KIND as _LOOM
from .loom_v1 import KIND as _LOOM_V1
from .nodeloom import KIND as _NODELOOM
from .openloomi import KIND as _OPENLOOMI

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        _LOOM,
        _LOOM_V1,
        _OPENLOOMI,
        _NODELOOM,
    )
}


def get_kind(name: str) -> Kind:
    """The kind called `name`; LoomConfigError (with a "did you mean") for an unknown one."""
    if name in KINDS:
        return KINDS[name]
    close = difflib.get_close_matches(str(name), list(KINDS), n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    known = ", ".join(repr(k) for k in KINDS)
    raise LoomConfigError(f"Unknown connection kind {name!r} (known kinds: {known}).{hint}")


__all__ = ["KINDS", "Kind", "Paging", "Token", "get_kind", "jwt_expiry"]
