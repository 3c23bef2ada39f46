"""Typed essentials of kind "loom-v1": `loom.assets` and `loom.pipelines` (seed 002)."""
from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pydantic

from .. import _validation as check
from .._base import Call
from .._errors import LoomValidationError
from .._retry import request
from ..resources._resource import Resource, Result
from ._common import Page, Record, iterate_flow, page_flow, records
from .base import Paging



def _items(data: Any) -> list[Any]:
    items = data.get("data") if isinstance(data, dict) else data
    return list(items) if isinstance(items, list) else []


def _page_count(data: Any) -> int | None:
    meta = data.get("_metainfo") if isinstance(data, dict) else None
    count = meta.get("pageCount") if isinstance(meta, dict) else None
    return count if isinstance(count, int) else None


# `?page=1&perPage=25` -> {"data": [...], "_metainfo": {"currentPage", "perPage", "pageCount", "totalCount"}}
PAGING = Paging(page_param="page", size_param="perPage", first_page=1, items=_items,
                page_count=_page_count)
EVENTS_PATH = "/api/v1/pipelines/events/ws"


class Asset(Record):
    uuid: str
    name: str | None = None
    mime_type: str | None = pydantic.Field(None, alias="mimeType")
    size: int | None = None
    sha512: str | None = None
    tags: list[Any] = pydantic.Field(default_factory=list)
    created: str | None = None
    edited: str | None = None


class Pipeline(Record):
    uuid: str
    name: str | None = None


def _id(field: str, value: str) -> str:
    return quote(check.non_empty(field, value), safe="")


class Assets(Resource):
    """`loom.assets` of a Loom v1 asset server."""

    def list(self, page: int | None = None, per_page: int | None = None) -> Result[Page]:
        """One page (pages count from 1): a list of Asset with `.page_count` and `.total`."""
        return self._client._run(page_flow(PAGING, "/api/v1/assets", Asset, self._policy,  # type: ignore[no-any-return]
                                           page, per_page))

    def iterate(self, per_page: int | None = None) -> Any:
        """Every asset, page after page."""
        return self._client._iterate(iterate_flow(PAGING, "/api/v1/assets", Asset, self._policy,
                                                  per_page))

    def get(self, uuid: str) -> Result[Asset]:
        call = Call("GET", f"/api/v1/assets/{_id('uuid', uuid)}", parse=Asset.model_validate,
                    idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def by_sha512(self, sha512: str) -> Result[Asset]:
        call = Call("GET", f"/api/v1/assets/sha512/{_id('sha512', sha512)}",
                    parse=Asset.model_validate, idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def create(self, name: str, mime_type: str | None = None) -> Result[Asset]:
        body: dict[str, Any] = {"name": check.non_empty("name", name, ident=False)}
        if mime_type is not None:
            body["mimeType"] = mime_type
        call = Call("POST", "/api/v1/assets", json=body, parse=Asset.model_validate)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def delete(self, uuid: str) -> Result[None]:
        call: Call[None] = Call("DELETE", f"/api/v1/assets/{_id('uuid', uuid)}", expect="empty",
                                idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def upload(self, uuid: str, data: bytes | str | Path, content_type: str | None = None
               ) -> Result[Asset]:
        """Store the asset's binary: `data` is bytes, or a path (str/Path) to a file to send."""
        body, guessed = _binary(data)
        call = Call("POST", f"/api/v1/assets/{_id('uuid', uuid)}/binary", content=body,
                    headers={"Content-Type": content_type or guessed}, parse=Asset.model_validate,
                    idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def download(self, uuid: str) -> Result[bytes]:
        """The asset's binary as bytes."""
        call: Call[bytes] = Call("GET", f"/api/v1/assets/{_id('uuid', uuid)}/binary",
                                 expect="bytes", headers={"Accept": "*/*"}, idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]


def _binary(data: bytes | str | Path) -> tuple[bytes, str]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data), "application/octet-stream"
    if isinstance(data, (str, Path)):
        path = Path(data).expanduser()
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise LoomValidationError("data", f"cannot read {str(path)!r} ({exc.strerror}).") from None
        return content, mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    raise LoomValidationError("data", f"expected bytes or a file path, got {type(data).__name__}.")


class Pipelines(Resource):
    """`loom.pipelines` of a Loom v1 asset server."""

    def list(self) -> Result[list[Pipeline]]:
        call = Call("GET", "/api/v1/pipelines", parse=records(Pipeline), idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def get(self, uuid: str) -> Result[Pipeline]:
        call = Call("GET", f"/api/v1/pipelines/{_id('uuid', uuid)}", parse=Pipeline.model_validate,
                    idempotent=True)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def create(self, name: str, **fields: Any) -> Result[Pipeline]:
        body = {"name": check.non_empty("name", name, ident=False), **fields}
        call = Call("POST", "/api/v1/pipelines", json=body, parse=Pipeline.model_validate)
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def run(self, uuid: str) -> Result[Any]:
        """Start a run (`POST /api/v1/pipelines/{uuid}/run`); its events arrive on `events()`."""
        call: Call[Any] = Call("POST", f"/api/v1/pipelines/{_id('uuid', uuid)}/run")
        return self._client._run(request(call, self._policy))  # type: ignore[no-any-return]

    def events(self) -> Any:
        """The live pipeline events WebSocket: iterate for dict events; `close()` (or `with`)."""
        return self._client._json_socket(EVENTS_PATH)
