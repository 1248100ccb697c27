"""The API reference pages load nothing from outside the server and carry a strict CSP; in a real
browser Swagger UI renders the operations with no request leaving the server and no CSP
violation."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser

from tests.fixtures.live_server import LiveServer
from tests.web.browser import VIEWPORT

_URL = re.compile(r"""(?:src|href|url|spec-url)\s*[=:]\s*["']([^"']+)["']""")


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/redoc"])
def test_the_docs_pages_reference_no_outside_host(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    html = response.text
    assert "cdn" not in html.lower()
    assert "googleapis" not in html
    referenced = _URL.findall(html)
    assert referenced, "the page references its assets"
    for url in referenced:
        assert not urlsplit(url).netloc, f"{path} loads {url} from another host"
        assert client.get(url).status_code == 200, url
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self' 'nonce-" in policy
    assert "http" not in policy  # no outside origin allowed anywhere
    # The inline script runs by this response's nonce only.
    nonce = re.search(r"'nonce-([^']+)'", policy)
    assert nonce is not None
    inline = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", html)
    assert all(f'nonce="{nonce.group(1)}"' in attributes for attributes in inline)


@pytest.mark.xdist_group("browser")
def test_swagger_ui_renders_offline_under_its_policy(
    browser: Browser, live_server: LiveServer
) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    origin = urlsplit(live_server.url).netloc
    outside: list[str] = []
    violations: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if urlsplit(request.url).netloc not in (origin, "")
            and not request.url.startswith(("data:", "blob:"))
            else None
        ),
    )
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    try:
        page.goto(f"{live_server.url}/api/v1/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        assert page.locator(".opblock").count() > 10
    finally:
        context.close()
    assert outside == []
    assert violations == []
