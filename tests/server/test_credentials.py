"""Where the extension's Loom credential comes from: precedence, files, the stored sign-in."""
from __future__ import annotations

import stat
from pathlib import Path

import pytest

from loom_jupyter.server.credentials import Credential, SignInStore, resolve_credential

URL = "http://127.0.0.1:8420"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    made = {}
    for name, text in {"config": "lk_from_config_file\nignored\n", "env": "lk_from_env_file\n",
                       "empty": "\n"}.items():
        path = tmp_path / f"{name}.key"
        path.write_text(text)
        made[name] = str(path)
    return made


@pytest.fixture
def store(tmp_path: Path) -> SignInStore:
    store = SignInStore(tmp_path / "signins", URL)
    store.save("lt_signed_in", "Ada")
    return store


@pytest.mark.parametrize(("api_key", "key_file", "env", "expected"), [
    ("lk_cfg", "config", {"LOOM_API_KEY": "lk_env", "LOOM_API_KEY_FILE": "env"},
     ("lk_cfg", "config")),
    ("", "config", {"LOOM_API_KEY": "lk_env"}, ("lk_from_config_file", "config file")),
    ("", "", {"LOOM_API_KEY": "lk_env", "LOOM_API_KEY_FILE": "env"}, ("lk_env", "environment")),
    ("", "", {"LOOM_API_KEY_FILE": "env"}, ("lk_from_env_file", "environment file")),
    ("", "", {}, ("lt_signed_in", "sign-in")),
    ("  ", "empty", {"LOOM_API_KEY": " "}, ("lt_signed_in", "sign-in")),  # empty = not a source
])
def test_precedence(files: dict[str, str], store: SignInStore, api_key: str, key_file: str,
                    env: dict[str, str], expected: tuple[str, str]) -> None:
    environ = {k: files.get(v, v) if k.endswith("_FILE") else v for k, v in env.items()}
    found = resolve_credential(api_key, files.get(key_file, ""), environ, store)
    assert found is not None and (found.secret, found.source) == expected


def test_a_named_file_that_cannot_be_read_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        resolve_credential("", str(tmp_path / "missing.key"), {}, None)


def test_the_sign_in_file_is_private_and_per_url(tmp_path: Path) -> None:
    store = SignInStore(tmp_path / "signins", URL)
    saved = store.save("lt_secret_token", "Ada")
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(store.path.parent.stat().st_mode) == 0o700
    assert store.load() == saved and saved.who == "Ada"
    assert SignInStore(tmp_path / "signins", "http://other:1").load() is None
    assert store.forget() and store.load() is None and not store.forget()


def test_a_credential_never_shows_its_secret() -> None:
    credential = Credential("lt_secret_token", "sign-in", "Ada")
    assert "lt_secret" not in repr(credential) and "lt_secret" not in str(credential.describe())
