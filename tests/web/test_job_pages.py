"""The job page, the home page and the new-job form as the server renders them (both
databases): what they show of a job's evaluation, checkpoints and attempts; what an
organization sees after login; which trainer and models the form offers for a dataset."""

from __future__ import annotations

import hashlib
import io
import json
import re
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image

from lensforge.jobs.state import JobStatus, transition
from lensforge.kit.db import transaction
from lensforge.models import JobAttempt, TrainingJob
from tests.fixtures.app import member_with_role, sign_up
from tests.jobs.helpers import claim, create_job, end_attempt, sessions
from tests.web.helpers import browser_for


def _rows(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}".*?</table>', html, re.S)
    assert found, f"no {testid} table on the page"
    return found.group(0)


def test_the_job_page_shows_the_evaluation_checkpoint_metrics_and_sizes(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    trainer.report("started")
    content = b"x" * 1500
    trainer.upload("checkpoints/best.json", content)
    trainer.report(
        "checkpoint",
        {
            "kind": "best",
            "epoch": 2,
            "name": "checkpoints/best.json",
            "size": len(content),
            "sha256": hashlib.sha256(content).hexdigest(),
            "metrics": {"train/loss": 0.5, "val/mAP50": 0.8123, "lr/pg0": 0.001},
        },
    )
    table = {"columns": ["class", "precision", "AP50"], "rows": [["raccoon", 0.91, None]]}
    png = io.BytesIO()
    Image.new("RGB", (30, 20), "white").save(png, format="PNG")
    for name, body, kind, ctype in (
        ("per_class.json", json.dumps(table).encode(), "table", "application/json"),
        ("PR_curve.png", png.getvalue(), "plot", "image/png"),
    ):
        stored = trainer.client.put(
            trainer.url(f"/artifacts/{name}"),
            content=body,
            params={"kind": kind, "title": f"the {name}"},
            headers={**trainer.headers, "Content-Type": ctype},
        )
        assert stored.status_code == 200, stored.text

    html = browser_for(client, user).get(f"/jobs/{setup.job_id}").text

    # Checkpoint metrics are columns, validation first, the learning rate left to the charts.
    checkpoints = _rows(html, "checkpoints")
    headers = re.findall(r'<th scope="col" data-metric="([^"]+)"', checkpoints)
    assert headers == ["val/mAP50", "train/loss"]
    assert re.search(r'data-metric="val/mAP50">0\.8123<', checkpoints)
    # The size as the browser will show the download: 1500 bytes are 1.5 kB (not 1.5 KiB).
    assert 'data-bytes="1500" title="1,500 bytes">1.5 kB<' in checkpoints
    # The per-class table is data, each cell its own; the plot is served by the API.
    evaluation = _rows(html, "artifact-table")
    assert "<td>raccoon</td>" in evaluation
    assert '<td class="num">0.91</td>' in evaluation
    assert '<td class="num muted">—</td>' in evaluation
    assert f'src="/api/v1/training/jobs/{setup.job_id}/artifacts/PR_curve.png"' in html
    assert "the PR_curve.png</figcaption>" in html


def test_an_attempt_taken_over_by_a_resumed_one_is_not_shown_as_a_failure(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    first = claim(client, setup.job_id)
    first.report("started")
    end_attempt(client, first.attempt_id, "lost")
    with transaction(sessions(client)) as session:  # the worker's recovery: back to the queue
        job = session.get(TrainingJob, uuid.UUID(setup.job_id))
        assert job is not None
        transition(session, job, JobStatus.QUEUED, "attempt 1 lost", attempt_number=1)
    second = claim(client, setup.job_id)
    with transaction(sessions(client)) as session:
        attempt = session.get(JobAttempt, second.attempt_id)
        assert attempt is not None
        attempt.resumed_from = f"jobs/{setup.job_id}/outputs/checkpoints/last.json"

    attempts = _rows(browser_for(client, user).get(f"/jobs/{setup.job_id}").text, "attempts")
    assert "status-lost" not in attempts
    assert re.search(r'data-attempt="1">.*?status-interrupted[^>]*>interrupted<', attempts, re.S)
    assert re.search(r'data-attempt="2">.*?data-testid="attempt-origin">resumed<', attempts, re.S)
    assert "taken over by attempt 2" in attempts


def test_the_home_page_leads_an_empty_organization_and_then_shows_its_work(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    browser = browser_for(client, user)
    empty = browser.get("/")
    assert empty.status_code == 200
    assert re.search(r'data-step="project" data-testid="next-step"', empty.text)
    assert 'href="/projects">Create a project</a>' in empty.text
    assert 'data-testid="home-deployments"' in empty.text
    assert "No training jobs yet." in empty.text

    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    trainer.report("started")
    trainer.report(
        "completed",
        {"best_epoch": 3, "best_metric_name": "val/accuracy", "best_metric_value": 0.75},
    )
    home = browser.get("/").text
    assert 'data-testid="next-steps"' not in home  # project, dataset and training are done
    job_row = re.search(rf'data-job-row="{setup.job_id}">.*?</tr>', home, re.S)
    assert job_row, home
    assert ">completed<" in job_row.group(0)
    assert '0.75 <span class="muted small">val/accuracy</span>' in job_row.group(0)
    assert f'data-dataset-row="{setup.dataset_id}"' in home


def test_login_lands_on_the_home_page(client: TestClient) -> None:
    user = sign_up(client)
    browser = browser_for(client, user)
    assert browser.get("/").status_code == 200
    login = browser.get("/login").text
    assert 'name="next" value="/"' in login
    # Every role has a home page (a guest sees the projects it is a member of).
    guest = browser_for(client, member_with_role(client, user, "guest"))
    assert guest.get("/").status_code == 200


def test_the_new_job_form_offers_the_trainer_and_models_of_the_datasets_task(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")  # a detection dataset
    browser = browser_for(client, user)
    base = f"/projects/{setup.project_id}/jobs/new"

    html = browser.get(f"{base}?dataset={setup.dataset_id}").text
    # Ultralytics has models made for detection: it fits better than the generic reference one.
    assert 'name="trainer" value="ultralytics"' in html
    models = re.findall(r'<option value="([^"]+)"[^>]*>[^<]* — ', html)
    assert "yolo11n" in models
    assert "yolov8n" in models
    assert not [m for m in models if m.endswith(("-cls", "-seg", "-pose"))], models

    # Asked for by name, a fitting trainer is kept; its models are still the task's.
    reference = browser.get(f"{base}?dataset={setup.dataset_id}&trainer=reference").text
    assert 'name="trainer" value="reference"' in reference
    # The trainer select keeps the dataset when it switches trainer.
    assert f"trainer=ultralytics&amp;dataset={setup.dataset_id}" in reference


def test_an_evaluation_of_an_earlier_attempt_says_so(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    first = claim(client, setup.job_id)
    first.report("started")
    table = json.dumps({"columns": ["class"], "rows": [["cat"]]}).encode()
    stored = first.client.put(
        first.url("/artifacts/per_class.json"),
        content=table,
        params={"kind": "table"},
        headers={**first.headers, "Content-Type": "application/json"},
    )
    assert stored.status_code == 200, stored.text
    first.report("failed", {"error_type": "training", "message": "diverged"})
    browser = browser_for(client, user)
    source = 'data-testid="evaluation-source">'
    assert f"{source}reported by the trainer" in browser.get(f"/jobs/{setup.job_id}").text

    restarted = client.post(f"/api/v1/training/jobs/{setup.job_id}/restart", headers=user.headers)
    assert restarted.status_code == 202, restarted.text
    claim(client, setup.job_id).report("started")
    html = browser.get(f"/jobs/{setup.job_id}").text
    assert f"{source}from attempt 1: the current attempt has not reported its own yet" in html
