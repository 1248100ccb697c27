"""New passwords are checked against zxcvbn's breached/common lists and a minimum strength,
wherever a password is set: sign-up (API and web form) and `lensforge users create-admin`."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lensforge.auth.passwords import password_problems
from lensforge.cli.main import app as cli_app
from lensforge.config import Settings
from tests.fixtures.app import STRONG_PASSWORD

# Accepted before: long enough, not in the old list of eleven, four distinct characters.
GUESSABLE = ["password12", "12341234123", "qwertyuiop1", "Password2024", "iloveyou1234"]


@pytest.mark.parametrize("password", GUESSABLE)
def test_guessable_passwords_are_refused_at_sign_up(client: TestClient, password: str) -> None:
    response = client.post(
        "/api/v1/auth/signup",
        json={"email": "new@example.com", "password": password, "display_name": "New"},
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "weak_password"
    assert "too easy to guess" in error["message"]
    assert error["details"]["fields"][0]["field"] == "body.password"


def test_the_names_you_give_count_as_guessable() -> None:
    name = "Bramblewick Quorandel"
    assert password_problems(name, min_length=10) == []
    assert password_problems(name, min_length=10, user_inputs=[name])


def test_strong_passwords_pass(client: TestClient) -> None:
    for password in (STRONG_PASSWORD, "plover-tangent-9-quill"):
        assert password_problems(password, min_length=10) == [], password


def test_the_web_sign_up_form_shows_the_reason(client: TestClient) -> None:
    client.get("/signup")
    page = client.post(
        "/signup",
        data={
            "email": "form@example.com",
            "password": "password12",
            "display_name": "Form",
            "csrf_token": client.cookies.get("lensforge_csrf") or "",
        },
        follow_redirects=False,
    )
    assert page.status_code == 422
    assert "too easy to guess" in page.text


def test_create_admin_refuses_a_guessable_password(settings: Settings, tmp_path: Path) -> None:
    env = {
        "LENSFORGE_DATABASE__URL": settings.database_url,
        "LENSFORGE_DATA_DIR": str(tmp_path / "cli-data"),
        "LENSFORGE_ENV": "test",
    }
    args = ["users", "create-admin", "--email", "root@example.com", "--display-name", "Root"]
    weak = CliRunner().invoke(cli_app, [*args, "--password", "12341234123"], env=env)
    assert weak.exit_code != 0
    assert "too easy to guess" in weak.output
    strong = CliRunner().invoke(cli_app, [*args, "--password", STRONG_PASSWORD], env=env)
    assert strong.exit_code == 0, strong.output
