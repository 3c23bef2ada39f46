"""What a %loom command raises, and every SDK error said in the user's words (the one place).

The SDK's sentences speak HTTP (`GET /api/weaver/01a2... failed with HTTP 404 (...)`): right for
code, wrong for a person at a notebook. `in_user_words` turns an error into one sentence that
names the object and the next step; the HTTP detail stays on the exception, shown with
`%config LoomMagics.show_tracebacks = True`.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any


class MagicError(Exception):
    """A user-facing problem: the message is one sentence that says what to do."""


class ArgumentsError(MagicError):
    """The command line did not parse (unknown option, missing argument, bad quoting)."""


class HelpShown(Exception):
    """`--help` printed the usage: not an error, just the end of the command."""


class SecretOnCommandLine(MagicError):
    """A literal credential was typed on the command line and refused."""


# SDK argument names as a %loom user typed them.
OPTIONS = {"lifetime_hours": "--lifetime", "resources.memory": "--memory",
           "resources.memory_limit": "--memory", "resources.cpu": "--cpu",
           "resources.cpu_limit": "--cpu", "tags": "--tag", "env": "--env", "status": "--status",
           "tail": "--tail", "workdir": "--workdir", "org_id": "--org"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\Z")
_HOW = ("%config LoomMagics.show_tracebacks = True shows the details")


@dataclass(frozen=True)
class Target:
    """What a request was about: `what` ("weaver 01a2..."), `doing` ("deleting weaver 01a2...")."""

    kind: str  # weaver, weavers, thread, threads, provider, other
    what: str
    doing: str
    ident: str = ""

    @property
    def act(self) -> str:
        """`doing` as an infinitive: "deleting weaver X" -> "delete weaver X"."""
        verb, _, rest = self.doing.partition(" ")
        base = {"reading": "read", "deleting": "delete", "saving": "save", "creating": "create",
                "changing": "change", "attaching": "attach", "asking": "ask",
                "cleaning": "clean", "listing": "list"}.get(verb)
        return f"{base} {rest}" if base else f"send {self.doing}"


_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"/api/weaver/(?P<id>[^/?]+)/logs\Z"), "log"),
    (re.compile(r"/api/weaver/(?P<id>[^/?]+)/attach\Z"), "attach"),
    (re.compile(r"/api/weaver/(?P<id>[^/?]+)\Z"), "weaver"),
    (re.compile(r"/api/weaver\Z"), "create"),
    (re.compile(r"/api/weavers/cleanup\Z"), "cleanup"),
    (re.compile(r"/api/weavers\Z"), "weavers"),
    (re.compile(r"/api/threads/(?P<id>[^/?]+)\Z"), "thread"),
    (re.compile(r"/api/threads\Z"), "threads"),
    (re.compile(r"/proxy/(?P<id>[^/?]+)/(complete|stream)\Z"), "provider"),
]
_VERBS = {"GET": "reading", "DELETE": "deleting", "PUT": "saving", "POST": "creating",
          "PATCH": "changing"}


def target(method: str, path: str) -> Target:
    """The object behind `method path` (matched on the path's end, so proxy prefixes pass)."""
    path = path.split("?", 1)[0].rstrip("/")
    for pattern, kind in _ROUTES:
        match = pattern.search(path)
        if match is None:
            continue
        ident = match.groupdict().get("id") or ""
        verb = _VERBS.get(method.upper(), method.lower())
        if kind == "log":
            return Target("weaver", f"Weaver {ident}", f"reading the log of weaver {ident}", ident)
        if kind == "attach":
            return Target("weaver", f"Weaver {ident}", f"attaching to weaver {ident}", ident)
        if kind in ("weaver", "thread"):
            return Target(kind, f"{kind.capitalize()} {ident}", f"{verb} {kind} {ident}", ident)
        if kind == "provider":
            return Target(kind, f"Provider {ident!r}", f"asking provider {ident!r}", ident)
        doing = {"create": "creating a weaver", "cleanup": "cleaning up expired weavers",
                 "weavers": "listing weavers", "threads": "listing threads"}[kind]
        return Target(kind, kind, doing)
    return Target("other", path, f"{method.upper()} {path}")


def server_message(exc: Any) -> str:
    """What the server said, without the SDK's `METHOD PATH failed with HTTP N (code):` head."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error")
        said = inner.get("message") if isinstance(inner, dict) else body.get("message") or body.get("detail")
        if isinstance(said, str) and said.strip():
            return said.strip().rstrip(".")
    text = str(exc)
    _, sep, rest = text.partition("): ") if "): " in text else text.partition(": ")
    return (rest if sep else text).strip().rstrip(".")


def did_you_mean(word: str, choices: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(word.lower(), choices, n=1, cutoff=0.75)
    return f" (did you mean {close[0]}?)" if close else ""


def in_user_words(exc: BaseException) -> str:
    """One sentence for any SDK error: what happened to which object, and what to do next."""
    from loom_jupyter import client as c

    if isinstance(exc, c.LoomValidationError):
        option = OPTIONS.get(exc.field)
        text = str(exc)
        return text.replace(f"Invalid {exc.field}:", f"Invalid {option}:", 1) if option else text
    if isinstance(exc, c.AuthenticationError) and exc.code == "not_signed_in":
        return server_message(exc) + "."  # the Jupyter server's own hint, already one sentence
    if isinstance(exc, c.APIStatusError) and exc.method and exc.path:
        return _status_sentence(exc, target(exc.method, exc.path))
    return f"{exc}{hint(exc)}"


def _status_sentence(exc: Any, t: Target) -> str:
    from loom_jupyter import client as c

    said, status = server_message(exc), exc.status_code
    who = getattr(exc, "platform", None) or "Loom"  # another kind of connection says its name
    if isinstance(exc, c.NotFoundError) and exc.code != "route_not_served":
        return _not_found(t, said)
    if isinstance(exc, c.BadRequestError) and t.kind == "weaver" and not _UUID.match(t.ident):
        return (f"{t.ident!r} is not a weaver id (weaver ids look like "
                "018f6b2a-3b4c-7d8e-9f0a-1b2c3d4e5f6a); %loom weavers lists yours.")
    if isinstance(exc, c.AuthenticationError):
        return (f"{who} did not accept your credential while {t.doing}: check the API key, or "
                "sign in with %loom login (%loom status shows where the connection comes from).")
    if isinstance(exc, c.PermissionDeniedError):
        return f"You may not {t.act}: {said}; your key's role does not allow it."
    if isinstance(exc, c.RateLimitError):
        wait = (f" (retry after {exc.retry_after:g} seconds)"
                if exc.retry_after and "retry after" not in said.lower() else "")
        return f"{who} is busy and refused to {t.act}{wait}: {said}. Try again in a moment."
    if isinstance(exc, c.ConflictError):
        return f"{t.what} changed elsewhere while {t.doing}: {said}; read it again and retry."
    if isinstance(exc, c.ServiceUnavailableError):
        return f"{who} cannot {t.act} now: {said}."
    if status >= 500:
        return (f"{who} failed while {t.doing}: {said}. Try again in a moment; %loom status "
                "checks the server.")
    if exc.code == "route_not_served":
        return f"This server does not offer {t.doing} (it answered with a web page instead); {_HOW}."
    return f"{who} refused to {t.act}: {said}."


def _not_found(t: Target, said: str) -> str:
    if t.kind == "weaver":
        return f"{t.what} was not found: it may already be deleted; %loom weavers lists yours."
    if t.kind == "thread":
        return f"{t.what} was not found: it may have been deleted; %loom threads lists yours."
    if t.kind == "provider":
        from loom_jupyter.client.models.providers import PROVIDERS  # not at %load_ext: no httpx yet

        known = ", ".join(PROVIDERS)
        return (f"Loom has no LLM provider {t.ident!r}{did_you_mean(t.ident, PROVIDERS)}; "
                f"pass --provider NAME (Loom's providers: {known}).")
    return f"Not found while {t.doing}: {said}."


def hint(exc: BaseException) -> str:
    """The next step for an error that is not about one object (no URL, no connection, ...)."""
    from loom_jupyter import client as c

    hints: list[tuple[type, str]] = [
        (c.LoomConfigError, " Run %loom connect URL --api-key-env NAME, or set LOOM_URL and LOOM_API_KEY."),
        (c.AuthenticationError, " Check the API key, or sign in with %loom login (%loom status "
         "shows where the connection comes from)."),
        (c.PermissionDeniedError, " Your key's role does not allow this."),
        (c.APIConnectionError, " Is Loom running and reachable? %loom status checks."),
    ]
    text = str(exc)
    for cls, extra in hints:
        if isinstance(exc, cls) and "%loom" not in text:
            return extra
    return ""
