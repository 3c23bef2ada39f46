"""`loom-jupyter doctor`: what is configured and what is reachable, without printing secrets."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

Check = tuple[str, str, str]  # (state "ok" | "warn" | "fail", topic, detail)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default=None, help="Loom URL to check (default: from the environment)")


def run(args: argparse.Namespace) -> int:
    """Print one line per check; exit 1 when any check fails."""
    checks = [_configuration(args.url), _bundle(), _extension_config(), _lab_panel()]
    checks += _connection(args.url)
    for state, topic, detail in checks:
        print(f"[{state:>4}] {topic}: {detail}")
    return 1 if any(state == "fail" for state, _, _ in checks) else 0


def _configuration(url: str | None) -> Check:
    from .client._settings import KEY_ENV, PROXY_URL_ENV, URL_ENV

    proxy = os.environ.get(PROXY_URL_ENV)
    direct = url or os.environ.get(URL_ENV)
    if direct and not os.environ.get(KEY_ENV):
        return ("warn", "connection", f"direct mode, {URL_ENV}={direct}, but {KEY_ENV} is not "
                "set: only Loom's public routes will answer")
    if direct:
        return ("ok", "connection", f"direct mode, {URL_ENV}={direct}, {KEY_ENV} set (hidden)")
    if proxy:
        return ("ok", "connection", f"proxy mode through the Jupyter server at {proxy}")
    return ("fail", "connection", "neither LOOM_URL nor the Jupyter proxy is configured; "
            "run `loom-jupyter lab`, or set LOOM_URL and LOOM_API_KEY")


def _bundle() -> Check:
    static = Path(__file__).parent / "widgets" / "static" / "terminal.js"
    if static.exists():
        return ("ok", "terminal widget", f"bundle built ({static.stat().st_size // 1024} KiB)")
    return ("warn", "terminal widget", "bundle missing; reinstall with `pip install -e .` (needs npm)")


def _extension_config() -> Check:
    name = "jupyter_server_config.d/loom_jupyter.json"
    places = [Path(sys.prefix) / "etc" / "jupyter" / name, Path(__file__).parents[1] / "jupyter-config" / name]
    if any(p.exists() for p in places):
        return ("ok", "server extension", "enabled by " + name)
    return ("warn", "server extension", f"{name} not installed; the /loom/ proxy will be off")


def _lab_panel(places: list[str] | None = None) -> Check:
    """The prebuilt labextension (the Loom panel) where JupyterLab looks for one (`places`:
    the labextensions directories, Jupyter's own list by default)."""
    if places is None:
        from jupyter_core.paths import jupyter_path

        places = jupyter_path("labextensions")
    for place in places:
        manifest = Path(place) / "loom-jupyter" / "package.json"
        if manifest.is_file():
            try:
                version = json.loads(manifest.read_text()).get("version", "?")
            except (OSError, ValueError):
                return ("warn", "Lab panel", f"{manifest} is unreadable; reinstall loom-jupyter")
            return ("ok", "Lab panel", f"labextension {version} in {place}")
    return ("warn", "Lab panel", "the labextension is not installed, so JupyterLab shows no Loom "
            "panel; reinstall loom-jupyter (its wheel carries it), or `make labext` in a checkout")


def _connection(url: str | None) -> list[Check]:
    try:
        from .client import Loom, LoomError
    except ImportError as exc:  # pragma: no cover - a broken install
        return [("fail", "client", f"cannot import the SDK: {exc}")]
    try:
        client = Loom(url=url) if url else Loom()
    except LoomError as exc:
        return [("fail", "client", str(exc))]
    with client:
        checks = [_probe("server", lambda: _health(client))]
        if client.mode == "proxy":
            checks.append(_probe("credential", lambda: _held_by_server(client)))
        return [*checks, _probe("identity", lambda: _me(client))]


def _probe(topic: str, fn: Callable[[], str]) -> Check:
    try:
        return ("ok", topic, fn())
    except Exception as exc:  # every SDK error str() is one sentence without the key
        return ("fail", topic, str(exc))


def _health(client: object) -> str:
    health = client.health()  # type: ignore[attr-defined]
    version = f"version {health.server_version}" if health.server_version else "unknown version"
    return f"{client.url} is {health.status} ({version})"  # type: ignore[attr-defined]


def _held_by_server(client: object) -> str:
    """In proxy mode the Jupyter server holds the credential: where it comes from, and whose."""
    state = client.signin.state()  # type: ignore[attr-defined]
    if not state.credential:
        raise RuntimeError("the Jupyter server holds no Loom credential: run %loom login")
    who = f" ({state.who})" if state.who else ""
    return f"held by the Jupyter server: {state.source}{who}"


def _me(client: object) -> str:
    me = client.me()  # type: ignore[attr-defined]
    roles = ", ".join(getattr(me, "global_roles", None) or []) or "no global roles"
    return f"authenticated as {me.display_name} ({roles})"
