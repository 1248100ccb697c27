"""Password guessing is slowed per account and per client address, in the database (so every
server process sees the same counts), and never locks a real user out for good."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lensforge.app import create_app
from lensforge.auth.sign_in_throttle import lockout_seconds
from lensforge.config import Settings
from tests.fixtures.app import STRONG_PASSWORD, sign_up


def _with_security(settings: Settings, **security: Any) -> Settings:
    return settings.model_copy(update={"security": settings.security.model_copy(update=security)})


OpenClient = Callable[..., TestClient]


@pytest.fixture
def open_client() -> Iterator[OpenClient]:
    """A factory of clients, each its own app instance (as a separate server process would be)
    on the one database, calling from the address given."""
    with ExitStack() as stack:

        def open_one(settings: Settings, address: str = "203.0.113.7") -> TestClient:
            app = create_app(settings, run_migrations=False)
            return stack.enter_context(TestClient(app, client=(address, 4000)))

        yield open_one


@pytest.fixture
def fast_settings(settings: Settings) -> Settings:
    # Short lockouts so that the test can wait one out.
    return _with_security(settings, sign_in_max_lockout_seconds=2)


def _login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/v1/auth/login", json={"email": email, "password": password})


def test_a_burst_of_wrong_passwords_is_stopped_and_the_right_one_waits(
    settings: Settings, open_client: OpenClient
) -> None:
    """The attack: 200 wrong passwords in 47 s, then the right one worked."""
    client = open_client(settings)
    account = sign_up(client)
    answers = [_login(client, account.email, f"guess-{n}").status_code for n in range(200)]
    # Five free failures; then lockouts of 1, 2, 4, 8 s... let through one guess each.
    assert answers[:5] == [401] * 5
    assert answers.count(401) <= 9, answers
    assert answers.count(429) >= 190
    refused = _login(client, account.email, STRONG_PASSWORD)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["code"] == "sign_in_throttled"
    retry_after = int(refused.headers["Retry-After"])
    assert retry_after >= 1
    assert refused.json()["error"]["details"]["retry_after_seconds"] == retry_after


def test_a_lockout_ends_and_the_right_password_clears_the_count(
    fast_settings: Settings, open_client: OpenClient
) -> None:
    client = open_client(fast_settings)
    account = sign_up(client)
    for _ in range(100):
        guess = _login(client, account.email, "a wrong guess")
        if guess.status_code == 429:
            break
    else:
        pytest.fail("never locked")
    assert int(guess.headers["Retry-After"]) <= 2  # the ceiling
    time.sleep(int(guess.headers["Retry-After"]) + 0.2)
    assert _login(client, account.email, STRONG_PASSWORD).status_code == 200
    # Counting starts again from zero: one typo is not a lockout.
    assert _login(client, account.email, "one more typo").status_code == 401
    assert _login(client, account.email, STRONG_PASSWORD).status_code == 200


def test_unknown_and_known_accounts_are_throttled_alike(
    fast_settings: Settings, open_client: OpenClient
) -> None:
    client = open_client(fast_settings)
    known = sign_up(client)
    for email in (known.email, "nobody-here@example.com"):
        answers = [_login(client, email, f"guess-{n}").status_code for n in range(8)]
        assert answers == [401] * 5 + [429] * 3, (email, answers)


def test_the_lock_holds_across_server_processes(
    fast_settings: Settings, open_client: OpenClient
) -> None:
    """Several processes share one database: failures counted by one lock the others."""
    first = open_client(fast_settings)
    second = open_client(fast_settings)
    account = sign_up(first)
    for n in range(5):
        assert _login(first, account.email, f"guess-{n}").status_code == 401
    assert _login(second, account.email, STRONG_PASSWORD).status_code == 429


def test_one_client_guessing_many_accounts_is_slowed(
    settings: Settings, open_client: OpenClient
) -> None:
    limited = _with_security(settings, sign_in_free_failures_per_client=4)
    attacker = open_client(limited, "198.51.100.9")
    victim = sign_up(attacker)
    for n in range(4):
        assert _login(attacker, f"target-{n}@example.com", "password1234").status_code == 401
    # The client is locked, whichever account it tries, right password or not...
    assert _login(attacker, victim.email, STRONG_PASSWORD).status_code == 429
    # ...while the account's owner, elsewhere, is not.
    elsewhere = open_client(limited, "192.0.2.44")
    assert _login(elsewhere, victim.email, STRONG_PASSWORD).status_code == 200


def test_failures_older_than_the_window_are_forgotten(
    settings: Settings, open_client: OpenClient
) -> None:
    short = _with_security(
        settings, sign_in_failure_window_seconds=1, sign_in_free_failures_per_account=2
    )
    client = open_client(short)
    account = sign_up(client)
    assert _login(client, account.email, "guess-1").status_code == 401
    time.sleep(1.2)
    assert _login(client, account.email, "guess-2").status_code == 401  # counts as the first
    assert _login(client, account.email, STRONG_PASSWORD).status_code == 200


def test_lockouts_grow_and_stop_at_the_ceiling() -> None:
    assert [lockout_seconds(n, 5, 300) for n in range(4, 10)] == [0, 1, 2, 4, 8, 16]
    assert lockout_seconds(10_000, 5, 300) == 300


def test_the_web_login_form_is_throttled_too(settings: Settings, open_client: OpenClient) -> None:
    client = open_client(settings)
    account = sign_up(client)
    # Guess until the lock is long enough not to end before the form is posted, however
    # loaded the machine is (lockouts double: 1, 2, 4, 8 s).
    for _ in range(200):
        guess = _login(client, account.email, "a wrong guess")
        if guess.status_code == 429 and int(guess.headers["Retry-After"]) >= 8:
            break
        time.sleep(0.25)
    else:
        pytest.fail("never locked for long")
    client.get("/login")
    page = client.post(
        "/login",
        data={
            "email": account.email,
            "password": STRONG_PASSWORD,
            "csrf_token": client.cookies.get("lensforge_csrf") or "",
        },
        follow_redirects=False,
    )
    assert page.status_code == 429, page.text[:300]
    assert "too many failed sign-ins" in page.text
