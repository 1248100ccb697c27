"""Members and roles in a real browser: an admin invites a person by e-mail (the page answers
alike for an address with or without an account), the person accepts on their Invitations page,
the admin changes their role from the list (the select submits itself), and removes them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page, expect

from lensforge.auth.browser_sessions import SESSION_COOKIE
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.web.browser import VIEWPORT, Screens

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture
def admin(client: TestClient) -> Account:
    return sign_up(client)


def _open(browser: Browser, live_server: LiveServer, account: Account) -> BrowserContext:
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.add_cookies(
        [{"name": SESSION_COOKIE, "value": account.refresh_token, "url": live_server.url}]
    )
    return context


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, admin: Account) -> Iterator[Page]:
    context = _open(browser, live_server, admin)
    opened = context.new_page()
    opened.on("dialog", lambda dialog: dialog.accept())
    try:
        yield opened
    finally:
        context.close()


def test_an_admin_invites_changes_and_removes_a_member(
    client: TestClient, browser: Browser, live_server: LiveServer, admin: Account, page: Page
) -> None:
    colleague = sign_up(client)
    page.goto("/organization/members")
    # An address without an account and one with: the same answer, both pending.
    page.fill("#member-email", "nobody@example.com")
    page.click("#add-member button[type=submit]")
    expect(page.locator("#pending-invitations")).to_contain_text("nobody@example.com")
    page.fill("#member-email", colleague.email)
    page.select_option("#member-role", "guest")
    page.click("#add-member button[type=submit]")
    expect(page.locator("#pending-invitations")).to_contain_text(colleague.email)
    expect(page.locator(f"#role-{colleague.user_id}")).to_have_count(0)  # not a member yet
    expect(page.locator("#add-member .form-error")).to_be_hidden()

    their = _open(browser, live_server, colleague)
    try:
        invited = their.new_page()
        invited.goto("/invitations")
        row = invited.locator("#my-invitations tr", has_text="Guest")
        expect(row).to_have_count(1)
        row.get_by_role("button", name="Accept").click()
        expect(invited.locator("#my-invitations")).to_contain_text("No invitations")
    finally:
        their.close()

    page.reload()
    role = page.locator(f"#role-{colleague.user_id}")
    expect(role).to_have_value("guest")
    expect(page.locator("#pending-invitations")).not_to_contain_text(colleague.email)

    with page.expect_navigation():  # saved at once, then the page re-reads the list
        role.select_option("advanced_engineer")
    expect(page.locator(f"#role-{colleague.user_id}")).to_have_value("advanced_engineer")
    members = client.get("/api/v1/organizations/current/members", headers=admin.headers).json()
    assert {m["email"]: m["role"] for m in members}[colleague.email] == "advanced_engineer"
    Screens("members").take(page, "list")

    page.locator("tr", has_text=colleague.email).get_by_role("button", name="Remove").click()
    expect(page.locator("tr", has_text=colleague.email)).to_have_count(0)
    members = client.get("/api/v1/organizations/current/members", headers=admin.headers).json()
    assert colleague.email not in {m["email"] for m in members}
