"""`{name}` in a %%loom chat cell and on any %loom line comes from the notebook's variables;
`{{` and `}}` are literal braces. One rule for both (`expand`), so a line and a cell body never
disagree: lookups only (`{name}`, `{name.attr}`, `{name[key]}`, with `!r` and `:spec`), never
evaluation, and an undefined name is refused, never sent literally.
"""
from __future__ import annotations

import string
from typing import Any
from collections.abc import Mapping, Sequence

from ._errors import MagicError

_FORMATTER = string.Formatter()
CELL = "the chat message"
LINE = "the %loom line"


def expand(template: str, namespace: Mapping[str, Any], where: str = CELL) -> str:
    """Fill `{name}`, `{name.attr}`, `{name[key]}` (and `!r`, `:spec`) from `namespace`.

    Only lookups, never evaluation: a cell is text for a model, not code to run.
    """
    try:
        pieces = list(_FORMATTER.parse(template))
    except ValueError:
        raise MagicError(f"{_cap(where)} has an unmatched {{ or }}; write {{{{ and }}}} for literal "
                         "braces.") from None
    out: list[str] = []
    for literal, field, spec, conversion in pieces:
        out.append(literal)
        if field is not None:
            out.append(_field(field, spec or "", conversion, namespace, where))
    return "".join(out)


def expand_tokens(tokens: Sequence[str], namespace: Mapping[str, Any]) -> list[str]:
    """The words of a %loom line, each expanded by the cell body's rule (so a value with
    spaces stays one argument). Words without braces are left exactly as typed."""
    from ._parser import Comment

    return [expand(t, namespace, LINE) if ("{" in t or "}" in t) and not isinstance(t, Comment)
            else t for t in tokens]


def _cap(where: str) -> str:
    return where[:1].upper() + where[1:]


def _field(field: str, spec: str, conversion: str | None, namespace: Mapping[str, Any],
           where: str) -> str:
    literal = "{{" + field + "}}"
    if not field.strip():
        raise MagicError(f"{_cap(where)} has an empty {{}}; write {{{{}}}} for literal braces.")
    try:
        value, _ = _FORMATTER.get_field(field, (), namespace)
    except KeyError as exc:
        name = exc.args[0] if exc.args else field
        raise MagicError(f"{{{field}}} in {where}: {name!r} is not defined in the notebook; "
                         f"define it, or write {literal} to keep the braces.") from None
    except (AttributeError, IndexError, TypeError) as exc:
        raise MagicError(f"{{{field}}} in {where} could not be looked up ({exc}); "
                         f"write {literal} to keep the braces.") from None
    try:
        return _FORMATTER.format_field(_FORMATTER.convert_field(value, conversion), spec)
    except (ValueError, TypeError) as exc:
        raise MagicError(f"{{{field}}} in {where} could not be formatted ({exc}).") from None
