"""Exports, inference runs and capabilities through the API, without a worker: what is refused
(and that a refusal stores nothing), what is created, and who may see it."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lensforge.models import InferenceRun, ModelExport, TrainingJob
from tests.datasets.importing import bytes_zip, upload
from tests.fixtures.app import member_with_role, sign_up
from tests.jobs.helpers import claim, create_job, receive_json, sessions
from tests.model_work.helpers import (
    export_json,
    image_bytes,
    png,
    predict_files,
    predict_one,
    trained_job,
)

API = "/api/v1"


def _count(client: TestClient, table: type) -> int:
    with sessions(client)() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_capabilities_list_each_trainer_with_available_and_unavailable_formats(
    client: TestClient,
) -> None:
    account = sign_up(client)
    response = client.get(f"{API}/models/capabilities", headers=account.headers)
    assert response.status_code == 200, response.text
    reference = next(t for t in response.json()["trainers"] if t["name"] == "reference")
    assert reference["predict"] is True
    formats = {f["format"]: f for f in reference["export_formats"]}
    assert formats["json"]["available"] is True
    assert formats["json"]["options_schema"]["properties"]["indent"]["default"] == 0
    assert formats["onnx"]["available"] is False
    assert "ultralytics" in formats["onnx"]["reason"]
    assert formats["tflite"]["available"] is False


def test_an_export_is_a_queued_job_of_kind_export_with_its_record(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    response = client.post(
        f"{API}/exports",
        json={"job_id": job.job_id, "format": "json", "checkpoint": "last"},
        headers=account.headers,
    )
    assert response.status_code == 202, response.text
    export = response.json()
    assert export["status"] == "queued"
    assert export["options"] == {"indent": 0}  # defaults filled in from the trainer's schema
    assert export["verification"] is None
    export_job = client.get(f"{API}/training/jobs/{export['job_id']}", headers=account.headers)
    assert export_job.json()["kind"] == "export"
    assert export_job.json()["source_job_id"] == job.job_id
    assert export_job.json()["source"] == {"checkpoint": "last"}
    # Training lists stay trainings; kind=export lists the export jobs.
    trainings = client.get(f"{API}/training/jobs", headers=account.headers).json()
    assert [j["id"] for j in trainings["items"]] == [job.job_id]
    exports = client.get(f"{API}/training/jobs?kind=export", headers=account.headers).json()
    assert [j["id"] for j in exports["items"]] == [export["job_id"]]
    listed = client.get(f"{API}/exports?job_id={job.job_id}", headers=account.headers).json()
    assert [e["id"] for e in listed["items"]] == [export["id"]]
    # Not downloadable before it completed.
    download = client.get(f"{API}/exports/{export['id']}/download", headers=account.headers)
    assert download.status_code == 409
    assert download.json()["error"]["code"] == "export_not_ready"


def test_exports_that_cannot_work_are_refused_with_the_reason_and_nothing_is_created(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    cases = [
        ({"format": "onnx"}, 422, "capability_unavailable"),
        ({"format": "no-such-format"}, 422, "capability_unavailable"),
        ({"format": "json", "options": {"indent": 99}}, 422, "invalid_export"),
        ({"format": "json", "options": {"opset": 12}}, 422, "invalid_export"),
        ({"format": "json", "checkpoint": "middle"}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = client.post(
            f"{API}/exports", json={"job_id": job.job_id, **body}, headers=account.headers
        )
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] == code, body
    onnx = client.post(
        f"{API}/exports", json={"job_id": job.job_id, "format": "onnx"}, headers=account.headers
    ).json()["error"]
    assert "ultralytics" in onnx["message"]
    assert onnx["details"]["available"] == ["json"]
    assert _count(client, ModelExport) == 0
    assert _count(client, TrainingJob) == 1


def test_a_job_without_checkpoints_cannot_be_exported_or_used(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = create_job(client, account, tmp_path / "data")
    export = export_json(client, account, job.job_id)
    assert export.status_code == 409
    assert export.json()["error"]["code"] == "no_checkpoint"
    predict = predict_one(client, account, job.job_id, wait="0")
    assert predict.status_code == 409
    assert predict.json()["error"]["code"] == "no_checkpoint"
    assert _count(client, InferenceRun) == 0


def test_predict_refuses_bad_images_whole_and_stores_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    url = f"{API}/training/jobs/{job.job_id}/predict"
    store = client.app.state.object_store  # type: ignore[attr-defined]
    before = len(list(store.list(f"orgs/{account.organization_id}/inference/")))
    cases = [
        ([("notes.txt", b"hello", "text/plain")], "invalid_image"),
        ([("a.gif", image_bytes("GIF"), "image/gif")], "invalid_image"),
        ([("empty.png", b"", "image/png")], "invalid_image"),
        ([("ok.png", png(), "image/png"), ("cut.png", png()[:60], "image/png")], "invalid_image"),
        ([(f"{i}.png", png(), "image/png") for i in range(21)], "too_many_images"),
    ]
    for files, code in cases:
        response = client.post(
            url, files=predict_files(*files), data={"wait": "0"}, headers=account.headers
        )
        assert response.status_code == 422, (code, response.text)
        assert response.json()["error"]["code"] == code
    both = client.post(
        url,
        files=predict_files(("a.png", png(), "image/png")),
        data={"checkpoint": "best", "export_id": str(uuid.uuid4()), "wait": "0"},
        headers=account.headers,
    )
    assert both.status_code == 422
    assert len(list(store.list(f"orgs/{account.organization_id}/inference/"))) == before
    assert _count(client, InferenceRun) == 0


def test_predict_creates_an_inference_job_ahead_of_training_and_answers_202_when_not_done(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    response = client.post(
        f"{API}/training/jobs/{job.job_id}/predict",
        files=predict_files(
            ("a.png", png(), "image/png"),
            ("b.jpg", image_bytes("JPEG", (50, 20)), "image/jpeg"),
            ("c.webp", image_bytes("WEBP"), "image/webp"),
        ),
        data={"checkpoint": "last", "conf": "0.4", "wait": "0"},
        headers=account.headers,
    )
    assert response.status_code == 202, response.text
    run = response.json()["run"]
    assert response.json()["results"] is None
    assert run["status"] == "queued"
    assert run["source"] == {"checkpoint": "last"}
    assert run["params"]["conf"] == 0.4
    assert [(i["name"], i["width"], i["height"]) for i in run["images"]] == [
        ("a.png", 40, 30),
        ("b.jpg", 50, 20),
        ("c.webp", 40, 30),
    ]
    inference_job = client.get(f"{API}/training/jobs/{run['job_id']}", headers=account.headers)
    training_job = client.get(f"{API}/training/jobs/{job.job_id}", headers=account.headers)
    assert inference_job.json()["kind"] == "inference"
    assert inference_job.json()["priority"] > training_job.json()["priority"]
    results = client.get(f"{API}/inference/{run['id']}/results", headers=account.headers)
    assert results.status_code == 409
    assert results.json()["error"]["code"] == "results_not_ready"


def test_the_trainer_of_an_inference_job_gets_exactly_its_model_and_images(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    run = predict_one(client, account, job.job_id, wait="0").json()["run"]
    trainer = claim(client, run["job_id"])
    spec = trainer.get().json()
    assert spec["kind"] == "inference"
    assert spec["source"]["checkpoint"]["kind"] == "best"
    assert spec["inputs"]["images"] == [{"name": "a.png", "sha256": run["images"][0]["sha256"]}]
    source = trainer.get("/source").json()
    assert source["name"] == "best.json"
    assert client.get(source["url"]).content == b'{"format": "placeholder"}'
    inputs = trainer.get("/inputs").json()["images"]
    assert client.get(inputs[0]["url"]).content == png()
    # The training job itself has no source model or inputs to give.
    assert client.get(
        f"{API}/trainer/jobs/{job.job_id}/inputs", headers=trainer.headers
    ).status_code in (401, 403)


def test_malformed_predictions_fail_the_run_naming_the_first_bad_field(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    run = predict_one(client, account, job.job_id, wait="0").json()["run"]
    trainer = claim(client, run["job_id"])
    trainer.report("started")
    bad = (
        b'{"image": "a.png", "width": 40, "height": 30, "task": "detection", '
        b'"detections": [{"class_id": 7, "class_name": "cat", "score": 0.5, '
        b'"box": [0, 0, 10, 10]}]}\n'
    )
    trainer.upload("predictions.jsonl", bad)
    sha = "0" * 64
    trainer.report(
        "predictions", {"name": "predictions.jsonl", "count": 1, "size": len(bad), "sha256": sha}
    )
    got = client.get(f"{API}/inference/{run['id']}", headers=account.headers).json()
    assert got["status"] == "failed"
    assert "detections.0.class_id" in got["status_reason"]
    assert got["result_count"] is None


def test_a_guest_sees_runs_and_exports_but_cannot_create_them(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    job, _ = trained_job(client, admin, tmp_path / "data")
    export = export_json(client, admin, job.job_id).json()
    guest = member_with_role(client, admin, "guest")
    added = client.post(
        f"{API}/projects/{job.project_id}/members",
        json={"user_id": guest.user_id},
        headers=admin.headers,
    )
    assert added.status_code == 201, added.text
    outsider = member_with_role(client, admin, "standard_engineer")  # not in the project
    assert client.get(f"{API}/exports/{export['id']}", headers=outsider.headers).status_code == 404
    assert client.get(f"{API}/exports/{export['id']}", headers=guest.headers).status_code == 200
    refused = export_json(client, guest, job.job_id)
    assert refused.status_code == 403
    predict = predict_one(client, guest, job.job_id)
    assert predict.status_code == 403


def test_another_organization_sees_nothing_and_cannot_use_the_model(
    client: TestClient, tmp_path: Path
) -> None:
    owner = sign_up(client)
    job, _ = trained_job(client, owner, tmp_path / "data")
    export = export_json(client, owner, job.job_id).json()
    run = predict_one(client, owner, job.job_id, wait="0").json()["run"]
    stranger = sign_up(client)
    for path in (
        f"/exports/{export['id']}",
        f"/exports/{export['id']}/download",
        f"/inference/{run['id']}",
        f"/inference/{run['id']}/results",
        f"/inference/{run['id']}/images/0/original",
    ):
        response = client.get(API + path, headers=stranger.headers)
        assert response.status_code == 404, (path, response.text)
    assert client.get(f"{API}/exports", headers=stranger.headers).json()["total"] == 0
    assert client.get(f"{API}/inference", headers=stranger.headers).json()["total"] == 0
    used = export_json(client, stranger, job.job_id)
    assert used.status_code == 404
    predicted = predict_one(client, stranger, job.job_id)
    assert predicted.status_code == 404


def test_an_export_or_inference_job_is_not_a_model_source(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    export = export_json(client, account, job.job_id).json()
    again = export_json(client, account, export["job_id"])
    assert again.status_code == 422
    assert again.json()["error"]["code"] == "not_a_training_job"
    unfinished = predict_one(client, account, job.job_id, export_id=export["id"], wait="0")
    assert unfinished.status_code == 409
    assert unfinished.json()["error"]["code"] == "export_not_ready"


def test_export_status_and_the_verified_artifact_are_sent_live_to_project_subscribers(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    with client.websocket_connect(f"/api/v1/ws/training?token={account.access_token}") as ws:
        assert receive_json(ws)["type"] == "ready"
        ws.send_json({"action": "subscribe", "project_id": job.project_id})
        assert receive_json(ws)["type"] == "subscribed"
        export = export_json(client, account, job.job_id).json()
        trainer = claim(client, export["job_id"])
        trainer.report("started")
        artifact = b'{"format": "lensforge-reference-model/1"}'
        trainer.upload("export/model.json", artifact)
        report = {"passed": True, "max_abs_diff": 0.0, "tolerance": 0.001}
        trainer.report(
            "export",
            {
                "name": "export/model.json",
                "format": "json",
                "size": len(artifact),
                "sha256": hashlib.sha256(artifact).hexdigest(),
                "verification": report,
            },
        )
        trainer.report("completed", {})
        seen = []
        while not (
            seen and seen[-1].get("type") == "export_status" and seen[-1]["status"] == "completed"
        ):
            seen.append(receive_json(ws))
    statuses = [m["status"] for m in seen if m["type"] == "export_status"]
    assert statuses[-3:] == ["preparing", "running", "completed"]
    assert {m["export_id"] for m in seen if m["type"] == "export_status"} == {export["id"]}
    assert any(m["type"] == "export" and m["verification"] == report for m in seen)
    done = client.get(f"{API}/exports/{export['id']}", headers=account.headers).json()
    assert done["verification"] == report
    assert done["size"] == len(artifact)
    link = client.get(f"{API}/exports/{export['id']}/download", headers=account.headers).json()
    assert client.get(link["url"]).content == artifact


def test_a_batch_run_over_an_uploaded_archive_stores_its_images_in_name_order(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job, _ = trained_job(client, account, tmp_path / "data")
    archive = tmp_path / "batch.zip"
    archive.write_bytes(
        bytes_zip(
            {
                "b/second.png": png((1, 2, 3)),
                "a/first.jpg": image_bytes("JPEG", (20, 10)),
                "notes.txt": b"not an image, skipped",
            }
        )
    )
    upload_id = upload(client, account, job.project_id, archive)
    response = client.post(
        f"{API}/inference",
        json={"job_id": job.job_id, "upload_id": upload_id, "conf": 0.5},
        headers=account.headers,
    )
    assert response.status_code == 202, response.text
    run = response.json()
    assert [(i["name"], i["width"]) for i in run["images"]] == [
        ("a/first.jpg", 20),
        ("b/second.png", 40),
    ]
    assert run["params"]["conf"] == 0.5

    neither = client.post(f"{API}/inference", json={"job_id": job.job_id}, headers=account.headers)
    assert neither.status_code == 422
    hostile = tmp_path / "hostile.zip"
    hostile.write_bytes(bytes_zip({"../escape.png": png()}))
    refused = client.post(
        f"{API}/inference",
        json={"job_id": job.job_id, "upload_id": upload(client, account, job.project_id, hostile)},
        headers=account.headers,
    )
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "hostile_archive"
    assert _count(client, InferenceRun) == 1
