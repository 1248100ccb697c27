"""The web UI's import form: skipping undecodable images, and the report that lists them (and
every warning) with their files; in a real browser against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from lensforge.auth.browser_sessions import SESSION_COOKIE
from tests.datasets.importing import create_dataset, create_project, tiny_yolo, zip_folder
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.web.browser import VIEWPORT

pytestmark = pytest.mark.xdist_group("browser")


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


def test_the_form_can_skip_undecodable_images_and_the_report_lists_them(
    client: TestClient, account: Account, page: Page, tmp_path: Path
) -> None:
    folder = tiny_yolo(tmp_path / "pets", boxes={"a": ["0 0.5 0.5 0.2 0.2"], "b": []})
    (folder / "images/b.jpg").write_bytes(b"not a jpeg at all")
    archive = zip_folder(folder, tmp_path / "pets.zip")
    project = create_project(client, account)
    dataset = create_dataset(client, account, project)

    page.goto(f"/datasets/{dataset}/import")
    page.set_input_files("#upload-file", str(archive))
    page.click("#upload-start")  # strict by default: the broken image fails the import
    expect(page.get_by_test_id("import-status")).to_have_text("failed", timeout=60_000)
    expect(page.get_by_test_id("import-report")).to_contain_text("image_unreadable")

    page.check("#upload-skip-invalid")
    page.click("#upload-start")
    expect(page.get_by_test_id("import-status")).to_have_text("succeeded", timeout=60_000)
    report = page.get_by_test_id("import-report")
    expect(report).to_contain_text("image_skipped")
    expect(report).to_contain_text("images/b.jpg")
