"""`{name}` in a %%loom chat cell comes from the notebook's variables; `{{` and `}}` are literal braces."""
from __future__ import annotations

import string
from typing import Any
from collections.abc import Mapping

from ._errors import MagicError

_FORMATTER = string.Formatter()


def expand(template: str, namespace: Mapping[str, Any]) -> str:
    """Fill `{name}`, `{name.attr}`, `{name[key]}` (and `!r`, `:spec`) from `namespace`.

    Only lookups, never evaluation: a cell is text for a model, not code to run.
    """
    try:
        pieces = list(_FORMATTER.parse(template))
    except ValueError:
        raise MagicError("The chat message has an unmatched { or }; write {{ and }} for literal braces.") from None
    out: list[str] = []
    for literal, field, spec, conversion in pieces:
        out.append(literal)
        if field is not None:
            out.append(_field(field, spec or "", conversion, namespace))
    return "".join(out)


def _field(field: str, spec: str, conversion: str | None, namespace: Mapping[str, Any]) -> str:
    literal = "{{" + field + "}}"
    if not field.strip():
        raise MagicError("The chat message has an empty {}; write {{}} for literal braces.")
    try:
        value, _ = _FORMATTER.get_field(field, (), namespace)
    except KeyError as exc:
        name = exc.args[0] if exc.args else field
        raise MagicError(f"{{{field}}} in the chat message: {name!r} is not defined in the notebook; "
                         f"define it, or write {literal} to keep the braces.") from None
    except (AttributeError, IndexError, TypeError) as exc:
        raise MagicError(f"{{{field}}} in the chat message could not be looked up ({exc}); "
                         f"write {literal} to keep the braces.") from None
    try:
        return _FORMATTER.format_field(_FORMATTER.convert_field(value, conversion), spec)
    except (ValueError, TypeError) as exc:
        raise MagicError(f"{{{field}}} in the chat message could not be formatted ({exc}).") from None
