"""Browser sessions: sign-up and login by form set an httpOnly session cookie; the API accepts
it only with the CSRF header for changes; logout revokes it on the server; the WebSocket token;
no open redirect; HTML error pages for browsers, JSON for the API."""

from __future__ import annotations

from fastapi.testclient import TestClient

from lensforge.auth.browser_sessions import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from tests.fixtures.app import STRONG_PASSWORD, add_to_organization, sign_up
from tests.web.helpers import form_csrf


def _page_client(client: TestClient) -> TestClient:
    return TestClient(client.app, follow_redirects=False)


def _signup(browser: TestClient, email: str) -> None:
    token = form_csrf(browser.get("/signup").text)
    response = browser.post(
        "/signup",
        data={
            "email": email,
            "password": STRONG_PASSWORD,
            "display_name": "Grace",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/projects?welcome=1"
    cookie = next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie


def test_signup_by_form_logs_in_and_the_pages_show_the_account(client: TestClient) -> None:
    browser = _page_client(client)
    _signup(browser, "grace@example.com")
    page = browser.get("/projects")
    assert page.status_code == 200
    assert "grace@example.com" in page.text
    assert "Grace&#39;s organization" in page.text or "Grace's organization" in page.text


def test_forms_without_the_csrf_token_are_refused(client: TestClient) -> None:
    browser = _page_client(client)
    browser.get("/signup")  # sets the CSRF cookie
    response = browser.post(
        "/signup",
        data={"email": "x@example.com", "password": STRONG_PASSWORD, "display_name": "X"},
    )
    assert response.status_code == 400
    assert SESSION_COOKIE not in browser.cookies
    assert "form has expired" in response.text


def test_the_api_takes_the_session_cookie_but_changes_need_the_csrf_header(
    client: TestClient,
) -> None:
    browser = _page_client(client)
    _signup(browser, "csrf@example.com")
    assert browser.get("/api/v1/auth/me").status_code == 200
    refused = browser.post("/api/v1/projects", json={"name": "P"})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"
    wrong = browser.post("/api/v1/projects", json={"name": "P"}, headers={CSRF_HEADER: "nope"})
    assert wrong.json()["error"]["code"] == "csrf_failed"
    csrf = browser.cookies[CSRF_COOKIE]
    created = browser.post("/api/v1/projects", json={"name": "P"}, headers={CSRF_HEADER: csrf})
    assert created.status_code == 201, created.text


def test_login_logout_and_the_old_cookie_stops_working(client: TestClient) -> None:
    account = sign_up(client)
    browser = _page_client(client)
    token = form_csrf(browser.get("/login").text)
    wrong = browser.post(
        "/login", data={"email": account.email, "password": "not it", "csrf_token": token}
    )
    assert wrong.status_code == 401
    assert "wrong e-mail or password" in wrong.text
    response = browser.post(
        "/login",
        data={
            "email": account.email,
            "password": STRONG_PASSWORD,
            "csrf_token": token,
            "next": "//evil.example.com/",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"  # no open redirect: the home page
    session = browser.cookies[SESSION_COOKIE]
    assert browser.get("/projects").status_code == 200

    page = browser.get("/projects").text
    assert browser.post("/logout", data={"csrf_token": form_csrf(page)}).status_code == 303
    stolen = _page_client(client)
    stolen.cookies.set(SESSION_COOKIE, session)
    assert stolen.get("/projects").headers["location"].startswith("/login?next=")
    assert stolen.get("/api/v1/auth/me").status_code == 401


def test_the_pages_redirect_to_login_and_back(client: TestClient) -> None:
    browser = _page_client(client)
    response = browser.get("/organization/members")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=%2Forganization%2Fmembers"


def test_the_websocket_token_needs_the_session_and_the_csrf_header(client: TestClient) -> None:
    browser = _page_client(client)
    _signup(browser, "ws@example.com")
    assert browser.post("/session/token").status_code == 403
    answer = browser.post("/session/token", headers={CSRF_HEADER: browser.cookies[CSRF_COOKIE]})
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "no-store"
    bearer = {"Authorization": f"Bearer {answer.json()['token']}"}
    assert client.get("/api/v1/auth/me", headers=bearer).status_code == 200
    with client.websocket_connect("/api/v1/ws/training") as socket:
        socket.send_json({"type": "auth", "token": answer.json()["token"]})
        assert socket.receive_json()["type"] == "ready"


def test_switching_organization(client: TestClient) -> None:
    owner = sign_up(client, organization_name="First")
    other = sign_up(client, organization_name="Second")
    add_to_organization(client, other, owner, "guest")
    browser = _page_client(client)
    token = form_csrf(browser.get("/login").text)
    browser.post(
        "/login", data={"email": owner.email, "password": STRONG_PASSWORD, "csrf_token": token}
    )
    page = browser.get("/projects").text
    assert 'data-testid="role">Admin<' in page
    response = browser.post(
        "/switch-organization",
        data={"organization_id": other.organization_id, "csrf_token": form_csrf(page)},
    )
    assert response.status_code == 303
    assert 'data-testid="role">Guest<' in browser.get("/projects").text


def test_errors_are_pages_for_browsers_and_json_for_the_api(client: TestClient) -> None:
    html = {"Accept": "text/html"}
    page = client.get("/no/such/page", headers=html)
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "Not found" in page.text
    api = client.get("/api/v1/no/such/route", headers=html)
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"


def test_static_assets_are_served_from_the_package(client: TestClient) -> None:
    for path in ("/static/app.css", "/static/app.js", "/static/vendor/htmx.min.js"):
        response = client.get(path)
        assert response.status_code == 200, path
    assert "http://" not in client.get("/static/app.css").text  # nothing fetched from outside
