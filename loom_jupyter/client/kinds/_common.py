"""What the typed essentials of the other kinds share: a lenient record model, pages, and
OpenAI-style and named-event text streams (all sans-I/O flows)."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar, cast

import pydantic

from .._base import Call, CloseStream, Emit, Flow, ReadStream
from .._errors import APIConnectionError, LoomError, LoomValidationError, StreamError
from .._retry import RetryPolicy, request
from .._sse import ServerSentEvent, SSEDecoder
from .base import Paging

R = TypeVar("R", bound="Record")
# No keep-alives are documented for these streams: a model may think for a long time.
STREAM_READ_TIMEOUT = 300.0


class Record(pydantic.BaseModel):
    """A platform object: the documented fields typed, every other field kept as it came."""

    model_config = pydantic.ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class Page(list):  # type: ignore[type-arg]
    """One page of records; `page` (the platform's own numbering), `page_count`, `total`."""

    def __init__(self, items: Iterable[Any], page: int, page_count: int | None,
                 total: int | None) -> None:
        super().__init__(items)
        self.page = page
        self.page_count = page_count
        self.total = total

    def __repr__(self) -> str:
        return f"Page(page={self.page}, page_count={self.page_count}, items={list.__repr__(self)})"


def records(model: type[R]) -> Callable[[Any], list[R]]:
    def parse(data: Any) -> list[R]:
        items = data.get("data", data.get("content")) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise TypeError("expected a list")
        return [model.model_validate(item) for item in items]

    return parse


def query(**params: Any) -> list[tuple[str, str]] | None:
    """Query parameters without the ones left out (None); booleans as true/false."""
    pairs = [(k, ("true" if v else "false") if isinstance(v, bool) else str(v))
             for k, v in params.items() if v is not None]
    return pairs or None


def page_flow(
    paging: Paging, path: str, model: type[R], policy: RetryPolicy, page: int | None,
    size: int | None, params: Mapping[str, Any] | None = None,
) -> Flow[Page]:
    """GET one page of `path` in the kind's paging convention."""
    number = paging.first_page if page is None else page
    args = dict(params or {})
    args[paging.page_param] = number
    args[paging.size_param] = size

    def parse(data: Any) -> Page:
        items = [model.model_validate(item) for item in paging.items(data)]
        total = data.get("totalElements", (data.get("_metainfo") or {}).get("totalCount")) \
            if isinstance(data, dict) else None
        return Page(items, number, paging.page_count(data), total if isinstance(total, int) else None)

    call = Call("GET", path, params=query(**args), parse=parse, idempotent=True)
    return (yield from request(call, policy))


def iterate_flow(
    paging: Paging, path: str, model: type[R], policy: RetryPolicy, size: int | None,
    params: Mapping[str, Any] | None = None,
) -> Flow[None]:
    """Every record of every page, one page request at a time."""
    number = paging.first_page
    while True:
        page = yield from page_flow(paging, path, model, policy, number, size, params)
        for item in page:
            yield Emit(item)
        last = paging.first_page + (page.page_count or 0) - 1
        if not page or (page.page_count is not None and number >= last):
            return
        number += 1


def chat_messages(messages: Any, field: str = "messages") -> list[dict[str, Any]]:
    """A str is one user message; otherwise a list of {'role','content'} dicts."""
    if isinstance(messages, str):
        if not messages:
            raise LoomValidationError(field, "the message is empty.")
        return [{"role": "user", "content": messages}]
    if isinstance(messages, (bytes, Mapping)) or not isinstance(messages, Iterable):
        raise LoomValidationError(field, "expected a str or a list of {'role', 'content'} messages.")
    items = [dict(m) for m in messages if isinstance(m, Mapping)]
    if not items or len(items) != len(list(messages)):
        raise LoomValidationError(field, "expected a non-empty list of {'role', 'content'} dicts.")
    return items


TextOf = Callable[[ServerSentEvent], "str | bool | None"]


def text_stream_flow(call: Call[Any], policy: RetryPolicy, what: str, text_of: TextOf) -> Flow[None]:
    """Open an SSE stream and emit the text chunks `text_of` finds; `text_of` returns True at the
    terminal event and raises StreamError for an error event. An end before it is a StreamError."""
    handle = yield from request(call, policy, stream=True)
    decoder, parts = SSEDecoder(), cast("list[str]", [])
    while True:
        try:
            chunk = yield ReadStream(handle)
        except APIConnectionError as exc:
            raise StreamError(f"The {what} was cut off: {exc}", partial_text="".join(parts)) from exc
        if chunk is None:
            raise StreamError(f"The {what} ended before the answer was complete.",
                              partial_text="".join(parts))
        for sse in decoder.feed(chunk):
            try:
                found = text_of(sse)
            except StreamError as exc:
                raise StreamError(exc.message, partial_text="".join(parts)) from None
            if found is True:
                yield CloseStream(handle)
                return
            if isinstance(found, str) and found:
                parts.append(found)
                yield Emit(found)


def json_data(sse: ServerSentEvent) -> Any:
    try:
        return json.loads(sse.data)
    except ValueError:
        return None


def stream_call(path: str, body: dict[str, Any]) -> Call[Any]:
    return Call("POST", path, json=body, expect="sse", headers={"Accept": "text/event-stream"},
                read_timeout=STREAM_READ_TIMEOUT)


def collect(flow: Flow[Any], finish: Callable[[list[Any]], Any] = list) -> Flow[Any]:
    """Run an emitting flow to its end, keeping what it emits; the result is `finish(items)`."""
    items: list[Any] = []
    value: Any = None
    error: LoomError | None = None
    try:
        while True:
            try:
                op = flow.throw(error) if error else flow.send(value)
            except StopIteration:
                return finish(items)
            value, error = None, None
            if isinstance(op, Emit):
                items.append(op.value)
                continue
            try:
                value = yield op
            except LoomError as exc:
                error = exc
    finally:
        flow.close()
