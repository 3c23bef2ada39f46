"""`POST /api/weaver` bodies checked before anything starts: one 400 naming the field (§4.2)."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .errors import InvalidLifetime, InvalidRequest

MAX_LIFETIME_HOURS = 48
DEFAULT_LIFETIME_HOURS = 24  # the public docs' default (a); real servers default to 4 (§10.12)
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_QUANTITY = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?\d+)?\Z")
_BINARY: dict[str, int] = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL: dict[str, Decimal | int] = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10**3,
            "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18}
_TAG_KEY_MAX, _TAG_VALUE_MAX, _TEXT_MAX = 128, 256, 4096


@dataclass(frozen=True)
class WeaverSpec:
    image: str
    org_id: str
    env: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    lifetime_hours: int = DEFAULT_LIFETIME_HOURS
    command: list[str] | None = None
    args: list[str] | None = None
    workdir: str | None = None
    memory_limit: str | None = None
    cpu_limit: str | None = None

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory_limit is None else int(quantity(self.memory_limit))


def _bad(message: str) -> InvalidRequest:
    return InvalidRequest(message)


def quantity(text: str) -> Decimal:
    """A Kubernetes quantity (`512Mi`, `2`, `500m`, `1e3`) as a number; ValueError otherwise."""
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(text)
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix in _DECIMAL:
        return number * _DECIMAL[suffix]
    try:
        return number * Decimal(f"1{suffix}") if suffix else number
    except InvalidOperation:
        raise ValueError(text) from None


def _text(name: str, value: Any, *, limit: int = _TEXT_MAX, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty):
        raise _bad(f"{name} must be a non-empty string")
    if len(value) > limit or "\x00" in value:
        raise _bad(f"{name} is too long or contains a NUL character")
    return value


def _string_map(name: str, value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _bad(f"{name} must be an object of strings")
    return dict(value)


def _env(value: Any) -> dict[str, str]:
    env = _string_map("env", value)
    for key, item in env.items():
        if not _ENV_NAME.match(key):
            raise _bad(f"env: {key!r} is not a valid variable name")
        _text(f"env.{key}", item, empty=True)
    return env


def _tags(value: Any) -> dict[str, str]:
    tags = _string_map("tags", value)
    for key, item in tags.items():
        if not key or len(key) > _TAG_KEY_MAX or ":" in key or _CONTROL.search(key):
            raise _bad(f"tags: {key!r} is not a valid tag key (1-{_TAG_KEY_MAX} characters, "
                       "no ':' or control characters)")
        if len(item) > _TAG_VALUE_MAX or _CONTROL.search(item):
            raise _bad(f"tags.{key}: value too long or contains control characters")
    return tags


def _lifetime(value: Any) -> int:
    if value is None:
        return DEFAULT_LIFETIME_HOURS
    if not isinstance(value, int) or isinstance(value, bool):
        raise _bad("lifetime_hours must be an integer")
    if value > MAX_LIFETIME_HOURS:
        raise InvalidLifetime(f"{value} hours exceeds max {MAX_LIFETIME_HOURS} hours")
    if value < 1:
        raise InvalidLifetime(
            f"lifetime_hours must be between 1 and {MAX_LIFETIME_HOURS}, got {value}")
    return value


def _argv(name: str, value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{name} must be a list of strings")
    return [_text(f"{name}[{i}]", v, empty=True) for i, v in enumerate(value)]


def _resources(value: Any) -> tuple[str | None, str | None]:
    res = _string_map("resources", value)
    if unknown := set(res) - {"memory_limit", "cpu_limit"}:
        raise _bad(f"resources: unknown field(s) {sorted(unknown)}")
    for key, text in res.items():
        try:
            if quantity(text) <= 0:
                raise ValueError(text)
        except ValueError:
            raise _bad(f"resources.{key}: {text!r} is not a Kubernetes quantity such as "
                       "'8Gi' or '500m'") from None
    return res.get("memory_limit"), res.get("cpu_limit")


def _org_id(value: Any) -> str:
    try:
        return str(uuid.UUID(_text("org_id", value, limit=64)))
    except ValueError:
        raise _bad("org_id must be a UUID") from None


def parse_create(body: dict[str, Any]) -> WeaverSpec:
    """The weaver to start, or the first problem as a 400 (nothing has changed yet)."""
    image = _text("image", body.get("image"), limit=512)
    if _CONTROL.search(image):
        raise _bad("image contains control characters")
    command = _argv("command", body.get("command"))
    if command == []:
        raise _bad("command must not be an empty list")
    workdir = body.get("workdir")
    memory, cpu = _resources(body.get("resources"))
    return WeaverSpec(
        image=image, org_id=_org_id(body.get("org_id")), env=_env(body.get("env")),
        tags=_tags(body.get("tags")), lifetime_hours=_lifetime(body.get("lifetime_hours")),
        command=command, args=_argv("args", body.get("args")),
        workdir=None if workdir is None else _text("workdir", workdir),
        memory_limit=memory, cpu_limit=cpu)
