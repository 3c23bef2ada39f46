"""HTTP/WS handlers; each module exposes `ROUTES` (tornado patterns) and `OPENAPI_PATHS`.

`local/app.py` builds the application from exactly these modules and fails loudly when one is
missing. A module may also expose `OPENAPI_SCHEMAS` (merged into `components.schemas`).
"""
from __future__ import annotations

MODULES: tuple[str, ...] = (
    "auth", "device_page", "orgs", "threads", "health", "sessions_ws", "openapi", "weavers", "llm",
)
