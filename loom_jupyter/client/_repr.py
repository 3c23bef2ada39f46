"""HTML tables and pandas conversion for notebook display; all text goes through html.escape."""
from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

_STYLE = "border-collapse:collapse;font-size:90%"


def cell(value: Any) -> str:
    """One escaped table cell; dicts render as k=v pairs, datetimes without microseconds."""
    if value is None:
        text = ""
    elif isinstance(value, datetime):
        text = value.replace(microsecond=0).isoformat()
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items())
    elif isinstance(value, float):
        text = f"{value:.2f}"
    else:
        text = str(value)
    return f"<td style='text-align:left;padding:2px 8px'>{html.escape(text)}</td>"


def table(rows: Iterable[Sequence[Any]], columns: Sequence[str], caption: str | None = None) -> str:
    """A small self-contained HTML table."""
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in rows)
    cap = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return f"<table style='{_STYLE}'>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def fields_table(pairs: Iterable[tuple[str, Any]], caption: str | None = None) -> str:
    """A two-column field/value table for a single object."""
    return table(((name, value) for name, value in pairs), ("field", "value"), caption)


def to_pandas(records: list[dict[str, Any]], columns: Sequence[str]) -> Any:
    """A DataFrame of the records (pandas is optional: the error says how to get it)."""
    try:
        import pandas as pd
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("to_pandas() needs pandas: pip install pandas") from exc
    return pd.DataFrame.from_records(records, columns=list(columns))


def value_text(value: Any) -> str:
    """A field's value in a model's text repr: datetimes as ISO 8601 in UTC (`...Z`), not
    `datetime.datetime(..., tzinfo=TzInfo(0))`; everything else as `repr`."""
    if isinstance(value, datetime):
        if value.tzinfo is not None and value.utcoffset() == timedelta(0):
            return value.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
        return value.isoformat(timespec="milliseconds")
    return repr(value)


def model_repr(name: str, pairs: Iterable[tuple[str | None, Any]]) -> str:
    """`Weaver(id='01a2...', status='running', created_at=2025-01-15T12:34:56.123Z, ...)`."""
    return f"{name}({', '.join(f'{k}={value_text(v)}' if k else value_text(v) for k, v in pairs)})"
