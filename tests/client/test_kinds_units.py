"""Connection kinds, pure parts: JWT expiry, error shapes, rate-limit waits, token files,
the registry, connection settings in a kernel, raw request paths and feature errors."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from loom_jupyter.client import (
    AsyncLoom,
    AuthenticationError,
    Loom,
    LoomConfigError,
    LoomValidationError,
    NotFoundError,
    RateLimitError,
    UnsupportedFeatureError,
)
from loom_jupyter.client._problems import build_error
from loom_jupyter.client._settings import resolve_connection
from loom_jupyter.client.kinds import KINDS, get_kind, jwt_expiry
from loom_jupyter.client.kinds.base import Token
from loom_jupyter.client.kinds.session import Session
from loom_jupyter.client.resources._resource import raw_call


def b64url(data: dict | str) -> str:
    raw = data.encode() if isinstance(data, str) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwt(payload: dict | str) -> str:
    return f"{b64url({'alg': 'HS256'})}.{b64url(payload)}.c2lnbmF0dXJl"


# -- JWT expiry -------------------------------------------------------------------------------

@pytest.mark.parametrize(("token", "expected"), [
    (jwt({"sub": "a", "exp": 1700000000}), 1700000000.0),
    (jwt({"sub": "a", "exp": 1700000000.25}), 1700000000.25),
    (jwt({"sub": "a"}), None),
    (jwt({"exp": True}), None),
    (jwt({"exp": "1700000000"}), None),
    (jwt("not json"), None),
    (f"{b64url({'alg': 'HS256'})}.W10.sig", None),  # claims are a JSON list
    ("only.two", None),
    ("a.%%%.c", None),
    ("", None),
])
def test_jwt_expiry_reads_only_a_numeric_exp(token, expected):
    assert jwt_expiry(token) == expected


def test_token_expiry_and_repr_hide_the_secret():
    token = Token(jwt({"exp": 100}), 100.0)
    assert token.expired(100.0) and not token.expired(99.0) and token.expired(99.9, margin=0.2)
    assert not Token("x", None).expired(1e12)
    assert token.secret not in repr(token)


# -- error shapes ---------------------------------------------------------------------------

def _error(kind: str, status: int, body: dict, headers: dict | None = None):
    hdrs = httpx.Headers({"content-type": "application/json", **(headers or {})})
    return build_error("GET", "/api/x", status, hdrs, json.dumps(body).encode(), ["s3cr3t-key"],
                       get_kind(kind))


def test_each_kind_reads_its_own_error_shape_into_one_sentence():
    v1 = _error("loom-v1", 404, {"message": "Cannot find asset with uuid 'abc'", "statusCode": 404})
    assert isinstance(v1, NotFoundError)
    assert str(v1) == "GET /api/x failed with HTTP 404: Cannot find asset with uuid 'abc'."
    loomi = _error("openloomi", 400, {"error": "Invalid request body", "code": "validation_error",
                                      "cause": "messages: Required"})
    assert str(loomi) == ("GET /api/x failed with HTTP 400 (validation_error): "
                          "Invalid request body: messages: Required.")
    assert loomi.code == "validation_error"
    node = _error("nodeloom", 400, {"status": 400, "error": "Bad Request",
                                    "message": "Workflow name is required",
                                    "timestamp": "2026-02-17T10:30:00.000Z", "path": "/api/x"})
    assert str(node) == "GET /api/x failed with HTTP 400 (Bad Request): Workflow name is required."
    loom = _error("loom", 404, {"error": "not_found", "message": "no such weaver"})
    assert str(loom) == "GET /api/x failed with HTTP 404 (not_found): no such weaver."


def test_error_messages_never_carry_a_credential_and_stay_on_one_line():
    err = _error("loom-v1", 401, {"message": "bad token s3cr3t-key\nsecond line", "statusCode": 401})
    assert isinstance(err, AuthenticationError)
    assert "s3cr3t-key" not in str(err) and "\n" not in str(err) and "[redacted]" in str(err)


def test_nodeloom_429_waits_until_the_reset_header(monkeypatch):
    monkeypatch.setattr("loom_jupyter.client._problems.time.time", lambda: 1000.0)
    err = _error("nodeloom", 429, {"status": 429, "error": "Too Many Requests",
                                   "message": "Rate limit exceeded"},
                 {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0",
                  "X-RateLimit-Reset": "1003"})
    assert isinstance(err, RateLimitError) and err.retry_after == 3.0
    assert str(err) == ("GET /api/x failed with HTTP 429 (Too Many Requests): Rate limit "
                        "exceeded; wait 3 seconds before retrying.")


@pytest.mark.parametrize(("headers", "expected"), [
    ({"X-RateLimit-Reset": "1005"}, 5.0),
    ({"x-ratelimit-reset": "990"}, 0.0),  # already past: retry at once
    ({"X-RateLimit-Reset": "soon", "Retry-After": "7"}, 7.0),
    ({"Retry-After": "2"}, 2.0),
    ({}, None),
])
def test_nodeloom_rate_limit_wait(headers, expected):
    assert get_kind("nodeloom").rate_limit_wait(headers, 1000.0) == expected


def test_other_kinds_use_retry_after():
    for name in ("loom", "loom-v1", "openloomi"):
        kind = get_kind(name)
        assert kind.rate_limit_wait({"Retry-After": "4"}, 0.0) == 4.0
        assert kind.rate_limit_wait({"X-RateLimit-Reset": "9"}, 0.0) is None


# -- the openloomi token file ---------------------------------------------------------------

def test_token_file_holds_base64_of_the_jwt(tmp_path: Path):
    token = jwt({"exp": 2000000000})
    path = tmp_path / "token"
    encoded = base64.b64encode(token.encode()).decode()
    path.write_text(encoded[:10] + "\n" + encoded[10:] + "\n\n")
    assert get_kind("openloomi").read_token_file(str(path)) == token


@pytest.mark.parametrize("content", ["", "not base64 at all!", base64.b64encode(b"plain text").decode(),
                                     base64.b64encode(b"\xff\xfe.a.b").decode()])
def test_a_token_file_without_a_jwt_is_a_config_error(tmp_path: Path, content: str):
    path = tmp_path / "token"
    path.write_text(content)
    with pytest.raises(LoomConfigError, match="does not hold a base64-encoded JWT"):
        get_kind("openloomi").read_token_file(str(path))


def test_a_missing_token_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(LoomConfigError, match="Cannot read the openloomi token file"):
        get_kind("openloomi").read_token_file(str(tmp_path / "absent"))


# -- the registry ---------------------------------------------------------------------------

def test_registry_names_match_and_unknown_kinds_suggest_a_name():
    assert set(KINDS) == {"loom", "loom-v1", "openloomi", "nodeloom"}
    assert all(k.name == name for name, k in KINDS.items())
    with pytest.raises(LoomConfigError, match="Did you mean 'nodeloom'"):
        get_kind("node-loom")


@pytest.mark.parametrize(("kind", "path", "denied"), [
    ("loom", "/api/orgs/o1/api-keys", True), ("loom", "/api/weavers", False),
    ("loom-v1", "/api/v1/auth/login", True), ("loom-v1", "/api/v1/tokens/abc", True),
    ("loom-v1", "/api/v1/users/u1", True), ("loom-v1", "/api/v1/users", False),
    ("loom-v1", "/api/v1/assets", False),
    ("openloomi", "/api/remote-auth/login", True), ("openloomi", "/api/remote-auth/refresh", True),
    ("openloomi", "/api/auth/set-token", True), ("openloomi", "/api/user/password", True),
    ("openloomi", "/api/ai/chat", False), ("openloomi", "/api/user/identity", False),
    ("nodeloom", "/api/sdk-tokens", True), ("nodeloom", "/api/tokens/1", True),
    ("nodeloom", "/api/auth/login", True), ("nodeloom", "/api/workflows", False),
])
def test_credential_routes(kind, path, denied):
    assert (get_kind(kind).credential_routes.match(path) is not None) is denied


def test_sign_in_routes_are_credential_routes():
    for kind in KINDS.values():
        if kind.login is not None:
            call = kind.login("who", "pw")
            assert kind.credential_routes.match(call.path), kind.name
            assert call.path.lstrip("/").startswith(kind.route_families)


# -- connections in a kernel ----------------------------------------------------------------

PROXY = {"LOOM_JUPYTER_PROXY_URL": "http://127.0.0.1:8888/loom/",
         "LOOM_JUPYTER_PROXY_TOKEN": "jupyter-token-1234",
         "LOOM_JUPYTER_CONNECTIONS": json.dumps({"default": "loom", "assets": "loom-v1",
                                                 "agents": "nodeloom"})}


def test_a_named_connection_goes_through_its_proxy_prefix():
    settings = resolve_connection("assets", environ=PROXY)
    assert settings.url == "http://127.0.0.1:8888/loom/connections/assets/"
    assert settings.mode == "proxy" and settings.kind == "loom-v1"
    assert settings.auth_headers() == {"Authorization": "token jupyter-token-1234"}
    assert resolve_connection("default", environ=PROXY).url == "http://127.0.0.1:8888/loom/"


def test_an_unknown_connection_lists_the_known_ones():
    with pytest.raises(LoomConfigError) as info:
        resolve_connection("asets", environ=PROXY)
    assert str(info.value) == ("Unknown connection 'asets': this Jupyter server has 'agents', "
                               "'assets', 'default'.")


def test_connection_outside_a_kernel_and_kind_mismatch_are_config_errors():
    with pytest.raises(LoomConfigError, match="works in a kernel"):
        resolve_connection("assets", environ={})
    with pytest.raises(LoomConfigError, match="is a loom-v1 connection, not nodeloom"):
        resolve_connection("assets", kind="nodeloom", environ=PROXY)


def test_loom_connection_reads_the_kernel_environment(monkeypatch):
    for name, value in PROXY.items():
        monkeypatch.setenv(name, value)
    loom = Loom(connection="agents")
    try:
        assert (loom.kind, loom.connection, loom.mode) == ("nodeloom", "agents", "proxy")
        assert loom.url.endswith("/loom/connections/agents/")
        assert "jupyter-token-1234" not in repr(loom)
        assert hasattr(loom, "workflows") and not hasattr(loom, "weavers")
        with pytest.raises(UnsupportedFeatureError) as info:
            loom.weavers.list()
        assert isinstance(info.value, LoomConfigError)
        assert str(info.value) == ("weavers is a Loom feature; connection 'agents' is a "
                                   "nodeloom connection.")
        with pytest.raises(LoomConfigError, match="assets is a Loom v1 asset server feature"):
            loom.assets  # noqa: B018
        with pytest.raises(LoomConfigError, match="health is a Loom feature"):
            loom.health()
    finally:
        loom.close()
    with pytest.raises(LoomConfigError, match="drop api_key"):
        Loom(connection="agents", api_key="x")


def test_direct_use_needs_a_url_and_one_credential(tmp_path: Path):
    with pytest.raises(LoomConfigError, match="No NodeLoom URL"):
        Loom(kind="nodeloom", api_key="sdk_x")
    with pytest.raises(LoomConfigError, match="not api_key and username"):
        Loom("http://127.0.0.1:1", kind="loom-v1", api_key="k", username="u", password="p")
    with pytest.raises(LoomConfigError, match="needs username"):
        Loom("http://127.0.0.1:1", kind="loom-v1", password="p")
    with pytest.raises(LoomConfigError, match="does not sign in with a username"):
        Loom("http://127.0.0.1:1", kind="nodeloom", username="u", password="p")
    with pytest.raises(LoomConfigError, match="not username=/password=/token_file="):
        Loom("http://127.0.0.1:1", username="u", password="p")
    with pytest.raises(LoomConfigError, match="Unknown connection kind"):
        Loom("http://127.0.0.1:1", kind="nodeloom2")


def test_loom_kind_is_unchanged():
    loom = Loom("http://127.0.0.1:1", "loom-key-1234")
    try:
        assert loom.kind == "loom" and loom.connection is None
        assert repr(loom) == "Loom(url='http://127.0.0.1:1', mode='direct')"
        assert hasattr(loom, "weavers") and not hasattr(loom, "assets")
        with pytest.raises(AttributeError):
            loom.no_such_thing  # noqa: B018
    finally:
        loom.close()


def test_async_client_takes_the_same_arguments():
    loom = AsyncLoom("http://127.0.0.1:1", kind="openloomi", username="a@b.c", password="pw")
    assert loom.kind == "openloomi" and "pw" not in repr(loom)


# -- raw requests -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["http://evil.example/api", "//evil.example/api", "https:x",
                                  "/api/../../x", "./api", ""])
def test_raw_request_paths_stay_on_the_configured_host(path):
    with pytest.raises(LoomValidationError):
        raw_call("GET", path, None, None)


def test_raw_request_builds_the_call():
    call = raw_call("get", "api/v1/assets", {"page": 2, "flag": True, "skip": None, "tag": ["a", "b"]},
                    None)
    assert (call.method, call.path, call.idempotent) == ("GET", "/api/v1/assets", True)
    assert call.params == [("page", "2"), ("flag", "true"), ("tag", "a"), ("tag", "b")]
    assert not raw_call("POST", "/api/x", None, {"a": 1}).idempotent
    with pytest.raises(LoomValidationError):
        raw_call("FETCH", "/api/x", None, None)


# -- the session keeps its secrets ----------------------------------------------------------

def test_session_secrets_include_password_and_every_jwt(tmp_path: Path):
    token = jwt({"exp": 2000000000})
    path = tmp_path / "token"
    path.write_text(base64.b64encode(token.encode()).decode())
    session = Session(get_kind("openloomi"), token_file=str(path))
    assert token in session.secrets() and token not in repr(session)
    assert session.headers() == {"Authorization": f"Bearer {token}"}
    assert session.expires_at == 2000000000.0
    with_password = Session(get_kind("loom-v1"), username="admin", password="hunter22")
    assert "hunter22" in with_password.secrets() and "hunter22" not in repr(with_password)
    assert "hunter22" not in repr(with_password.secrets())
