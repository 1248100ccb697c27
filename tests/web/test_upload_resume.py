"""The browser's chunked upload resumes: when a part fails for good, pressing the button again
sends only the parts the server is missing, then imports; in a real browser against a live
server (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, Route, expect

from lensforge.auth.browser_sessions import SESSION_COOKIE
from tests.datasets.importing import create_dataset, create_project
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.fixtures.shared_data import RACCOON
from tests.web.browser import VIEWPORT, Screens

pytestmark = pytest.mark.xdist_group("browser")

PART = re.compile(r".*/api/v1/uploads/[0-9a-f-]+/parts/(\d+)$")


@pytest.fixture
def account(client: TestClient) -> Account:
    return sign_up(client)


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, account: Account) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    context.add_cookies(
        [{"name": SESSION_COOKIE, "value": account.refresh_token, "url": live_server.url}]
    )
    opened = context.new_page()
    try:
        yield opened
    finally:
        context.close()


def test_an_interrupted_upload_resumes_with_the_missing_parts_only(
    client: TestClient, account: Account, page: Page, tmp_path: Path
) -> None:
    archive = Path(
        shutil.make_archive(str(tmp_path / "raccoon"), "zip", RACCOON.parent, RACCOON.name)
    )
    assert archive.stat().st_size > 3 * 4 * 1024 * 1024  # at least four 4 MiB parts
    project = create_project(client, account)
    dataset = create_dataset(client, account, project)

    sent: Counter[int] = Counter()

    def refuse_part_three(route: Route) -> None:
        number = int(PART.match(route.request.url).group(1))  # type: ignore[union-attr]
        if number == 3:  # a failure the uploader does not retry: the upload stops here
            route.fulfill(
                status=400,
                content_type="application/json",
                body='{"error": {"code": "simulated", "message": "the connection broke"}}',
            )
            return
        sent[number] += 1
        route.continue_()

    page.route(PART, refuse_part_three)
    page.goto(f"/datasets/{dataset}/import")
    page.set_input_files("#upload-file", str(archive))
    page.click("#upload-start")
    expect(page.locator("#upload-error")).to_contain_text("the connection broke", timeout=60_000)
    expect(page.locator("#upload-error")).to_contain_text("again to resume")
    assert sent == Counter({1: 1, 2: 1})

    page.unroute(PART)

    def count(route: Route) -> None:
        sent[int(PART.match(route.request.url).group(1))] += 1  # type: ignore[union-attr]
        route.continue_()

    page.route(PART, count)
    page.click("#upload-start")
    expect(page.get_by_test_id("import-status")).to_have_text("succeeded", timeout=60_000)
    # Parts 1 and 2 went once, before the failure; the resume sent the rest only.
    assert sent[1] == 1
    assert sent[2] == 1
    assert sent[3] == 1
    assert len(sent) >= 4
    Screens("upload").take(page, "resumed")
