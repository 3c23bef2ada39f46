"""Base model classes and the small shared response models (health, user, orgs, ws token)."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .._repr import fields_table, model_repr, table, to_pandas


class ResponseModel(BaseModel):
    """Frozen and lenient: a newer Loom adding fields must not break us."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    def __repr__(self) -> str:
        """Readable in a terminal: `created_at=2025-01-15T12:34:56.123Z` (fields hidden from
        the repr, such as credentials, stay hidden)."""
        return model_repr(type(self).__name__, self.__repr_args__())

    def __str__(self) -> str:
        return repr(self)

    def _repr_html_(self) -> str:
        return fields_table(((k, getattr(self, k)) for k in type(self).model_fields), type(self).__name__)


class RequestModel(BaseModel):
    """Strict: a misspelt field fails before anything is sent."""

    model_config = ConfigDict(extra="forbid")


M = TypeVar("M", bound=BaseModel)


class ModelList(list, Generic[M]):  # type: ignore[type-arg]
    """A plain list of models that also renders as a table and converts to pandas."""

    columns: ClassVar[tuple[str, ...]] = ()

    def __init__(self, items: Iterable[M] = ()) -> None:
        super().__init__(items)

    def _records(self) -> list[dict[str, Any]]:
        return [{c: getattr(item, c, None) for c in self.columns} for item in self]

    def to_pandas(self) -> Any:
        """One row per item (requires pandas)."""
        return to_pandas(self._records(), self.columns)

    def _repr_html_(self) -> str:
        rows = [[r[c] for c in self.columns] for r in self._records()]
        return table(rows, self.columns, f"{type(self).__name__} ({len(self)})")


class Health(ResponseModel):
    """`GET /health`; a 503 still carries this body (loom-api.md §7), components are open."""

    status: str
    timestamp: str | None = None
    duration_ms: float | None = None
    version: dict[str, Any] | str | None = None
    components: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status in ("healthy", "degraded")

    @property
    def server_version(self) -> str | None:
        """Loom's version string: `version` is an object with a `version` field (§7), or a string."""
        value = self.version.get("version") if isinstance(self.version, dict) else self.version
        return value if isinstance(value, str) and value else None


class User(ResponseModel):
    id: str
    display_name: str | None = None
    username: str | None = None
    email: str | None = None
    global_roles: list[str] = Field(default_factory=list)


class Org(ResponseModel):
    id: str
    name: str | None = None
    role: str | None = None


class OrgList(ModelList[Org]):
    columns = ("id", "name", "role")


class WsToken(ResponseModel):
    """A single-use WebSocket token (`ws_…`), valid for `expires_in` seconds."""

    token: str
    expires_in: int | None = None

    def __repr__(self) -> str:
        return f"WsToken(token='ws_…', expires_in={self.expires_in})"

    def _repr_html_(self) -> str:
        return fields_table([("token", "ws_… (hidden)"), ("expires_in", self.expires_in)], "WsToken")


class DeviceCode(ResponseModel):
    """`POST /api/auth/device/start` (loom-api.md §1.3). `device_code` is what the token is
    later paid out against: keep it with whoever polls, never show it."""

    device_code: str = Field(repr=False)
    user_code: str
    verification_url: str
    expires_in: int = 600


class DevicePoll(ResponseModel):
    """`POST /api/auth/device/poll`: `pending`, `completed` (with the `lt_` token) or `expired`."""

    status: str
    access_token: str | None = Field(default=None, repr=False)

    def _repr_html_(self) -> str:
        return fields_table([("status", self.status)], "DevicePoll")


class SignInState(ResponseModel):
    """`{base_url}loom/signin` of the Jupyter server extension: who is signed in where, or the
    code a person must approve. It never carries a token."""

    url: str = ""
    state: str  # "signed_out", "pending", "signed_in"
    credential: dict[str, Any] | None = None  # {"source": ..., "user": ...}
    user_code: str | None = None
    verification_url: str | None = None
    expires_in: int | None = None
    last_attempt: dict[str, str] | None = None

    @property
    def who(self) -> str | None:
        return (self.credential or {}).get("user")

    @property
    def source(self) -> str | None:
        return (self.credential or {}).get("source")
