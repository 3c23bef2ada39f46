"""connect / status against the local Loom: the documented ways in, and the key never shows."""
from __future__ import annotations

from .conftest import run
from .test_secrets import _history_text


def test_lazy_connection_from_environment(ip, loom_server):
    ran = run(ip, "%loom status")
    assert ran.error is None
    text = ran.all_text()
    assert "direct" in text and loom_server.url in text and "yes" in text
    assert "API key (hidden)" in text


def test_connect_with_key_from_env_never_shows_the_key(offline, loom_server, user_key, monkeypatch):
    monkeypatch.setenv("MY_LOOM_KEY", user_key)
    ran = run(offline, f"%loom connect {loom_server.url} --api-key-env MY_LOOM_KEY")
    assert ran.error is None, ran.io.stderr
    assert f"Connected to {loom_server.url}" in ran.io.stdout
    status = run(offline, "%loom status")
    repr_of_client = run(offline, "get_ipython().magics_manager.registry['LoomMagics'].client")
    for cell in (ran, status, repr_of_client):
        assert user_key not in cell.all_text()
        assert user_key not in repr(cell.value)
    assert user_key not in _history_text(offline)
    assert "user" in status.all_text()


def test_connect_with_key_file(offline, loom_server, user_key, tmp_path):
    key_file = tmp_path / "loom.key"
    key_file.write_text(user_key + "\n")
    ran = run(offline, f"%loom connect {loom_server.url} --api-key-file {key_file}")
    assert ran.error is None, ran.io.stderr
    assert run(offline, "%loom weavers").error is None
    assert user_key not in ran.all_text() and user_key not in _history_text(offline)


def test_connect_errors_are_one_line(offline, loom_server, tmp_path, monkeypatch):
    monkeypatch.setenv("WRONG_KEY", "lk_" + "f" * 64)
    wrong = run(offline, f"%loom connect {loom_server.url} --api-key-env WRONG_KEY").usage_error()
    assert "f" * 64 not in wrong and "API key" in wrong
    unset = run(offline, f"%loom connect {loom_server.url} --api-key-env NOT_SET_ANYWHERE").usage_error()
    assert "NOT_SET_ANYWHERE is not set" in unset
    missing = run(offline, f"%loom connect {loom_server.url} --api-key-file {tmp_path}/nope").usage_error()
    assert "Cannot read the key file" in missing
    down = run(offline, "%loom connect http://127.0.0.1:9 --api-key-env WRONG_KEY").usage_error()
    assert "reachable" in down or "connect" in down.lower()


def test_status_reports_unreachable_without_failing(offline, monkeypatch):
    monkeypatch.setenv("LOOM_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("LOOM_API_KEY", "lk_" + "e" * 64)
    ran = run(offline, "%loom status")
    assert ran.error is None
    assert "no:" in ran.all_text() and "e" * 64 not in ran.all_text()
