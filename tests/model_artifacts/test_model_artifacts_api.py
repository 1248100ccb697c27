"""Model artifacts (uploaded pretrained weights) through the API: recording a completed upload,
each refusal, who sees them, jobs that start from them, and the trainer's side (spec and
`/weights`)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from lensforge.model_artifacts import service as artifact_service
from lensforge.models import ModelArtifact
from tests.datasets.importing import create_project, upload
from tests.fixtures.app import Account, member_with_role, sign_up
from tests.jobs.helpers import claim, create_job, make_version, sessions

API = "/api/v1/models/artifacts"
WEIGHTS = b"\x80\x02pretend-these-are-weights" * 100


def _file(folder: Path, name: str = "yolo-start.pt", content: bytes = WEIGHTS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(content)
    return path


def _create(
    client: TestClient, account: Account, project_id: str, path: Path, name: str = "start"
) -> httpx.Response:
    upload_id = upload(client, account, project_id, path)
    return client.post(
        API,
        json={"project_id": project_id, "upload_id": upload_id, "name": name},
        headers=account.headers,
    )


def _count(client: TestClient) -> int:
    with sessions(client)() as session:
        return session.scalar(select(func.count()).select_from(ModelArtifact)) or 0


def test_an_uploaded_model_file_becomes_an_artifact_stored_by_content(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    project_id = create_project(client, account)
    response = _create(client, account, project_id, _file(tmp_path))
    assert response.status_code == 201, response.text
    artifact = response.json()
    sha = hashlib.sha256(WEIGHTS).hexdigest()
    assert artifact["name"] == "start"
    assert artifact["filename"] == "yolo-start.pt"
    assert artifact["size_bytes"] == len(WEIGHTS)
    assert artifact["sha256"] == sha
    store = client.app.state.object_store  # type: ignore[attr-defined]
    key = f"orgs/{account.organization_id}/artifacts/{sha[:2]}/{sha}"
    with store.open(key) as stored:
        assert stored.read() == WEIGHTS

    got = client.get(f"{API}/{artifact['id']}", headers=account.headers)
    assert got.status_code == 200
    assert got.json() == artifact
    listed = client.get(API, params={"project_id": project_id}, headers=account.headers).json()
    assert listed["total"] == 1
    assert listed["items"] == [artifact]

    # The same content under a second name is stored once; deleting one keeps the other's.
    second = _create(client, account, project_id, _file(tmp_path / "b"), name="again")
    assert second.status_code == 201, second.text
    deleted = client.delete(f"{API}/{artifact['id']}", headers=account.headers)
    assert deleted.status_code == 204, deleted.text
    assert client.get(f"{API}/{artifact['id']}", headers=account.headers).status_code == 404
    assert store.exists(key)
    client.delete(f"{API}/{second.json()['id']}", headers=account.headers)
    assert not store.exists(key)


def test_refusals_name_the_problem_and_record_nothing(
    client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    account = sign_up(client)
    project_id = create_project(client, account)
    assert _create(client, account, project_id, _file(tmp_path)).status_code == 201

    taken = _create(client, account, project_id, _file(tmp_path / "t"), name="start")
    assert taken.status_code == 409
    assert taken.json()["error"]["code"] == "artifact_name_taken"

    notes = _create(client, account, project_id, _file(tmp_path, "notes.txt"), name="notes")
    assert notes.status_code == 422, notes.text
    assert notes.json()["error"]["code"] == "invalid_artifact"
    assert notes.json()["error"]["details"]["fields"][0]["field"] == "body.upload_id"

    other_project = create_project(client, account, name="other")
    elsewhere = upload(client, account, other_project, _file(tmp_path / "o"))
    wrong = client.post(
        API,
        json={"project_id": project_id, "upload_id": elsewhere, "name": "x"},
        headers=account.headers,
    )
    assert wrong.status_code == 404
    assert wrong.json()["error"]["code"] == "upload_not_found"

    opened = client.post(
        "/api/v1/uploads",
        json={"project_id": project_id, "filename": "half.pt", "total_size": 10},
        headers=account.headers,
    ).json()
    incomplete = client.post(
        API,
        json={"project_id": project_id, "upload_id": opened["id"], "name": "half"},
        headers=account.headers,
    )
    assert incomplete.status_code == 409
    assert incomplete.json()["error"]["code"] == "upload_not_completed"

    monkeypatch.setattr(artifact_service, "MAX_ARTIFACT_BYTES", len(WEIGHTS) - 1)
    big = _create(client, account, project_id, _file(tmp_path / "big"), name="big")
    assert big.status_code == 413
    assert big.json()["error"]["code"] == "artifact_too_large"

    bad_name = client.post(
        API,
        json={"project_id": project_id, "upload_id": elsewhere, "name": "../x"},
        headers=account.headers,
    )
    assert bad_name.status_code == 422
    assert _count(client) == 1


def test_other_organizations_and_outsiders_see_nothing_and_guests_cannot_create(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    project_id = create_project(client, admin)
    artifact = _create(client, admin, project_id, _file(tmp_path)).json()

    stranger = sign_up(client)
    assert client.get(f"{API}/{artifact['id']}", headers=stranger.headers).status_code == 404
    assert client.delete(f"{API}/{artifact['id']}", headers=stranger.headers).status_code == 404
    assert client.get(API, headers=stranger.headers).json()["total"] == 0

    outsider = member_with_role(client, admin, "standard_engineer")  # not in the project
    assert client.get(f"{API}/{artifact['id']}", headers=outsider.headers).status_code == 404
    assert client.get(API, headers=outsider.headers).json()["total"] == 0

    guest = member_with_role(client, admin, "guest")
    added = client.post(
        f"/api/v1/projects/{project_id}/members",
        json={"user_id": guest.user_id},
        headers=admin.headers,
    )
    assert added.status_code == 201, added.text
    assert client.get(f"{API}/{artifact['id']}", headers=guest.headers).status_code == 200
    refused = client.post(
        API,
        json={"project_id": project_id, "upload_id": str(uuid.uuid4()), "name": "g"},
        headers=guest.headers,
    )
    assert refused.status_code == 403
    assert client.delete(f"{API}/{artifact['id']}", headers=guest.headers).status_code == 403


def test_a_job_starts_from_an_artifact_of_its_project_and_its_trainer_gets_it(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    project_id, dataset_id = make_version(client, account, tmp_path / "data")
    artifact = _create(client, account, project_id, _file(tmp_path / "w")).json()

    other_project = create_project(client, account, name="elsewhere")
    foreign = _create(client, account, other_project, _file(tmp_path / "f")).json()
    for weights_id in (foreign["id"], str(uuid.uuid4())):
        refused = client.post(
            "/api/v1/training/jobs",
            json={
                "project_id": project_id,
                "dataset_id": dataset_id,
                "trainer": "reference",
                "model": "linear",
                "weights_id": weights_id,
            },
            headers=account.headers,
        )
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "invalid_job"
        fields = [f["field"] for f in refused.json()["error"]["details"]["fields"]]
        assert fields == ["body.weights_id"]

    job = create_job(
        client,
        account,
        tmp_path,
        project_id=project_id,
        dataset_id=dataset_id,
        weights_id=artifact["id"],
    )
    read = client.get(f"/api/v1/training/jobs/{job.job_id}", headers=account.headers).json()
    assert read["weights_artifact_id"] == artifact["id"]

    trainer = claim(client, job.job_id)
    spec = trainer.get().json()
    assert spec["weights"] == {
        "name": "start",
        "filename": "yolo-start.pt",
        "sha256": artifact["sha256"],
        "size": len(WEIGHTS),
    }
    weights = trainer.get("/weights")
    assert weights.status_code == 200, weights.text
    link = weights.json()
    assert link["sha256"] == artifact["sha256"]
    assert link["filename"] == "yolo-start.pt"
    assert client.get(link["url"]).content == WEIGHTS

    in_use = client.delete(f"{API}/{artifact['id']}", headers=account.headers)
    assert in_use.status_code == 409
    assert in_use.json()["error"]["code"] == "artifact_in_use"

    plain = create_job(client, account, tmp_path, project_id=project_id, dataset_id=dataset_id)
    plain_trainer = claim(client, plain.job_id)
    assert plain_trainer.get().json()["weights"] is None
    missing = plain_trainer.get("/weights")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "weights_not_found"


def test_deleting_the_project_takes_its_artifacts_and_jobs_with_it(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    project_id, dataset_id = make_version(client, account, tmp_path / "data")
    artifact = _create(client, account, project_id, _file(tmp_path / "w")).json()
    create_job(
        client,
        account,
        tmp_path,
        project_id=project_id,
        dataset_id=dataset_id,
        weights_id=artifact["id"],
    )
    deleted = client.delete(f"/api/v1/projects/{project_id}", headers=account.headers)
    assert deleted.status_code == 204, deleted.text
    assert _count(client) == 0
