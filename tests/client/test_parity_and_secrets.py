"""Loom and AsyncLoom expose the same surface; the key never leaks into reprs, errors, logs, tracebacks."""
from __future__ import annotations

import inspect
import logging
import traceback

import pytest

from loom_jupyter.client import (
    AsyncLoom,
    AsyncTerminalSession,
    Loom,
    LoomError,
    TerminalSession,
    resolve_settings,
)
from tests.client.variant_app import KEY

PAIRED = {"close": "aclose"}


def _public(obj) -> dict[str, inspect.Signature]:
    out = {}
    for name in dir(obj):
        if name.startswith("_"):
            continue
        value = getattr(obj, name)
        if callable(value) and not inspect.isclass(value):
            out[PAIRED.get(name, name)] = inspect.signature(value)
    return out


def test_clients_have_the_same_methods_and_signatures():
    sync, asyn = Loom("http://127.0.0.1:1", "k"), AsyncLoom("http://127.0.0.1:1", "k")
    assert _public(sync) == _public(asyn)
    for resource in ("weavers", "threads", "llm", "auth"):
        a, b = getattr(sync, resource), getattr(asyn, resource)
        assert _public(a) == _public(b), resource
        assert _public(a), resource
    assert inspect.iscoroutinefunction(AsyncLoom.aclose)
    sync.close()


def test_async_resource_methods_are_awaitable():
    client = AsyncLoom("http://127.0.0.1:1", "k")
    pending = client.weavers.get("x")
    assert inspect.isawaitable(pending)
    pending.close()
    assert hasattr(client.weavers.logs("x"), "__aiter__")


def test_terminal_sessions_mirror_each_other():
    assert _public(TerminalSession) == _public(AsyncTerminalSession)
    for name in ("send", "recv", "close"):
        assert inspect.iscoroutinefunction(getattr(AsyncTerminalSession, name))


def test_repr_hides_the_key():
    client = Loom("http://127.0.0.1:1", KEY)
    assert KEY not in repr(client) and KEY not in str(client)
    assert KEY not in repr(client._settings) and KEY not in str(vars(client))
    assert KEY not in repr(resolve_settings("http://x", KEY))
    client.close()


@pytest.mark.parametrize("scenario", ["shape-echo", "shape-401", "ws-echo"])
def test_key_absent_from_errors_logs_and_tracebacks(variants, caplog, scenario):
    caplog.set_level(logging.DEBUG)
    for name in ("httpx", "httpcore", "websockets", "loom_jupyter"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    texts = []
    with Loom(f"{variants.url}/{scenario}", KEY, max_retries=0) as client:
        with client.weavers.attach("w1") if scenario == "ws-echo" else _nothing() as term:
            if term is not None:
                term.send("x")
                term.recv(timeout=2)
        for call in (lambda: client.weavers.get("abc"), lambda: list(client.weavers.logs("a", follow=False)),
                     lambda: client.weavers.attach("w1") if scenario != "ws-echo" else client.threads.get("T")):
            try:
                call()
            except LoomError as exc:
                texts += [str(exc), repr(exc), repr(getattr(exc, "body", "")), traceback.format_exc()]
    assert texts, "the calls were expected to fail"
    assert caplog.records, "debug logging was expected to capture something"
    for text in texts + [caplog.text] + [str(r.__dict__) for r in caplog.records]:
        assert KEY not in text


class _nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False
