"""The image browser draws every kind of annotation: polygons (segmentation) and keypoints
(pose) over the thumbnails, in the class colours, in a real browser against a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, Page, expect

from lensforge.auth.browser_sessions import SESSION_COOKIE
from tests.datasets.helpers import make_version
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.formats.test_roundtrip import yolo_pose, yolo_segmentation
from tests.web.browser import VIEWPORT, Screens

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
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        context.close()
    assert not errors, errors


def test_polygons_and_keypoints_are_drawn_over_the_thumbnails(
    client: TestClient, account: Account, page: Page, tmp_path: Path
) -> None:
    segmentation = make_version(
        client,
        account,
        yolo_segmentation(tmp_path / "seg"),
        task="segmentation",
        name="shapes",
    )
    pose = make_version(
        client, account, yolo_pose(3)(tmp_path / "pose"), task="pose", name="people"
    )

    page.goto(f"/datasets/{segmentation.dataset_id}?tab=images")
    expect(page.get_by_test_id("thumb")).to_have_count(2)
    polygons = page.locator("#thumb-grid svg polygon")
    expect(polygons).to_have_count(3)  # two objects in one image, one in the other
    colours = {polygons.nth(i).get_attribute("stroke") for i in range(3)}
    assert len(colours) == 2  # one colour per class
    Screens("shapes").take(page, "segmentation")

    page.goto(f"/datasets/{pose.dataset_id}?tab=images")
    expect(page.get_by_test_id("thumb")).to_have_count(1)
    # Two labelled keypoints (one visible, one occluded); the unlabelled one is not drawn.
    expect(page.locator("#thumb-grid svg circle")).to_have_count(2)
    expect(page.locator("#thumb-grid svg rect")).to_have_count(1)
    Screens("shapes").take(page, "pose")
