"""The server side of the trainer contract, driven as a trainer would: plain HTTP with the
attempt's job token, after a claim written the way the worker writes it."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from lensforge.jobs.state import JobStatus, transition
from lensforge.kit.db import transaction
from lensforge.models import TrainingJob
from tests.fixtures.app import Account, sign_up
from tests.jobs.helpers import claim, create_job, end_attempt, make_version, sessions


def test_a_run_from_claim_to_completion(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)

    spec = trainer.get()
    assert spec.status_code == 200, spec.text
    body = spec.json()
    assert (body["job_id"], body["attempt"], body["trainer"], body["model"]) == (
        setup.job_id,
        1,
        "reference",
        "linear",
    )
    assert body["dataset"]["classes"] == ["cat", "dog"]
    assert body["dataset"]["split"]["mode"] == "source"
    assert body["config"]["basic"]["epochs"] == 3
    assert body["resume"] is None

    manifest = trainer.get("/dataset/manifest")
    assert manifest.status_code == 200
    # Served as stored: the very bytes the version's content hash was computed over.
    assert hashlib.sha256(manifest.content).hexdigest() == body["dataset"]["content_hash"]
    items = json.loads(manifest.content)["items"]
    assert len(items) == 4
    assert all(i["split"] in ("train", "val", "test") for i in items)
    sha = items[0]["sha256"]
    urls = trainer.post("/dataset/urls", {"sha256": [sha]})
    assert urls.status_code == 200, urls.text
    image = client.get(urls.json()["urls"][sha])
    assert hashlib.sha256(image.content).hexdigest() == sha

    trainer.report("started")
    assert _job(client, user, setup.job_id)["status"] == "running"
    for epoch in (1, 2, 3):
        trainer.report(
            "progress",
            {
                "epoch": epoch,
                "total_epochs": 3,
                "metrics": {"loss": 1.0 / epoch, "acc": 0.3 * epoch},
            },
        )
    trainer.report("log", {"level": "INFO", "message": "saving the best model"})
    checkpoint = b'{"weights": [1, 2, 3]}'
    trainer.upload("checkpoints/best.json", checkpoint)
    trainer.report(
        "checkpoint",
        {
            "kind": "best",
            "epoch": 3,
            "name": "checkpoints/best.json",
            "size": len(checkpoint),
            "sha256": hashlib.sha256(checkpoint).hexdigest(),
            "metrics": {"acc": 0.9},
        },
    )
    done = trainer.report(
        "completed",
        {"best_epoch": 3, "best_metric_name": "acc", "best_metric_value": 0.9, "metrics": {}},
    )
    assert done["cancel_requested"] is False

    job = _job(client, user, setup.job_id)
    assert job["status"] == "completed"
    assert (job["epoch"], job["total_epochs"], job["best_epoch"]) == (3, 3, 3)
    assert (job["best_metric_name"], job["best_metric_value"]) == ("acc", 0.9)
    assert [a["status"] for a in job["attempts"]] == ["completed"]
    assert [t["to_status"] for t in job["transitions"]] == [
        "queued",
        "preparing",
        "running",
        "completed",
    ]
    metrics = client.get(f"/api/v1/training/jobs/{setup.job_id}/metrics", headers=user.headers)
    assert [p["step"] for p in metrics.json()["points"]] == [1, 2, 3]
    assert metrics.json()["points"][1]["values"] == {"loss": 0.5, "acc": 0.6}
    logs = client.get(f"/api/v1/training/jobs/{setup.job_id}/logs", headers=user.headers)
    assert [line["message"] for line in logs.json()["items"]] == ["saving the best model"]
    listed = client.get(f"/api/v1/training/jobs/{setup.job_id}/checkpoints", headers=user.headers)
    assert listed.status_code == 200, listed.text
    [best] = listed.json()
    assert (best["kind"], best["epoch"], best["size_bytes"]) == ("best", 3, len(checkpoint))
    assert client.get(best["url"]).content == checkpoint

    # The attempt is over: its token no longer works, anywhere.
    refused = trainer.get()
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "attempt_finished"


def test_resent_reports_are_not_applied_twice(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    batch = [
        trainer.make(0, "started"),
        trainer.make(1, "progress", {"epoch": 1, "metrics": {"loss": 0.5}}),
        trainer.make(2, "log", {"level": "info", "message": "hello"}),
    ]
    first = trainer.send(batch)
    assert first.json() == {"applied": [0, 1, 2], "duplicates": [], "cancel_requested": False}
    again = trainer.send([*batch, trainer.make(3, "log", {"message": "new"})])
    assert again.json() == {"applied": [3], "duplicates": [0, 1, 2], "cancel_requested": False}
    logs = client.get(f"/api/v1/training/jobs/{setup.job_id}/logs", headers=user.headers).json()
    assert [(line["level"], line["message"]) for line in logs["items"]] == [
        ("INFO", "hello"),
        ("INFO", "new"),
    ]
    transitions = _job(client, user, setup.job_id)["transitions"]
    assert [t["to_status"] for t in transitions].count("running") == 1


def test_metric_points_are_upserted_per_step(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    trainer.report("started")
    trainer.report("progress", {"epoch": 1, "metrics": {"loss": 0.9}})
    # A resumed attempt re-running epoch 1 replaces its point; a step overrides the epoch.
    trainer.report("progress", {"epoch": 1, "metrics": {"loss": 0.7}})
    trainer.report("progress", {"epoch": 1, "step": 150, "metrics": {"loss": float("nan")}})
    url = f"/api/v1/training/jobs/{setup.job_id}/metrics"
    points = client.get(url, headers=user.headers).json()["points"]
    assert [(p["step"], p["values"]["loss"]) for p in points] == [(1, 0.7), (150, None)]
    later = client.get(url, params={"since_step": 1, "limit": 1}, headers=user.headers).json()
    assert [p["step"] for p in later["points"]] == [150]
    assert later["has_more"] is False


def test_a_reported_failure_fails_the_job(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    trainer.report("started")
    trainer.report(
        "failed",
        {"error_type": "training", "message": "loss is NaN", "traceback": "Traceback ..."},
    )
    job = _job(client, user, setup.job_id)
    assert job["status"] == "failed"
    assert job["status_reason"] == "training: loss is NaN"
    [attempt] = job["attempts"]
    assert (attempt["status"], attempt["error_type"], attempt["error_message"]) == (
        "failed",
        "training",
        "loss is NaN",
    )
    assert attempt["traceback"] == "Traceback ..."


def test_bad_reports_refuse_the_whole_batch(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    unknown = trainer.send([trainer.make(0, "started"), trainer.make(1, "telemetry")])
    assert unknown.status_code == 422
    assert unknown.json()["error"]["code"] == "invalid_report"
    assert unknown.json()["error"]["details"]["sequences"] == [1]
    bad = trainer.send([trainer.make(0, "started"), trainer.make(7, "progress", {"epoch": -1})])
    assert bad.status_code == 422
    assert "7" in bad.json()["error"]["message"]
    assert bad.json()["error"]["details"]["fields"][0]["field"] == "body.reports.1.data.epoch"
    # Nothing of the refused batches was applied: sequence 0 is still new.
    assert trainer.send([trainer.make(0, "started")]).json()["applied"] == [0]
    missing = trainer.send(
        [trainer.make(1, "checkpoint", {"kind": "last", "epoch": 1, "name": "x.json", "size": 3})]
    )
    assert missing.status_code == 422
    assert missing.json()["error"]["code"] == "checkpoint_not_uploaded"


def test_a_checkpoint_report_overtaken_by_a_newer_upload_is_skipped(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    trainer.report("started")
    name = "checkpoints/last.json"
    # The SDK reports in the background: epoch 2's upload may land before epoch 1's report.
    trainer.upload(name, b"epoch-1")
    trainer.upload(name, b"epoch-2!")
    trainer.report("checkpoint", {"kind": "last", "epoch": 1, "name": name, "size": 7})
    url = f"/api/v1/training/jobs/{setup.job_id}/checkpoints"
    assert client.get(url, headers=user.headers).json() == []
    trainer.report("checkpoint", {"kind": "last", "epoch": 2, "name": name, "size": 8})
    [last] = client.get(url, headers=user.headers).json()
    assert (last["epoch"], last["size_bytes"]) == (2, 8)
    logs = client.get(f"/api/v1/training/jobs/{setup.job_id}/logs", headers=user.headers)
    assert logs.json()["items"] == []


def test_status_reports_after_a_cancel_are_recorded_but_ignored(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    trainer.report("started")
    cancel = client.post(f"/api/v1/training/jobs/{setup.job_id}/cancel", headers=user.headers)
    assert cancel.status_code == 202, cancel.text
    assert trainer.post("/heartbeat", {"epoch": 1}).json() == {"cancel_requested": True}
    # The worker records the cancellation while the process is still going away.
    with transaction(sessions(client)) as session:
        job = session.get(TrainingJob, uuid.UUID(setup.job_id))
        assert job is not None
        transition(session, job, JobStatus.CANCELLED, "cancelled by user")
    late = trainer.report("completed", {"best_epoch": 1})
    assert late["cancel_requested"] is True
    assert _job(client, user, setup.job_id)["status"] == "cancelled"
    logs = client.get(f"/api/v1/training/jobs/{setup.job_id}/logs", headers=user.headers).json()
    [note] = logs["items"]
    assert note["source"] == "server"
    assert "the job is cancelled" in note["message"]


def test_dataset_urls_only_for_images_of_the_pinned_version(
    client: TestClient, tmp_path: Path
) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    # Another dataset of the same organization, with images of its own (another size, so
    # other bytes).
    other_project, other_dataset = make_version(
        client, user, tmp_path / "other", boxes={"zz": ["0 0.5 0.5 0.3 0.3"]}, size=(40, 40)
    )
    other_version = client.get(
        f"/api/v1/datasets/{other_dataset}/versions/1/items", headers=user.headers
    )
    assert other_version.status_code == 200, other_version.text
    foreign = other_version.json()["items"][0]["image_sha256"]
    trainer = claim(client, setup.job_id)
    own = json.loads(trainer.get("/dataset/manifest").content)["items"][0]["sha256"]
    refused = trainer.post("/dataset/urls", {"sha256": [own, foreign]})
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "not_in_dataset"
    assert refused.json()["error"]["details"] == {"sha256": [foreign], "count": 1}
    too_many = trainer.post("/dataset/urls", {"sha256": [own] * 1001})
    assert too_many.status_code == 422
    assert other_project != setup.project_id
    assert trainer.post("/dataset/urls", {"sha256": ["not-a-hash"]}).status_code == 422


def test_output_urls_stay_inside_the_job(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    for name in ("../escape.json", "a/../../b", "/etc/passwd", "a//b", "a\\b", "x" * 301):
        response = trainer.post("/outputs/urls", {"files": [{"name": name}]})
        assert response.status_code == 422, (name, response.text)
    ok = trainer.post("/outputs/urls", {"files": [{"name": "checkpoints/last.json"}]})
    assert ok.status_code == 200
    assert (
        f"jobs/{setup.job_id}/outputs/checkpoints/last.json"
        in ok.json()["urls"]["checkpoints/last.json"]
    )
    too_many = trainer.post("/outputs/urls", {"files": [{"name": f"f{i}"} for i in range(101)]})
    assert too_many.status_code == 422


def test_tokens_open_only_their_own_live_attempt(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    project_id, dataset_id = make_version(client, user, tmp_path / "data")
    first = create_job(client, user, tmp_path, project_id=project_id, dataset_id=dataset_id)
    second = create_job(client, user, tmp_path, project_id=project_id, dataset_id=dataset_id)
    mine = claim(client, first.job_id)
    other = claim(client, second.job_id)
    cross = client.get(f"/api/v1/trainer/jobs/{first.job_id}", headers=other.headers)
    assert cross.status_code == 401
    assert cross.json()["error"]["code"] == "job_token_invalid"
    as_user = client.get(f"/api/v1/trainer/jobs/{first.job_id}", headers=user.headers)
    assert as_user.status_code == 401
    forged = client.get(
        f"/api/v1/trainer/jobs/{first.job_id}", headers={"Authorization": "Bearer lfj_forged"}
    )
    assert forged.status_code == 401
    # A job token is no user credential either.
    assert client.get("/api/v1/training/jobs", headers=mine.headers).status_code == 401
    assert mine.get().status_code == 200
    end_attempt(client, mine.attempt_id, "lost")
    gone = mine.post("/reports", {"reports": [mine.make(0, "started")]})
    assert gone.status_code == 403
    assert gone.json()["error"]["code"] == "attempt_finished"


def test_a_resumed_attempt_gets_the_last_checkpoint(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    first = claim(client, setup.job_id)
    first.report("started")
    first.upload("checkpoints/last.json", b"epoch-2")
    first.report(
        "checkpoint", {"kind": "last", "epoch": 2, "name": "checkpoints/last.json", "size": 7}
    )
    first.report("failed", {"error_type": "resource", "message": "out of memory"})
    resumed = client.post(f"/api/v1/training/jobs/{setup.job_id}/resume", headers=user.headers)
    assert resumed.status_code == 202, resumed.text
    second = claim(client, setup.job_id)
    spec = second.get().json()
    assert spec["attempt"] == 2
    assert spec["resume"] == {"checkpoint": {"kind": "last", "epoch": 2, "sha256": None, "size": 7}}
    download = second.get("/checkpoints/last")
    assert download.status_code == 200, download.text
    assert client.get(download.json()["url"]).content == b"epoch-2"
    assert second.get("/checkpoints/best").status_code == 404
    assert first.get().status_code == 403


def test_the_manifest_carries_the_jobs_own_split(client: TestClient, tmp_path: Path) -> None:
    user = sign_up(client)
    split = {"mode": "ratio", "train": 0.5, "val": 0.5, "test": 0.0, "seed": 1}
    setup = create_job(client, user, tmp_path / "data", split=split)
    trainer = claim(client, setup.job_id)
    assert trainer.get().json()["dataset"]["split"]["train"] == 0.5
    items = json.loads(trainer.get("/dataset/manifest").content)["items"]
    # Stratified by each image's rarest class: two strata of two images, half each way.
    assert Counter(i["split"] for i in items) == {"train": 2, "val": 2}


def _job(client: TestClient, user: Account, job_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/training/jobs/{job_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_log_reports_are_stored_as_plain_text(client: TestClient, tmp_path: Path) -> None:
    """Colours and progress-bar redraws of a trainer's message never reach the stored log
    (the web log showed `▯[K`): what is kept is what a terminal would show (issue 13, item 6)."""
    user = sign_up(client)
    setup = create_job(client, user, tmp_path / "data")
    trainer = claim(client, setup.job_id)
    trainer.report("started")
    trainer.report(
        "log",
        {"message": "\x1b[34m\x1b[1mtrain: \x1b[0m\r\x1b[K 50% ━━\r\x1b[K100% ━━━━ 4/4"},
    )
    logs = client.get(f"/api/v1/training/jobs/{setup.job_id}/logs", headers=user.headers)
    assert [line["message"] for line in logs.json()["items"]] == ["100% ━━━━ 4/4"]
