"""The CSRF token is bound to its session, and over HTTPS the cookies are `__Host-` cookies.

A matching cookie/header pair is not enough: one planted by an attacker, copied from another
session, or left from before login is refused.
"""

from __future__ import annotations

import secrets

from fastapi.testclient import TestClient

from lensforge.auth.browser_sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from tests.fixtures.app import STRONG_PASSWORD, sign_up
from tests.web.helpers import browser_for, form_csrf


def _signed_up(client: TestClient, base_url: str = "http://testserver") -> TestClient:
    browser = TestClient(client.app, follow_redirects=False, base_url=base_url)
    token = form_csrf(browser.get("/signup").text)
    response = browser.post(
        "/signup",
        data={
            "email": f"u-{secrets.token_hex(4)}@example.com",
            "password": STRONG_PASSWORD,
            "display_name": "U",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303, response.text
    return browser


def _create_project(browser: TestClient, csrf: str) -> int:
    return browser.post(
        "/api/v1/projects", json={"name": "P"}, headers={CSRF_HEADER: csrf}
    ).status_code


def test_a_pair_from_another_session_is_refused(client: TestClient) -> None:
    victim = browser_for(client, sign_up(client))
    attacker = browser_for(client, sign_up(client))
    # The attacker's own, valid pair, planted next to the victim's session cookie.
    planted = attacker.cookies[CSRF_COOKIE]
    victim.cookies.set(CSRF_COOKIE, planted)
    response = _create_project(victim, planted)
    assert response == 403
    # The victim's own pair still works.
    victim.cookies.set(CSRF_COOKIE, victim.headers[CSRF_HEADER])
    assert _create_project(victim, victim.headers[CSRF_HEADER]) == 201


def test_a_made_up_matching_pair_is_refused(client: TestClient) -> None:
    browser = browser_for(client, sign_up(client))
    made_up = secrets.token_urlsafe(32)
    browser.cookies.set(CSRF_COOKIE, made_up)
    refused = browser.post("/api/v1/projects", json={"name": "P"}, headers={CSRF_HEADER: made_up})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    # Same for the WebSocket token and the page forms.
    assert browser.post("/session/token", headers={CSRF_HEADER: made_up}).status_code == 403


def test_the_token_from_before_login_does_not_survive_it(client: TestClient) -> None:
    browser = TestClient(client.app, follow_redirects=False)
    before = form_csrf(browser.get("/signup").text)
    browser = _signed_up(client)
    browser.cookies.set(CSRF_COOKIE, before)
    assert _create_project(browser, before) == 403


def test_login_issues_a_token_bound_to_the_new_session(client: TestClient) -> None:
    browser = _signed_up(client)
    assert _create_project(browser, browser.cookies[CSRF_COOKIE]) == 201
    # The pages hand out the same bound token (the scripts send it back as the header).
    page = browser.get("/projects").text
    assert form_csrf(page) == browser.cookies[CSRF_COOKIE]


def test_over_https_the_cookies_are_host_prefixed_and_secure(client: TestClient) -> None:
    browser = TestClient(client.app, follow_redirects=False, base_url="https://testserver")
    token = form_csrf(browser.get("/signup").text)
    response = browser.post(
        "/signup",
        data={
            "email": "https@example.com",
            "password": STRONG_PASSWORD,
            "display_name": "S",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303, response.text
    set_cookies = [v for k, v in response.headers.multi_items() if k == "set-cookie"]
    session = next(c for c in set_cookies if c.startswith(f"__Host-{SESSION_COOKIE}="))
    csrf = next(c for c in set_cookies if c.startswith(f"__Host-{CSRF_COOKIE}="))
    for cookie in (session, csrf):
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "Domain" not in cookie
    assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in set_cookies)
    bound = browser.cookies[f"__Host-{CSRF_COOKIE}"]
    assert browser.get("/api/v1/auth/me").status_code == 200
    assert _create_project(browser, bound) == 201

    # Unprefixed cookies (plantable by a subdomain or over plain HTTP) count for nothing there.
    planted = TestClient(client.app, base_url="https://testserver")
    planted.cookies.set(SESSION_COOKIE, browser.cookies[f"__Host-{SESSION_COOKIE}"])
    assert planted.get("/api/v1/auth/me").status_code == 401
