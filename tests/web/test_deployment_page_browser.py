"""A deployment in a real browser against a live server: created with the project's form; on
its page, live charts drawn from the stats route (usage records as a serving replica writes
them), a rollback from the versions table, a key created with its secret shown once, and the
try-it form. A screenshot goes to .test-artifacts/screenshots/."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from lensforge.auth.browser_sessions import SESSION_COOKIE
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import UsageRecord
from tests.client.deployment_setup import verified_onnx_export
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.jobs.helpers import sessions
from tests.web.browser import VIEWPORT, Screens

pytestmark = pytest.mark.xdist_group("browser")
API = "/api/v1"


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


def _jpeg(path: Path) -> Path:
    Image.new("RGB", (64, 64), (120, 90, 60)).save(path, "JPEG")
    return path


def _meter(client: TestClient, deployment: dict[str, str], organization_id: str) -> None:
    """Requests of the last minutes, as the serving process records them: one failed."""
    now = utcnow()
    with transaction(sessions(client)) as session:
        for index in range(12):
            session.add(
                UsageRecord(
                    request_id=uuid.uuid4(),
                    organization_id=uuid.UUID(organization_id),
                    project_id=uuid.UUID(deployment["project_id"]),
                    deployment_id=uuid.UUID(deployment["id"]),
                    deployment_name=deployment["name"],
                    version=1,
                    route="image",
                    status=500 if index == 0 else 200,
                    error_code="internal" if index == 0 else None,
                    images=1,
                    bytes_in=2000,
                    bytes_out=300,
                    compute_ms=3.0,
                    total_ms=5.0 + index,
                    batch_size=1,
                    created_at=now - timedelta(minutes=index % 3, seconds=5),
                )
            )


def test_the_deployment_page_charts_rolls_back_and_creates_a_key(
    client: TestClient, account: Account, page: Page, tmp_path: Path
) -> None:
    first = verified_onnx_export(client, account, tmp_path / "one")
    second = verified_onnx_export(client, account, tmp_path / "two", job=first.job)
    # deployed from the project's list, with the form
    page.goto(f"/projects/{first.job.project_id}/deployments")
    page.fill("#deployment-name", "pets")
    page.select_option("#deployment-source", f"export:{first.export_id}")
    page.get_by_role("button", name="Deploy").click()
    page.wait_for_url("**/deployments/*")
    created = client.get(
        f"{API}/deployments/{page.url.rsplit('/', 1)[-1]}", headers=account.headers
    ).json()
    assert (created["name"], created["version"]["export_id"]) == ("pets", first.export_id)
    client.post(
        f"{API}/deployments/{created['id']}/versions",
        json={"export_id": second.export_id},
        headers=account.headers,
    )
    _meter(client, created, account.organization_id)

    page.goto(f"/projects/{created['project_id']}/deployments")
    page.get_by_role("link", name="pets").click()
    expect(page.get_by_test_id("deployment-status")).to_have_text("ready")
    expect(page.get_by_test_id("current-version")).to_have_text("2")
    expect(page.get_by_test_id("url-image")).to_contain_text("/v1/infer/pets")

    # the charts fill from the stats route: three drawn plots, the points of the last hour
    charts = page.locator("#deployment-charts")
    expect(charts).not_to_have_attribute("data-points", "0", timeout=10_000)
    expect(charts.locator("canvas")).to_have_count(3)
    expect(page.locator("#stats-empty")).to_be_hidden()
    Screens("deployment").take(page, "page", full_page=True)

    # roll back to version 1 from the history
    page.on("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("rollback-1").click()
    expect(page.get_by_test_id("current-version")).to_have_text("1")

    # a key for this deployment: its secret once
    page.fill("#deployment-key-name", "camera-1")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_test_id("new-key-secret")).to_contain_text("lfk_")

    # the try-it form: an image through the current version, drawn, with the JSON
    page.set_input_files("#try-image", str(_jpeg(tmp_path / "cat.jpg")))
    page.locator("#try-form button[type=submit]").click()
    expect(page.get_by_test_id("try-json")).to_contain_text('"class_name"')
    expect(page.get_by_test_id("try-rendered")).to_be_visible()
