"""Deployments through the API: made from a verified export (ready at once) or from a training
job (exported on the way), names, updates, rollbacks, activation, settings, deletion and who
may do what. Export jobs are run as the trainer would run them, through the trainer contract."""

from __future__ import annotations

import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import func, select
from tests.datasets.importing import create_dataset, create_project, import_archive, zip_folder
from tests.deployments.helpers import (
    API,
    ONNX_BYTES,
    add_usage,
    deploy,
    deployed,
    finish_export,
    ultralytics_job,
    verified_export,
)
from tests.fixtures.app import Account, member_with_role, sign_up
from tests.jobs.helpers import claim, sessions
from tests.model_work.helpers import export_json, trained_job

from lensforge.kit.db import transaction
from lensforge.models import Deployment, DeploymentVersion, ModelExport, UsageRecord


def _get(client: TestClient, account: Account, deployment_id: str) -> dict[str, Any]:
    response = client.get(f"{API}/deployments/{deployment_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _versions(client: TestClient, account: Account, deployment_id: str) -> list[dict[str, Any]]:
    response = client.get(f"{API}/deployments/{deployment_id}/versions", headers=account.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _export_job_of(client: TestClient, export_id: str) -> str:
    with sessions(client)() as session:
        export = session.get(ModelExport, uuid.UUID(export_id))
        assert export is not None
        return str(export.job_id)


def _count(client: TestClient, table: type) -> int:
    with sessions(client)() as session:
        return session.scalar(select(func.count()).select_from(table)) or 0


def test_a_verified_onnx_export_deploys_ready_at_once(client: TestClient, tmp_path: Path) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    export = verified_export(client, account, job.job_id)
    body = deployed(client, account, name="Raccoons", export_id=export["id"], description="d")
    assert body["status"] == "ready"
    assert body["active"] is True
    assert body["current_version"] == 1
    assert body["project_id"] == job.project_id
    assert body["created_by_id"] == account.user_id
    assert body["description"] == "d"
    assert (body["max_batch_size"], body["queue_limit"]) == (8, 64)
    assert body["urls"] == {
        "image": "http://127.0.0.1:8001/v1/infer/Raccoons",
        "v2": "http://127.0.0.1:8001",
        "model_name": "Raccoons",
    }
    version = body["version"]
    assert version["number"] == 1
    assert version["status"] == "ready"
    assert version["current"] is True
    assert version["activated_at"] is not None
    assert version["export_id"] == export["id"]
    assert version["source_job_id"] == job.job_id
    assert version["format"] == "onnx"
    assert version["size_bytes"] == len(ONNX_BYTES)
    assert version["sha256"] is not None
    assert len(version["sha256"]) == 64
    assert version["task"] == "detection"
    assert version["class_names"] == ["cat", "dog"]
    assert version["model_info"] == {
        "imgsz": [64, 64],
        "kpt_shape": None,
        "dynamic_batch": True,
        "trainer": "ultralytics",
        "model": "yolo11n",
    }
    assert version["created_by_id"] == account.user_id
    # The serving replicas read the artifact from the version alone.
    with sessions(client)() as session:
        row = session.scalar(select(DeploymentVersion))
        assert row is not None
        assert row.artifact_key is not None
        assert client.app.state.object_store.exists(row.artifact_key)  # type: ignore[attr-defined]
    assert _get(client, account, body["id"]) == body
    listed = client.get(f"{API}/deployments?status=ready&active=true", headers=account.headers)
    assert [d["id"] for d in listed.json()["items"]] == [body["id"]]
    assert listed.json()["total"] == 1
    none = client.get(f"{API}/deployments?status=failed", headers=account.headers).json()
    assert none["items"] == []


def test_exports_that_cannot_be_served_are_refused_and_nothing_is_created(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    queued = client.post(
        f"{API}/exports", json={"job_id": job.job_id, "format": "onnx"}, headers=account.headers
    ).json()
    unverified = client.post(
        f"{API}/exports", json={"job_id": job.job_id, "format": "onnx"}, headers=account.headers
    ).json()
    trainer = claim(client, unverified["job_id"])
    trainer.report("started")
    trainer.upload("export/model.onnx", ONNX_BYTES)
    trainer.report(
        "export",
        {
            "name": "export/model.onnx",
            "format": "onnx",
            "size": len(ONNX_BYTES),
            "sha256": "0" * 64,
            "verification": {"passed": False},
        },
    )
    trainer.report("completed", {})
    failed = client.post(
        f"{API}/exports", json={"job_id": job.job_id, "format": "onnx"}, headers=account.headers
    ).json()
    finish_export(client, failed["job_id"], fail="onnxslim crashed")
    reference, _ = trained_job(client, account, tmp_path / "ref")
    as_json = export_json(client, account, reference.job_id).json()
    finish_json = claim(client, as_json["job_id"])
    finish_json.report("started")
    cases = [
        ({"export_id": queued["id"]}, 409, "export_not_ready"),
        ({"export_id": unverified["id"]}, 409, "export_not_verified"),
        ({"export_id": failed["id"]}, 409, "export_not_ready"),
        ({"export_id": as_json["id"]}, 422, "export_format_unsupported"),
        ({"export_id": str(uuid.uuid4())}, 404, "export_not_found"),
        ({"job_id": reference.job_id}, 422, "capability_unavailable"),
        ({"job_id": str(uuid.uuid4())}, 404, "job_not_found"),
        ({"job_id": job.job_id, "export_id": queued["id"]}, 422, "validation_error"),
        ({}, 422, "validation_error"),
        ({"export_id": queued["id"], "checkpoint": "best"}, 422, "validation_error"),
        ({"job_id": job.job_id, "checkpoint": "middle"}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        response = deploy(client, account, name="m", **body)
        assert response.status_code == status, (body, response.text)
        assert response.json()["error"]["code"] == code, (body, response.text)
    failed_reason = deploy(client, account, name="m", export_id=failed["id"])
    assert "onnxslim crashed" in failed_reason.json()["error"]["message"]
    assert _count(client, Deployment) == 0
    assert _count(client, DeploymentVersion) == 0


def test_a_training_job_deploys_once_its_onnx_export_is_verified(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    body = deployed(client, account, name="from-job", job_id=job.job_id)
    assert body["status"] == "creating"
    assert body["current_version"] is None
    assert body["version"] is None
    [pending] = _versions(client, account, body["id"])
    assert pending["status"] == "creating"
    assert pending["current"] is False
    assert pending["class_names"] == ["cat", "dog"]
    assert pending["model_info"]["dynamic_batch"] is True
    export = client.get(f"{API}/exports/{pending['export_id']}", headers=account.headers).json()
    assert (export["format"], export["checkpoint"]) == ("onnx", "best")
    assert export["options"]["dynamic"] is True
    assert export["source_job_id"] == job.job_id
    finish_export(client, export["job_id"], imgsz=96)
    ready = _get(client, account, body["id"])
    assert ready["status"] == "ready"
    assert ready["current_version"] == 1
    assert ready["updated_at"] > body["updated_at"]
    assert ready["version"]["activated_at"] is not None
    assert ready["version"]["model_info"]["imgsz"] == [96, 96]
    assert ready["version"]["size_bytes"] == len(ONNX_BYTES)
    last = deployed(client, account, name="from-last", job_id=job.job_id, checkpoint="last")
    [version] = _versions(client, account, last["id"])
    export = client.get(f"{API}/exports/{version['export_id']}", headers=account.headers).json()
    assert export["checkpoint"] == "last"


def test_a_failed_export_fails_the_deployment_with_its_reason_and_an_update_recovers_it(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    body = deployed(client, account, name="doomed", job_id=job.job_id)
    [pending] = _versions(client, account, body["id"])
    finish_export(client, _export_job_of(client, pending["export_id"]), fail="out of memory")
    failed = _get(client, account, body["id"])
    assert failed["status"] == "failed"
    assert "out of memory" in failed["status_reason"]
    assert failed["current_version"] is None
    [version] = _versions(client, account, body["id"])
    assert version["status"] == "failed"
    assert "out of memory" in version["status_reason"]
    export = verified_export(client, account, job.job_id)
    update = client.post(
        f"{API}/deployments/{body['id']}/versions",
        json={"export_id": export["id"]},
        headers=account.headers,
    )
    assert update.status_code == 201, update.text
    assert update.json()["number"] == 2
    recovered = _get(client, account, body["id"])
    assert (recovered["status"], recovered["status_reason"]) == ("ready", "")
    assert recovered["current_version"] == 2


def test_the_server_settles_a_finished_export_without_any_read(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    body = deployed(client, account, name="quiet", job_id=job.job_id)
    [pending] = _versions(client, account, body["id"])
    finish_export(client, _export_job_of(client, pending["export_id"]))
    deadline = time.monotonic() + 10
    status = "creating"
    while status == "creating" and time.monotonic() < deadline:
        time.sleep(0.1)
        with sessions(client)() as session:
            row = session.get(Deployment, uuid.UUID(body["id"]))
            assert row is not None
            status = row.status
    assert status == "ready"


def test_names_are_url_safe_and_unique_in_the_organization_ignoring_case(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    export = verified_export(client, account, job.job_id)
    for name in ("-start", ".x", "a b", "a/b", "é", "x?", str(uuid.uuid4())):
        response = deploy(client, account, name=name, export_id=export["id"])
        assert response.status_code == 422, (name, response.text)
        assert response.json()["error"]["code"] == "invalid_deployment_name", name
    for name in ("", "x" * 65):
        assert deploy(client, account, name=name, export_id=export["id"]).status_code == 422
    deployed(client, account, name="Yolo_v1.2-a", export_id=export["id"])
    taken = deploy(client, account, name="yolo_V1.2-A", export_id=export["id"])
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "deployment_name_taken"
    deployed(client, account, name="x" * 64, export_id=export["id"])
    other = sign_up(client)
    other_job = ultralytics_job(client, other, tmp_path / "other")
    other_export = verified_export(client, other, other_job.job_id)
    deployed(client, other, name="Yolo_v1.2-a", export_id=other_export["id"])


def test_update_rollback_and_history(client: TestClient, tmp_path: Path) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    first = verified_export(client, account, job.job_id)
    body = deployed(client, account, name="live", export_id=first["id"])
    url = f"{API}/deployments/{body['id']}"
    update = client.post(f"{url}/versions", json={"job_id": job.job_id}, headers=account.headers)
    assert update.status_code == 201, update.text
    assert (update.json()["number"], update.json()["status"]) == (2, "creating")
    during = _get(client, account, body["id"])
    assert (during["status"], during["current_version"]) == ("ready", 1)
    busy = client.post(f"{url}/versions", json={"job_id": job.job_id}, headers=account.headers)
    assert busy.status_code == 409
    assert busy.json()["error"]["code"] == "deployment_update_in_progress"
    finish_export(client, _export_job_of(client, update.json()["export_id"]))
    after = _get(client, account, body["id"])
    assert after["current_version"] == 2
    assert after["updated_at"] > during["updated_at"]
    third = verified_export(client, account, job.job_id)
    made = client.post(f"{url}/versions", json={"export_id": third["id"]}, headers=account.headers)
    assert made.json()["status"] == "ready"
    assert made.json()["current"] is True
    history = _versions(client, account, body["id"])
    assert [v["number"] for v in history] == [3, 2, 1]
    assert [v["current"] for v in history] == [True, False, False]
    assert all(v["created_by_id"] == account.user_id for v in history)

    def rollback(payload: dict[str, Any] | None) -> Any:
        return client.post(f"{url}/rollback", json=payload, headers=account.headers)

    back = rollback(None)
    assert back.status_code == 200, back.text
    assert back.json()["current_version"] == 2  # the one current before the current one
    assert rollback({}).json()["current_version"] == 3  # and back again
    assert rollback({"version": 1}).json()["current_version"] == 1
    again = rollback({"version": 1})
    assert (again.status_code, again.json()["error"]["code"]) == (409, "version_already_current")
    missing = rollback({"version": 99})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "version_not_found")
    # Rolling back cancels an update still being made: it would otherwise take over.
    pending = client.post(f"{url}/versions", json={"job_id": job.job_id}, headers=account.headers)
    assert pending.json()["number"] == 4
    creating = rollback({"version": 4})
    assert (creating.status_code, creating.json()["error"]["code"]) == (409, "version_not_ready")
    assert rollback({"version": 2}).json()["current_version"] == 2
    finish_export(client, _export_job_of(client, pending.json()["export_id"]))
    final = _get(client, account, body["id"])
    assert final["current_version"] == 2
    cancelled = _versions(client, account, body["id"])[0]
    assert cancelled["status"] == "failed"
    assert "rolled back to version 2" in cancelled["status_reason"]
    page = client.get(f"{url}/versions?limit=2&offset=1", headers=account.headers).json()
    assert ([v["number"] for v in page["items"]], page["total"]) == ([3, 2], 4)


def test_a_deployment_with_a_single_version_has_nothing_to_roll_back_to(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    body = deployed(
        client, account, name="one", export_id=verified_export(client, account, job.job_id)["id"]
    )
    response = client.post(f"{API}/deployments/{body['id']}/rollback", headers=account.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "no_previous_version"


def test_activation_and_settings_bump_updated_at_and_are_validated(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = ultralytics_job(client, account, tmp_path / "data")
    body = deployed(
        client,
        account,
        name="tuned",
        export_id=verified_export(client, account, job.job_id)["id"],
        max_batch_size=4,
        rate_limit_per_second=5.5,
        parameters={"conf": 0.3},
    )
    assert (body["max_batch_size"], body["rate_limit_per_second"]) == (4, 5.5)
    assert body["parameters"] == {"conf": 0.3}
    url = f"{API}/deployments/{body['id']}"
    off = client.post(f"{url}/deactivate", headers=account.headers).json()
    assert off["active"] is False
    assert off["updated_at"] > body["updated_at"]
    listed = client.get(f"{API}/deployments?active=false", headers=account.headers).json()
    assert [d["id"] for d in listed["items"]] == [body["id"]]
    on = client.post(f"{url}/activate", headers=account.headers).json()
    assert on["active"] is True
    assert on["updated_at"] > off["updated_at"]
    patched = client.patch(
        url,
        json={
            "description": "faster",
            "max_batch_size": 16,
            "max_queue_delay_ms": 5,
            "queue_limit": 100,
            "rate_limit_burst": 20,
            "parameters": {"iou": 0.5, "max_det": 10, "imgsz": 320},
        },
        headers=account.headers,
    )
    assert patched.status_code == 200, patched.text
    changed = patched.json()
    assert changed["description"] == "faster"
    assert (changed["max_batch_size"], changed["max_queue_delay_ms"]) == (16, 5.0)
    assert (changed["queue_limit"], changed["rate_limit_burst"]) == (100, 20)
    assert changed["rate_limit_per_second"] == 5.5  # not given: unchanged
    assert changed["parameters"] == {"iou": 0.5, "max_det": 10, "imgsz": 320}
    assert changed["updated_at"] > on["updated_at"]
    reset = client.patch(url, json={"rate_limit_per_second": None}, headers=account.headers)
    assert reset.json()["rate_limit_per_second"] is None
    assert reset.json()["max_batch_size"] == 16
    unchanged = client.patch(url, json={}, headers=account.headers).json()
    assert unchanged["updated_at"] == reset.json()["updated_at"]
    for bad in (
        {"max_batch_size": 0},
        {"max_batch_size": 257},
        {"max_queue_delay_ms": -1},
        {"max_queue_delay_ms": 1001},
        {"queue_limit": 0},
        {"queue_limit": 10_001},
        {"rate_limit_per_second": 0},
        {"rate_limit_burst": 0},
        {"parameters": {"conf": 2}},
        {"parameters": {"colour": "red"}},
        {"name": "renamed"},
    ):
        response = client.patch(url, json=bad, headers=account.headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["error"]["code"] == "validation_error"
    bad_create = deploy(client, account, name="x", job_id=job.job_id, queue_limit=0)
    assert bad_create.status_code == 422


def test_deleting_keeps_usage_revokes_its_keys_and_frees_the_name(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    job = ultralytics_job(client, admin, tmp_path / "data")
    export = verified_export(client, admin, job.job_id)
    body = deployed(client, admin, name="gone", export_id=export["id"])
    add_usage(client, body, admin.organization_id, datetime.now().astimezone())
    key = client.post(
        f"{API}/deployments/{body['id']}/keys", json={"name": "app"}, headers=admin.headers
    ).json()
    engineer = member_with_role(client, admin, "standard_engineer")
    manager = member_with_role(client, admin, "manager")
    denied = client.delete(f"{API}/deployments/{body['id']}", headers=engineer.headers)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    response = client.delete(f"{API}/deployments/{body['id']}", headers=manager.headers)
    assert response.status_code == 204, response.text
    gone = client.get(f"{API}/deployments/{body['id']}", headers=admin.headers)
    assert (gone.status_code, gone.json()["error"]["code"]) == (404, "deployment_not_found")
    assert _count(client, UsageRecord) == 1
    assert _count(client, DeploymentVersion) == 0
    keys = client.get(f"{API}/api-keys", headers=admin.headers).json()
    assert next(k for k in keys if k["id"] == key["id"])["revoked_at"] is not None
    usage = client.get(f"{API}/usage", headers=admin.headers).json()
    assert [r["deployment_name"] for r in usage["rows"]] == ["gone"]
    deployed(client, admin, name="GONE", export_id=export["id"])


def test_guests_read_engineers_manage_and_other_organizations_see_nothing(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    job = ultralytics_job(client, admin, tmp_path / "data")
    export = verified_export(client, admin, job.job_id)
    body = deployed(client, admin, name="shared", export_id=export["id"])
    url = f"{API}/deployments/{body['id']}"
    guest = member_with_role(client, admin, "guest")
    manager = member_with_role(client, admin, "manager")
    outsider_engineer = member_with_role(client, admin, "standard_engineer")
    # The guest and engineer see the project's deployments once they are members of it.
    for member in (guest, outsider_engineer):
        hidden = client.get(url, headers=member.headers)
        assert (hidden.status_code, hidden.json()["error"]["code"]) == (
            404,
            "deployment_not_found",
        )
        assert client.get(f"{API}/deployments", headers=member.headers).json()["items"] == []
    assert client.get(url, headers=manager.headers).status_code == 200  # managers see all
    added = client.post(
        f"{API}/projects/{job.project_id}/members",
        json={"user_id": guest.user_id},
        headers=admin.headers,
    )
    assert added.status_code in (200, 201), added.text
    for path in ("", "/versions", "/keys", "/stats", "/usage"):
        response = client.get(f"{url}{path}", headers=guest.headers)
        assert response.status_code == 200, (path, response.text)
    refused = [
        ("POST", f"{API}/deployments", {"name": "g", "export_id": export["id"]}),
        ("PATCH", url, {"description": "no"}),
        ("POST", f"{url}/deactivate", None),
        ("POST", f"{url}/versions", {"export_id": export["id"]}),
        ("POST", f"{url}/rollback", {}),
        ("POST", f"{url}/keys", {"name": "k"}),
        ("DELETE", url, None),
    ]
    for method, path, payload in refused:
        response = client.request(method, path, json=payload, headers=guest.headers)
        assert response.status_code == 403, (method, path, response.text)
        assert response.json()["error"]["code"] == "permission_denied"
    org_usage = client.get(f"{API}/usage", headers=guest.headers)
    assert org_usage.status_code == 403
    assert client.get(f"{API}/usage", headers=manager.headers).status_code == 200
    other = sign_up(client)
    for method, path, payload in [
        ("GET", url, None),
        ("GET", f"{url}/versions", None),
        ("GET", f"{url}/usage", None),
        ("GET", f"{url}/stats", None),
        ("GET", f"{url}/keys", None),
        ("PATCH", url, {"description": "mine"}),
        ("POST", f"{url}/deactivate", None),
        ("POST", f"{url}/keys", {"name": "steal"}),
        ("POST", f"{url}/rollback", {}),
        ("DELETE", url, None),
    ]:
        response = client.request(method, path, json=payload, headers=other.headers)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["code"] == "deployment_not_found"
    assert client.get(f"{API}/deployments", headers=other.headers).json()["total"] == 0
    stolen = deploy(client, other, name="mine", export_id=export["id"])
    assert stolen.status_code == 404
    with transaction(sessions(client)) as session:
        row = session.get(Deployment, uuid.UUID(body["id"]))
        assert row is not None
        assert row.active is True


def test_a_pose_model_records_its_keypoint_shape_from_the_dataset(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    folder = tmp_path / "pose"
    (folder / "images" / "train").mkdir(parents=True)
    (folder / "labels" / "train").mkdir(parents=True)
    for stem in ("a", "b"):
        Image.new("RGB", (64, 48), (90, 20, 160)).save(folder / "images" / "train" / f"{stem}.jpg")
        (folder / "labels" / "train" / f"{stem}.txt").write_text(
            "0 0.5 0.5 0.4 0.4 0.4 0.5 0.6 0.5 0.5 0.3\n"
        )
    (folder / "data.yaml").write_text(
        "train: images/train\nnames:\n  0: person\nkpt_shape: [3, 2]\n"
    )
    project = create_project(client, account, name="poses")
    dataset = create_dataset(client, account, project, task="pose", name="poses")
    result = import_archive(
        client, account, dataset, project, zip_folder(folder, tmp_path / "pose.zip")
    )
    assert result["status"] == "succeeded", result
    job = ultralytics_job(
        client, account, tmp_path, project_id=project, dataset_id=dataset, model="yolo11n-pose"
    )
    export = verified_export(client, account, job.job_id)
    body = deployed(client, account, name="poser", export_id=export["id"])
    assert body["version"]["task"] == "pose"
    assert body["version"]["class_names"] == ["person"]
    assert body["version"]["model_info"]["kpt_shape"] == [3, 2]
