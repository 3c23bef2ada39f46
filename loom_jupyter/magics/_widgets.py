"""Lazy access to the widgets: ipywidgets/anywidget load only when a widget command runs."""
from __future__ import annotations

import importlib
import inspect
from typing import Any

from ._errors import MagicError


def make_widget(name: str, label: str, *args: Any, client: Any = None, **kwargs: Any) -> Any:
    """Build `loom_jupyter.widgets.<name>`, handing it our connection if it takes one."""
    try:
        cls = getattr(importlib.import_module("loom_jupyter.widgets"), name)
    except (ImportError, AttributeError) as exc:
        raise MagicError(f"The {label} widget is not available ({type(exc).__name__}: {exc}); "
                         "install loom-jupyter with ipywidgets and anywidget.") from None
    params: Any
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        params = {}
    if client is not None and "client" in params:
        kwargs["client"] = client
    return cls(*args, **{k: v for k, v in kwargs.items() if v is not None})
