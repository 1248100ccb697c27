"""The job page and the home page in a real browser against a live server, after a run
reported as Ultralytics reports one (losses, precision/recall, mAP and three learning rates per
epoch, checkpoints, the final evaluation's plots and per-class table): learning rates in their
own chart, epochs on the x axis, short y tick labels, every plot decoded, the checkpoint size
equal to the downloaded file's. Screenshots go to .test-artifacts/screenshots/."""

from __future__ import annotations

import hashlib
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from playwright.sync_api import Browser, Page, expect

from lensforge.auth.browser_sessions import SESSION_COOKIE
from lensforge.trainers.reference.evaluation import confusion_png
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.jobs.helpers import Trainer, claim, create_job
from tests.web.browser import VIEWPORT, Screens

pytestmark = pytest.mark.xdist_group("browser")

EPOCHS = 12


@pytest.fixture
def account(client: TestClient) -> Account:
    return sign_up(client)


def _open(browser: Browser, live_server: LiveServer, account: Account) -> Iterator[Page]:
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


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, account: Account) -> Iterator[Page]:
    yield from _open(browser, live_server, account)


def _pr_curve() -> bytes:
    image = Image.new("RGB", (480, 320), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle([40, 20, 460, 290], outline="black")
    points = [
        (40 + 420 * r, 20 + 270 * (1 - (1 - r**3) ** 0.5)) for r in [i / 50 for i in range(51)]
    ]
    draw.line(points, fill=(30, 90, 200), width=3)
    draw.text((200, 296), "recall", fill="black")
    draw.text((4, 140), "precision", fill="black")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def _predictions() -> bytes:
    image = Image.new("RGB", (640, 480), (120, 140, 110))
    draw = ImageDraw.Draw(image)
    draw.rectangle([180, 120, 420, 400], outline=(255, 56, 56), width=4)
    draw.text((186, 100), "raccoon 0.87", fill=(255, 56, 56))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def _artifact(trainer: Trainer, name: str, body: bytes, kind: str, ctype: str, title: str) -> None:
    stored = trainer.client.put(
        trainer.url(f"/artifacts/{name}"),
        content=body,
        params={"kind": kind, "title": title},
        headers={**trainer.headers, "Content-Type": ctype},
    )
    assert stored.status_code == 200, stored.text


def _ultralytics_like_run(trainer: Trainer) -> None:
    trainer.report("started")
    metrics: dict[str, float] = {}
    for epoch in range(1, EPOCHS + 1):
        done = epoch / EPOCHS
        metrics = {
            "train/box_loss": 1.6 - 0.6 * done,
            "train/cls_loss": 2.4 - 1.5 * done,
            "train/dfl_loss": 1.3 - 0.2 * done,
            "val/box_loss": 1.7 - 0.5 * done,
            "val/precision": 0.3 + 0.55 * done,
            "val/recall": 0.2 + 0.6 * done,
            "val/mAP50": 0.1 + 0.75 * done,
            "val/mAP50-95": 0.05 + 0.5 * done,
            "lr/pg0": 0.000476 * (0.5 + 0.5 * math.cos(math.pi * done)) + 1e-6,
            "lr/pg1": 0.000476 * (0.5 + 0.5 * math.cos(math.pi * done)) + 1e-6,
            "lr/pg2": 0.0701 * (1 - done) + 1e-5,
        }
        trainer.report("progress", {"epoch": epoch, "total_epochs": EPOCHS, "metrics": metrics})
    weights = bytes(range(256)) * 25_000  # 6.4 MB: the units matter
    for kind in ("last", "best"):
        trainer.upload(f"checkpoints/{kind}.pt", weights)
        trainer.report(
            "checkpoint",
            {
                "kind": kind,
                "epoch": EPOCHS,
                "name": f"checkpoints/{kind}.pt",
                "size": len(weights),
                "sha256": hashlib.sha256(weights).hexdigest(),
                "metrics": metrics,
            },
        )
    table = {
        "columns": ["class", "images", "instances", "precision", "recall", "mAP50", "mAP50-95"],
        "rows": [
            ["all", 40, 44, 0.85, 0.8, 0.85, 0.55],
            ["raccoon", 40, 44, 0.85, 0.8, 0.85, 0.55],
        ],
    }
    _artifact(
        trainer,
        "per_class.json",
        json.dumps(table).encode(),
        "table",
        "application/json",
        "Per-class metrics (validation)",
    )
    _artifact(trainer, "PR_curve.png", _pr_curve(), "plot", "image/png", "Precision-recall curve")
    _artifact(
        trainer,
        "confusion_matrix.png",
        confusion_png(["raccoon"], [[40]]),
        "plot",
        "image/png",
        "Confusion matrix",
    )
    _artifact(
        trainer,
        "val_batch0_pred.jpg",
        _predictions(),
        "plot",
        "image/jpeg",
        "Predictions on validation images",
    )
    trainer.report(
        "completed",
        {
            "best_epoch": EPOCHS,
            "best_metric_name": "val/mAP50-95",
            "best_metric_value": metrics["val/mAP50-95"],
            "metrics": metrics,
        },
    )


def test_the_job_page_after_an_ultralytics_like_run(
    client: TestClient, account: Account, page: Page, tmp_path: Path
) -> None:
    setup = create_job(client, account, tmp_path / "data", name="raccoon detector")
    _ultralytics_like_run(claim(client, setup.job_id))
    shots = Screens("job-page")

    page.goto(f"/jobs/{setup.job_id}")
    lr_chart = page.get_by_test_id("chart-lr")
    expect(lr_chart).to_be_visible()
    label = lr_chart.get_attribute("aria-label") or ""
    assert "lr/pg0" in label, label
    assert "lr/pg2" in label, label
    assert label.endswith("by epoch"), label
    for other in ("chart-loss", "chart-map", "chart-pr"):
        chart = page.get_by_test_id(other)
        expect(chart).to_be_visible()
        assert "lr/" not in (chart.get_attribute("aria-label") or "")
        assert chart.get_attribute("data-x-label") == "epoch"
    assert page.get_by_test_id("chart-other").count() == 0  # nothing left unclassified
    ticks = (lr_chart.get_attribute("data-y-ticks") or "").split("|")
    assert len(ticks) >= 3, ticks
    assert all(0 < len(t) <= 6 for t in ticks), ticks
    # The legend shows the last epoch's values, a tiny learning rate as such (not "0").
    values = lr_chart.locator(".u-legend .u-value")
    expect(values.nth(0)).to_have_text("12")
    expect(values.nth(1)).to_have_text("1.00e-6")

    # Every plot is decoded by the browser; the table is data.
    plots = page.get_by_test_id("artifact-plot").locator("img")
    expect(plots).to_have_count(3)
    for index in range(3):
        plots.nth(index).scroll_into_view_if_needed()
        expect(plots.nth(index)).to_have_js_property("complete", True)
        assert plots.nth(index).evaluate("i => i.naturalWidth") > 0
    table = page.get_by_test_id("artifact-table")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").nth(1).locator("td").first).to_have_text("raccoon")

    # The size shown is the downloaded file's.
    best = page.locator('[data-testid="checkpoints"] tr[data-kind="best"]')
    size_cell = best.locator("td[data-bytes]")
    expect(size_cell).to_have_text("6.4 MB")
    downloaded = page.request.get(
        best.get_by_test_id("checkpoint-download").get_attribute("href") or ""
    )
    assert len(downloaded.body()) == int(size_cell.get_attribute("data-bytes") or 0) == 6_400_000
    expect(best.locator('td[data-metric="val/mAP50-95"]')).to_have_text("0.55")

    page.get_by_test_id("chart-lr").scroll_into_view_if_needed()
    shots.take(page, "job", full_page=True)

    page.goto("/")
    row = page.locator(f'[data-job-row="{setup.job_id}"]')
    expect(row.locator('[data-field="status"]')).to_have_text("completed")
    expect(row.locator('[data-field="best"]')).to_contain_text("0.55")
    expect(page.get_by_test_id("home-deployments")).to_contain_text("No deployments yet")
    shots.take(page, "home", full_page=True)


def test_the_home_page_of_an_empty_organization_says_what_to_do_first(
    browser: Browser, live_server: LiveServer, client: TestClient
) -> None:
    for page in _open(browser, live_server, sign_up(client)):
        page.goto("/")
        step = page.get_by_test_id("next-step")
        expect(step).to_contain_text("Create a project")
        step.get_by_role("link", name="Create a project").click()
        expect(page).to_have_url(f"{live_server.url}/projects")
        page.goto("/")
        Screens("home").take(page, "empty", full_page=True)
