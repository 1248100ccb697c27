"""Stored credentials: private file modes, atomic writes, and the environment's priority."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from lensforge.client import LensforgeClient, LensforgeError
from lensforge.client.config import (
    ClientConfig,
    config_path,
    delete_config,
    load_config,
    resolve_config,
    save_config,
)
from lensforge.config import Settings
from tests.client.helpers import signed_up
from tests.fixtures.live_server import serve

STORED = ClientConfig(
    url="http://stored.example:8000/",
    access_token="stored-access",
    refresh_token="stored-refresh",
    organization_id="0b9c7f5e-0000-4000-8000-000000000000",
    email="ada@example.com",
)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_written_private_and_atomically(config_dir: Path) -> None:
    path = save_config(STORED)
    assert path == config_dir / "config.json" == config_path()
    assert _mode(path) == 0o600
    assert _mode(config_dir) == 0o700
    assert [p.name for p in config_dir.iterdir()] == ["config.json"]  # no temporary left over
    data = json.loads(path.read_text())
    assert data["url"] == "http://stored.example:8000"
    assert "credentials_from_env" not in data
    assert load_config() == STORED.model_copy(update={"url": "http://stored.example:8000"})

    path.chmod(0o644)
    save_config(STORED.without_credentials())
    assert _mode(path) == 0o600
    assert load_config() == ClientConfig(url="http://stored.example:8000")
    assert delete_config() is True
    assert delete_config() is False
    assert load_config() is None


def test_damaged_file_is_named(config_dir: Path) -> None:
    config_dir.mkdir()
    (config_dir / "config.json").write_text("{not json")
    with pytest.raises(LensforgeError) as caught:
        resolve_config()
    assert caught.value.code == "invalid_config"
    assert str(config_dir / "config.json") in caught.value.message


def test_defaults_without_file() -> None:
    config = resolve_config()
    assert (config.url, config.has_credentials) == ("http://127.0.0.1:8000", False)


def test_environment_takes_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    save_config(STORED)
    config = resolve_config()
    assert (config.access_token, config.credentials_from_env) == ("stored-access", False)

    # The same server spelled with /api/v1: the stored login still applies.
    monkeypatch.setenv("LENSFORGE_URL", "http://stored.example:8000/api/v1")
    assert resolve_config().access_token == "stored-access"

    # Another server: the stored credentials must not be sent there.
    monkeypatch.setenv("LENSFORGE_URL", "http://other.example")
    config = resolve_config()
    assert (config.url, config.has_credentials) == ("http://other.example", False)

    monkeypatch.setenv("LENSFORGE_TOKEN", "env-token")
    config = resolve_config()
    assert (config.access_token, config.refresh_token) == ("env-token", None)
    assert config.credentials_from_env

    monkeypatch.setenv("LENSFORGE_API_KEY", "lfk_env")
    monkeypatch.delenv("LENSFORGE_URL")
    config = resolve_config()
    assert (config.url, config.api_key, config.access_token) == (
        "http://stored.example:8000",
        "lfk_env",
        None,
    )


def test_from_config_saves_refreshed_tokens(settings: Settings) -> None:
    security = settings.security.model_copy(update={"access_token_ttl_seconds": 1})
    with serve(settings.model_copy(update={"security": security})) as server:
        with signed_up(server.url) as first:
            access, refresh = first.tokens
        save_config(ClientConfig(url=server.url, access_token=access, refresh_token=refresh))
        time.sleep(2)
        with LensforgeClient.from_config() as client:
            client.auth.me()
            new_access, new_refresh = client.tokens
        stored = load_config()
        assert stored is not None
        assert (stored.access_token, stored.refresh_token) == (new_access, new_refresh)
        assert new_refresh != refresh
        assert stored.organization_id is not None


def test_processes_sharing_a_login_take_turns_refreshing(settings: Settings) -> None:
    """Two clients from one config file stand for two `lensforge` processes. Had the second
    refreshed with the token the first had already rotated, the server would have ended the
    login session for both."""
    security = settings.security.model_copy(update={"access_token_ttl_seconds": 1})
    with serve(settings.model_copy(update={"security": security})) as server:
        with signed_up(server.url) as first:
            access, refresh = first.tokens
        save_config(ClientConfig(url=server.url, access_token=access, refresh_token=refresh))
        with LensforgeClient.from_config() as one, LensforgeClient.from_config() as two:
            for _ in range(2):
                time.sleep(2)
                one.auth.me()
                two.auth.me()  # adopts what `one` saved instead of reusing a rotated token
                stored = load_config()
                assert stored is not None
                assert stored.refresh_token in (one.tokens[1], two.tokens[1])
        time.sleep(2)
        with LensforgeClient.from_config() as three:
            three.auth.me()  # the login session is still alive
