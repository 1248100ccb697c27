"""The `lensforge` login, projects and api-keys commands against a real server."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from lensforge.cli.main import app
from lensforge.client import AuthenticationError, LensforgeClient
from lensforge.client.config import load_config
from tests.client.helpers import new_email, signed_up
from tests.fixtures.app import STRONG_PASSWORD
from tests.fixtures.live_server import LiveServer

runner = CliRunner()


def cli(*args: str, input: str | None = None, code: int = 0) -> Result:
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == code, result.output
    return result


def test_api_key_login_and_commands(
    live_server: LiveServer, admin: LensforgeClient, config_dir: Path
) -> None:
    secret = admin.api_keys.create("laptop").secret
    email = admin.auth.me().user.email

    result = cli("login", "--url", live_server.url, "--api-key", secret)
    assert f"logged in to {live_server.url} as {email}" in result.output
    config_file = config_dir / "config.json"
    assert stat.S_IMODE(config_file.stat().st_mode) == 0o600
    stored = load_config()
    assert stored is not None
    assert (stored.api_key, stored.access_token, stored.email) == (secret, None, email)

    me = json.loads(cli("whoami", "--json").stdout)
    assert (me["url"], me["user"]["email"], me["via_api_key"]) == (live_server.url, email, True)

    created = json.loads(cli("projects", "create", "demo", "--description", "d", "--json").stdout)
    assert created["name"] == "demo"
    listed = json.loads(cli("projects", "list", "--json").stdout)
    assert ([p["id"] for p in listed["items"]], listed["total"]) == ([created["id"]], 1)
    shown = json.loads(cli("projects", "show", "demo", "--json").stdout)
    assert shown["id"] == created["id"]
    assert [m["email"] for m in shown["members"]] == [email]
    assert "demo" in cli("projects", "list").stdout

    result = cli(
        "api-keys", "create", "--name", "ci", "--scope", "*:read", "--expires-in-days", "7"
    )
    assert "will not be shown again" in result.stdout
    new_secret = next(line for line in result.stdout.splitlines() if line.startswith("lfk_"))
    with LensforgeClient(live_server.url, api_key=new_secret) as by_new_key:
        assert by_new_key.auth.me().scopes == ["*:read"]
    keys = json.loads(cli("api-keys", "list", "--json").stdout)
    assert sorted(k["name"] for k in keys) == ["ci", "laptop"]
    assert all("secret" not in k for k in keys)
    ci_key = next(k for k in keys if k["name"] == "ci")
    assert "revoked API key ci" in cli("api-keys", "revoke", ci_key["id"]).stdout
    with (
        LensforgeClient(live_server.url, api_key=new_secret) as by_new_key,
        pytest.raises(AuthenticationError),
    ):
        by_new_key.auth.me()

    cli("projects", "delete", "demo", input="n\n", code=1)
    assert "deleted project demo" in cli("projects", "delete", created["id"], "--yes").stdout
    assert "no projects yet" in cli("projects", "list").stdout

    assert "still works" in cli("logout").stdout
    assert "not logged in" in cli("whoami", code=1).stderr


def test_password_login_and_logout_ends_the_session(live_server: LiveServer) -> None:
    email = new_email()
    signed_up(live_server.url, email).close()
    result = cli("login", "--url", live_server.url, "--email", email, input=STRONG_PASSWORD + "\n")
    assert STRONG_PASSWORD not in result.output
    stored = load_config()
    assert stored is not None
    assert stored.access_token is not None
    assert stored.refresh_token is not None
    assert stored.api_key is None
    assert email in cli("whoami").stdout

    cli("logout")
    after = load_config()
    assert after is not None
    assert (after.url, after.has_credentials) == (live_server.url, False)
    with (
        LensforgeClient(live_server.url, token="x", refresh_token=stored.refresh_token) as client,
        pytest.raises(AuthenticationError) as refused,
    ):
        client.auth.refresh()
    assert refused.value.code == "token_revoked"


def test_wrong_password_is_a_clean_error(live_server: LiveServer) -> None:
    email = new_email()
    signed_up(live_server.url, email).close()
    result = cli("login", "--url", live_server.url, "--email", email, input="nope\n", code=1)
    assert "error: wrong e-mail or password" in result.stderr
    assert load_config() is None


def test_unreachable_server_is_named() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    result = cli("login", "--url", url, "--api-key", "lfk_x", code=1)
    assert f"error: cannot reach the Lensforge server at {url}" in result.stderr
    assert "Traceback" not in result.output


def test_environment_credentials_need_no_login(
    live_server: LiveServer, admin: LensforgeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LENSFORGE_URL", live_server.url)
    monkeypatch.setenv("LENSFORGE_API_KEY", admin.api_keys.create("ci").secret)
    assert "credentials from the environment" in cli("whoami").stdout
    result = cli("projects", "show", "missing", code=1)
    assert "error: no project named 'missing'" in result.stderr
    result = cli("api-keys", "revoke", "not-an-id", code=1)
    assert "is not an API key id" in result.stderr
