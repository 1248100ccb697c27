"""Browser-like clients for the UI's server side: a cookie session and the CSRF token."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from lensforge.auth.browser_sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    new_csrf_token,
)
from tests.fixtures.app import Account


def browser_for(client: TestClient, account: Account) -> TestClient:
    """A client holding `account`'s login as the web UI does: the refresh token as the session
    cookie, and a CSRF cookie (sent back as a header on changes, as the pages' scripts do).
    It shares the running app of `client`."""
    csrf = new_csrf_token(client.app.state.settings.secret_key, account.refresh_token)
    browser = TestClient(client.app, follow_redirects=False)
    browser.cookies.set(SESSION_COOKIE, account.refresh_token)
    browser.cookies.set(CSRF_COOKIE, csrf)
    browser.headers[CSRF_HEADER] = csrf
    return browser


def form_csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)
