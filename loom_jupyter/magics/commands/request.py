"""`%loom request [--connection NAME] METHOD PATH [--json ... | --json-file F] [--param k=v]`:
any route of the connection's platform; the parsed JSON answer shown compactly (lists of
objects, and the items of a paged answer, as a table), `-o VAR` keeps it."""
from __future__ import annotations

import json
from argparse import Namespace
from pathlib import Path
from typing import Any

from .._errors import ArgumentsError, MagicError

SUMMARY = ("Send any request to the connection's platform (--connection NAME): METHOD PATH "
           "[--json '{...}'] [--param k=v]; -o VAR keeps the JSON (--dataframe: a DataFrame).")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
#: Where a paged answer keeps its items: loom-v1 `data`, NodeLoom (Spring) `content`, Loom `items`.
ITEM_KEYS = ("data", "content", "items")
MAX_COLUMNS = 10
MAX_ROWS = 50
MAX_CELL = 40  # characters of one table cell
SHORT = 100  # an answer up to this many characters is printed on one line


def configure(parser: Any) -> None:
    from .._parser import add_output_options, key_value

    parser.add_argument("method", type=str.upper, choices=METHODS, metavar="METHOD",
                        help=f"one of {', '.join(METHODS)}")
    parser.add_argument("path", help="the route, e.g. /api/v1/assets (the connection's own API)")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--json", metavar="JSON", help="the JSON body, quoted: --json '{\"name\": \"x\"}'")
    body.add_argument("--json-file", metavar="PATH", help="read the JSON body from this file")
    parser.add_argument("--param", action="append", type=key_value, default=[], metavar="K=V",
                        help="a query parameter (repeatable)")
    add_output_options(parser, "the parsed JSON answer")
    parser.epilog = ("--connection NAME (any %loom command) sends it to that connection of the "
                     "Jupyter server; %loom connections lists them.")


def read_body(args: Namespace) -> Any:
    if args.json is not None:
        text, where = args.json, "--json"
    elif args.json_file is not None:
        path = Path(args.json_file).expanduser()
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise MagicError(f"Cannot read the JSON file {path}: {exc.strerror or exc}.") from None
        where = str(path)
    else:
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ArgumentsError(f"%loom request: {where} is not JSON ({exc}).") from None


def items_of(answer: Any) -> list[Any] | None:
    """The list of objects in an answer: the answer itself, or a paged answer's items."""
    if isinstance(answer, dict):
        answer = next((answer[k] for k in ITEM_KEYS if isinstance(answer.get(k), list)), None)
    if isinstance(answer, list) and answer and all(isinstance(i, dict) for i in answer):
        return answer
    return None


def columns_of(items: list[dict[str, Any]]) -> list[str]:
    found: dict[str, None] = {}
    for item in items:
        found.update(dict.fromkeys(item))
    return list(found)[:MAX_COLUMNS]


def compact(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= SHORT else json.dumps(value, ensure_ascii=False, indent=1)


def paging_note(answer: Any, count: int) -> str:
    """What a paged answer says about the other pages (v1 `_metainfo`, Spring page fields)."""
    if not isinstance(answer, dict):
        return f"{count} items"
    found = answer.get("_metainfo")
    meta: dict[str, Any] = found if isinstance(found, dict) else answer
    page = meta.get("currentPage", meta.get("number"))
    pages = meta.get("pageCount", meta.get("totalPages"))
    total = meta.get("totalCount", meta.get("totalElements"))
    note = f"{count} items"
    if isinstance(total, int):
        note += f" of {total}"
    if isinstance(page, int) and isinstance(pages, int):
        shown = page if "currentPage" in meta else page + 1  # Spring pages count from 0
        note += f", page {shown} of {pages}"
    return note


def table_bundle(items: list[dict[str, Any]], caption: str) -> dict[str, str]:
    from .._display import table_html, table_text

    columns = columns_of(items)
    rows = [[_cell(item.get(c)) for c in columns] for item in items[:MAX_ROWS]]
    more = f"… and {len(items) - MAX_ROWS} more" if len(items) > MAX_ROWS else ""
    text = table_text(columns, rows) + (f"\n{more}" if more else "")
    return {"text/plain": f"{caption}\n{text}",
            "text/html": table_html(columns, rows, caption) + (f"<p>{more}</p>" if more else "")}


def _cell(value: Any) -> Any:
    """A table cell: objects as JSON, long text cut (the stored answer keeps it whole)."""
    if isinstance(value, (dict, list)) and value:
        value = json.dumps(value, ensure_ascii=False)
    if isinstance(value, str) and len(value) > MAX_CELL:
        return value[:MAX_CELL - 1] + "…"
    return value


def stored(answer: Any, dataframe: bool) -> Any:
    if not dataframe:
        return answer
    import pandas as pd

    items = items_of(answer)
    if items is not None:
        return pd.DataFrame(items)
    if isinstance(answer, dict):
        return pd.DataFrame([answer])
    if isinstance(answer, list):
        return pd.DataFrame({"value": answer})
    raise MagicError("--dataframe needs a JSON object or list; the answer was "
                     f"{type(answer).__name__}: drop --dataframe.")


def run(magics: Any, args: Namespace, cell: str | None) -> Any:
    from IPython.display import display

    from loom_jupyter.client import APIStatusError

    from .._parser import check_output_options

    check_output_options(args, "request")
    body = read_body(args)
    client = magics.client
    try:
        answer = client.request(args.method, args.path, params=dict(args.param) or None, json=body)
    except APIStatusError as exc:  # the platform's own words, in the SDK's one sentence
        raise MagicError(str(exc)) from None
    if args.output:
        magics.shell.user_ns[args.output] = stored(answer, args.dataframe)
        kind = type(magics.shell.user_ns[args.output]).__name__
        size = getattr(magics.shell.user_ns[args.output], "shape", None)
        shape = f" ({size[0]} rows x {size[1]} columns)" if size is not None else ""
        print(f"{args.output} = the answer of {args.method} {args.path} as a {kind}{shape}.")
        return None
    if answer is None:
        print(f"{args.method} {args.path}: done (empty answer).")
        return None
    items = items_of(answer)
    if items is not None:
        display(table_bundle(items, paging_note(answer, len(items))), raw=True)
        return None
    print(compact(answer))
    return None
