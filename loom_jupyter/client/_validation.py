"""Check user input before the network, so mistakes are one clear line naming the field."""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._errors import LoomValidationError
from .models.tags import check_tag_key, format_tag_filter, parse_tag_filter, tag_filter_pair

MAX_LIFETIME_HOURS = 48
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Kubernetes resource quantity: decimal number, then a binary/decimal suffix or an exponent.
_QUANTITY = re.compile(r"\+?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?\Z")
_RESOURCE_ALIASES = {"memory": "memory_limit", "cpu": "cpu_limit",
                     "memory_limit": "memory_limit", "cpu_limit": "cpu_limit"}


def lifetime(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise LoomValidationError("lifetime_hours", f"expected a whole number of hours, got {value!r}.")
    if not 1 <= value <= MAX_LIFETIME_HOURS:
        raise LoomValidationError("lifetime_hours", f"must be between 1 and {MAX_LIFETIME_HOURS}, got {value}.")
    return value


def tag_dict(tags: Mapping[str, Any] | None, field: str = "tags") -> dict[str, str]:
    """Tags to attach at create: string keys of a label-like shape, string values without ':' trouble."""
    if tags is None:
        return {}
    if not isinstance(tags, Mapping):
        raise LoomValidationError(field, f"expected a dict of key -> value, got {type(tags).__name__}.")
    out: dict[str, str] = {}
    for key, value in tags.items():
        try:
            check_tag_key(key)
        except ValueError as exc:
            raise LoomValidationError(field, str(exc)) from None
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or "\n" in str(value):
            raise LoomValidationError(field, f"tag {key!r} needs a single-line string value, got {value!r}.")
        out[key] = str(value)
    return out


def tag_filters(tags: Any) -> list[str]:
    """`tags=` of list(): a dict, or `key:value` strings, checked by the one tag parser."""
    if tags is None:
        return []
    try:
        if isinstance(tags, Mapping):
            pairs = [tag_filter_pair(k, v) for k, v in tags.items()]
        else:
            pairs = [parse_tag_filter(str(t)) for t in ([tags] if isinstance(tags, str) else tags)]
    except ValueError as exc:
        raise LoomValidationError("tags", str(exc)) from None
    return [format_tag_filter(k, v) for k, v in pairs]


def env(values: Mapping[str, Any] | None) -> dict[str, str]:
    if values is None:
        return {}
    out: dict[str, str] = {}
    for name, value in values.items():
        if not isinstance(name, str) or not _ENV_NAME.match(name):
            raise LoomValidationError("env", f"{name!r} is not a valid environment variable name.")
        if value is None:
            raise LoomValidationError("env", f"{name} has no value (None).")
        out[name] = str(value)
    return out


def resources(values: Mapping[str, Any] | None) -> dict[str, str]:
    """`{"memory": "8Gi", "cpu": "2"}` (or memory_limit/cpu_limit) as Kubernetes quantities."""
    if values is None:
        return {}
    out: dict[str, str] = {}
    for key, value in values.items():
        wire = _RESOURCE_ALIASES.get(key)
        if wire is None:
            raise LoomValidationError("resources", f"unknown key {key!r}; use 'memory' and/or 'cpu'.")
        text = str(value).strip()
        if isinstance(value, bool) or not _QUANTITY.match(text) or float(_number(text)) <= 0:
            raise LoomValidationError(
                f"resources.{key}", f"{value!r} is not a Kubernetes quantity such as '8Gi', '512Mi', '2' or '500m'."
            )
        out[wire] = text
    return out


def _number(text: str) -> str:
    match = re.match(r"\+?(\d+(\.\d*)?|\.\d+)", text)
    return match.group(1) if match else "0"


def non_empty(field: str, value: Any, ident: bool = True) -> str:
    if not isinstance(value, str) or not value.strip():
        raise LoomValidationError(field, f"expected a non-empty string, got {value!r}.")
    if ident and any(c in value for c in "/?#"):
        raise LoomValidationError(field, f"{value!r} contains characters not allowed in an id.")
    return value


def string_list(field: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str) or not all(isinstance(v, str) for v in value):
        raise LoomValidationError(field, "expected a list of strings.")
    return list(value)
