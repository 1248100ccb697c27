"""The whole path in a real browser, in one run: sign up → create a project → upload a dataset
and read its report → browse images with boxes → start a training job on the reference
trainer → watch its chart and log update live without a reload → cancel and restart it → run a
test inference → compare two jobs. Screenshots of the key pages go to
.test-artifacts/screenshots/."""

from __future__ import annotations

import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.fixtures.app import STRONG_PASSWORD
from tests.fixtures.shared_data import RACCOON
from tests.web.browser import VIEWPORT, Screens, UpServer

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("subprocess-server")]

LIVE_TIMEOUT_MS = 60_000


@pytest.fixture
def raccoon_zip(tmp_path: Path) -> Path:
    archive = shutil.make_archive(str(tmp_path / "raccoon"), "zip", RACCOON.parent, RACCOON.name)
    return Path(archive)


@pytest.fixture
def page(browser: Browser, up_server: UpServer) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT, base_url=up_server.url)
    errors: list[str] = []
    opened = context.new_page()
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on(
        "console",
        lambda message: (
            errors.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    # No request may leave the server: no CDN, no web font, nothing.
    outside: list[str] = []
    opened.on(
        "request",
        lambda request: (
            None
            if request.url.startswith((up_server.url, "ws://127.0.0.1", "data:", "blob:"))
            else outside.append(request.url)
        ),
    )
    opened.on("dialog", lambda dialog: dialog.accept())
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the pages: {errors}"
    assert not outside, f"requests outside the server: {outside}"


def _points(page: Page) -> int:
    return int(page.locator("#charts").get_attribute("data-points") or 0)


def _wait_for(page: Page, condition: Callable[[], bool], what: str) -> None:
    """Poll from the test's side: the pages' Content-Security-Policy forbids the string
    evaluation `page.wait_for_function` would need."""
    deadline = time.monotonic() + LIVE_TIMEOUT_MS / 1000
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        page.wait_for_timeout(100)


def _start_job(page: Page, project_url: str, *, epochs: int, delay: float, name: str) -> str:
    page.goto(f"{project_url}/jobs/new")
    # The form offers the trainer fitting the detection dataset (Ultralytics); the walk picks
    # the reference trainer, which the server's worker runs in its own environment.
    page.select_option("#job-trainer", label="reference")
    page.wait_for_url(re.compile(r".*trainer=reference.*"))
    page.fill("#job-name", name)
    page.fill("#field-basic-epochs", str(epochs))
    page.fill("#field-basic-imgsz", "8")
    page.locator("details summary").click()
    page.fill("#field-advanced-epoch_delay_seconds", str(delay))
    page.click("#job-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/jobs/[0-9a-f-]{36}$"))
    return page.url


def test_the_whole_path_in_a_browser(page: Page, up_server: UpServer, raccoon_zip: Path) -> None:
    shots = Screens("walk")

    # Sign up: a new account with its own organization.
    page.goto("/projects")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fprojects$"))
    shots.take(page, "00-login")
    page.get_by_role("link", name="Sign up").click()
    shots.take(page, "00-signup")
    page.fill("#display_name", "Ada")
    page.fill("#email", f"ada-{uuid.uuid4().hex[:6]}@example.com")
    page.fill("#password", STRONG_PASSWORD)
    page.press("#password", "Enter")  # the forms work from the keyboard
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()
    expect(page.get_by_text("No projects yet.")).to_be_visible()

    # An API key: the secret is shown once.
    page.get_by_role("link", name="API keys").click()
    page.fill("#key-name", "ci")
    page.click("#create-key button[type=submit]")
    expect(page.locator("#new-key [data-result-field=secret]")).to_have_text(re.compile("^lfk_"))
    expect(page.locator("#keys-card tr[data-key=ci]")).to_be_visible()
    shots.take(page, "01-api-keys")
    page.get_by_role("link", name="Members").click()
    expect(page.locator("#add-member")).to_be_visible()
    page.get_by_role("link", name="Projects", exact=True).click()

    # Create a project.
    page.fill("#project-name", "Raccoons")
    page.click("#new-project button[type=submit]")
    page.wait_for_url(re.compile(r".*/projects/[0-9a-f-]{36}$"))
    project_url = page.url
    expect(page.get_by_role("heading", name="Raccoons", exact=True)).to_be_visible()
    shots.take(page, "02-project-empty")

    # Upload the dataset with the chunked uploader, and read the import report.
    page.goto(f"{project_url}/datasets")
    page.fill("#dataset-name", "raccoon")
    page.click("#new-dataset button[type=submit]")
    page.wait_for_url(re.compile(r".*/datasets/[0-9a-f-]{36}/import$"))
    page.set_input_files("#upload-file", str(raccoon_zip))
    page.click("#upload-start")
    expect(page.locator("#upload-status")).to_be_visible()
    report = page.get_by_test_id("import-report")
    expect(report).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_test_id("import-status")).to_have_text("succeeded")
    expect(report).to_contain_text("0 error(s)")
    expect(report).to_contain_text("format voc")
    expect(page.locator("#upload-progress")).to_have_attribute("aria-valuenow", "100")
    shots.take(page, "03-import-report")

    # Browse the images: thumbnails with their boxes drawn over them.
    page.get_by_role("link", name="Browse the images").click()
    thumbs = page.get_by_test_id("thumb")
    expect(thumbs.first).to_be_visible()
    expect(page.locator("#browse-count")).to_have_text("1–48 of 200")
    assert page.locator("#thumb-grid svg rect").count() >= 48
    first_rows = page.locator("#thumb-grid img").all()[:10]
    for image in first_rows:
        _wait_for(page, lambda image=image: image.evaluate("i => i.complete"), "thumbnails")
    shots.take(page, "04-images")
    thumbs.first.click()
    expect(page.locator("#image-dialog svg rect").first).to_be_visible()
    big = page.locator("#image-dialog img")
    _wait_for(page, lambda: big.evaluate("i => i.complete && i.naturalWidth > 0"), "the image")
    shots.take(page, "04-image-dialog")
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Statistics").click()
    expect(page.get_by_test_id("class-histogram")).to_contain_text("raccoon")
    shots.take(page, "05-dataset-stats")

    # The split editor makes version 2; the diff shows what moved.
    page.get_by_role("link", name="Splits").click()
    page.select_option("#split-mode", "ratio")
    page.fill("#split-train", "0.7")
    page.fill("#split-val", "0.2")
    page.fill("#split-test", "0.1")
    page.fill("#split-seed", "7")
    page.click("#split-form button[type=submit]")
    page.wait_for_url(re.compile(r".*tab=splits&v=2$"))
    page.get_by_role("link", name="Compare versions").click()
    moved = page.locator(".stat", has_text="items moved").locator(".stat-value")
    assert int(moved.inner_text()) > 0
    shots.take(page, "05-dataset-diff")

    # Download in each format that can hold detection data.
    page.locator(".tabs").get_by_role("link", name="Overview").click()
    expect(page.get_by_test_id("download-imagefolder")).to_have_count(0)
    with page.expect_download() as download:
        page.get_by_test_id("download-coco").click()
    assert download.value.suggested_filename.endswith(".zip")
    assert download.value.failure() is None
    page.click("#dataset-share")
    expect(page.locator("#dataset-share")).to_have_text("Stop sharing")

    # A job whose config the server refuses shows the error beside the field.
    page.goto(f"{project_url}/jobs/new")
    expect(page.locator("#job-form input[name=trainer]")).to_have_value("ultralytics")
    page.fill("#field-basic-epochs", "0")
    page.keyboard.press("Tab")  # checked by the server as soon as the field changes
    error = page.locator('[data-field-for="config.basic.epochs"] .field-error')
    expect(error).to_contain_text("minimum")
    page.fill("#field-basic-epochs", "2")
    page.keyboard.press("Tab")
    expect(error).to_be_hidden()
    page.fill("#field-basic-epochs", "0")
    page.click("#job-form button[type=submit]")
    expect(error).to_be_visible()
    expect(error).to_contain_text("minimum")
    expect(page.locator("#job-form .form-error")).to_contain_text("highlighted")
    shots.take(page, "06-new-job-invalid")

    # Start a slowed-down job and watch it live: chart points and log lines arrive over the
    # WebSocket while the page stays the same page (no reload, no polling).
    job_url = _start_job(page, project_url, epochs=30, delay=1.0, name="slow run")
    page.evaluate("window.__samePage = true")
    _wait_for(page, lambda: _points(page) >= 2, "two chart points")
    before, lines = _points(page), page.locator("#log .log-line").count()
    _wait_for(page, lambda: _points(page) > before, "a new chart point")
    expect(page.locator("#log .log-line")).not_to_have_count(lines)
    assert page.evaluate("window.__samePage") is True
    expect(page.get_by_test_id("chart-loss")).to_be_visible()
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.get_by_test_id("job-status")).to_have_text("running")
    shots.take(page, "07-job-live", full_page=True)

    # Cancel, then restart: the header follows the job's status by itself.
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled", timeout=LIVE_TIMEOUT_MS)
    shots.take(page, "08-job-cancelled")
    page.get_by_test_id("restart").click()
    expect(page.get_by_test_id("job-status")).to_have_text(
        re.compile("queued|preparing|running"), timeout=LIVE_TIMEOUT_MS
    )
    assert page.evaluate("window.__samePage") is True
    page.goto(job_url)
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("job-status")).to_have_text("cancelled", timeout=LIVE_TIMEOUT_MS)

    # A quick second job runs to the end; then compare the two. Meanwhile the job list, open
    # in another tab, shows the new job and follows it to the end by itself.
    job_list = page.context.new_page()
    job_list.goto(f"{project_url}/jobs")
    expect(job_list.locator("[data-job-row]")).to_have_count(1)
    quick_url = _start_job(page, project_url, epochs=3, delay=0, name="quick run")
    expect(page.get_by_test_id("job-status")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    quick_row = job_list.locator(f'[data-job-row="{quick_url.rsplit("/", 1)[-1]}"]')
    expect(quick_row.locator('[data-field="status"]')).to_have_text("completed")
    job_list.close()
    expect(page.get_by_test_id("checkpoints")).to_contain_text("best")
    shots.take(page, "09-job-completed", full_page=True)

    # A test inference: drop two images, see the predictions drawn, with scores and JSON.
    page.goto(f"{project_url}/inference?job={quick_url.rsplit('/', 1)[-1]}")
    page.set_input_files(
        "#predict-files",
        [str(RACCOON / "images" / "raccoon-1.jpg"), str(RACCOON / "images" / "raccoon-2.jpg")],
    )
    page.click("#predict-start")
    results = page.get_by_test_id("inference-results")
    expect(results).to_be_visible(timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_test_id("run-status")).to_have_text("completed")
    expect(page.get_by_test_id("rendered")).to_have_count(2)
    for image in page.get_by_test_id("rendered").all():
        _wait_for(page, lambda image=image: image.evaluate("i => i.naturalWidth") > 0, "image")
    expect(results.locator(".class-chip").first).to_have_text("raccoon")
    results.locator("details summary").first.click()
    expect(results.locator("pre.code").first).to_contain_text('"detections"')
    shots.take(page, "10-inference", full_page=True)

    # An export of the same model: its status follows live, then the verification report.
    page.goto(f"{project_url}/exports?job={quick_url.rsplit('/', 1)[-1]}")
    page.click("#export-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/exports/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("export-status")).to_have_text("completed", timeout=LIVE_TIMEOUT_MS)
    expect(page.get_by_test_id("verification")).to_contain_text("passed")
    expect(page.get_by_test_id("download-export")).to_be_visible()
    shots.take(page, "11-export", full_page=True)

    page.goto(f"{project_url}/compare")
    for name in ("slow run", "quick run"):
        page.locator("label.pick", has_text=name).locator("input").check()
    page.get_by_role("button", name="Compare").click()
    _wait_for(page, lambda: _points(page) > 0, "the compared curves")
    expect(page.get_by_test_id("best-metrics")).to_contain_text("quick run")
    differing = page.locator(".config-table tr.differs")
    expect(differing.filter(has_text="config.basic.epochs")).to_have_count(1)
    shots.take(page, "12-compare", full_page=True)

    page.goto(f"{project_url}/jobs")
    expect(page.locator("[data-job-row]")).to_have_count(2)
    shots.take(page, "13-jobs")
    page.goto(project_url)
    shots.take(page, "14-project")
    page.goto(f"/jobs/{uuid.uuid4()}")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    shots.take(page, "15-not-found")
