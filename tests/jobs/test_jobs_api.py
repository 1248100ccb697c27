"""Creating and managing jobs through the API: validation against the pinned data and the
trainer, the state machine's records, cancel/restart/resume rules, and the trainer registry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    tiny_yolo,
    zip_folder,
)
from tests.fixtures.app import Account, member_with_role, sign_up


@pytest.fixture
def versioned(client: TestClient, tmp_path: Path) -> tuple[Account, str, str]:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    folder = tiny_yolo(
        tmp_path / "d", boxes={"a": ["0 0.5 0.5 0.3 0.3"], "b": ["1 0.4 0.4 0.2 0.2"]}
    )
    result = import_archive(client, admin, dataset, project, zip_folder(folder, tmp_path / "d.zip"))
    assert result["status"] == "succeeded", result
    return admin, project, dataset


def job_body(project: str, dataset: str, **extra: Any) -> dict[str, Any]:
    return {
        "project_id": project,
        "dataset_id": dataset,
        "trainer": "reference",
        "model": "linear",
        "config": {"basic": {"epochs": 2}},
        **extra,
    }


def test_trainers_are_listed_with_schemas(client: TestClient) -> None:
    admin = sign_up(client)
    trainers = client.get("/api/v1/trainers", headers=admin.headers).json()
    reference = next(t for t in trainers if t["manifest"]["name"] == "reference")
    assert reference["source"] == "builtin"
    assert "epochs" in reference["manifest"]["config_schema"]["basic"]["properties"]
    assert client.get("/api/v1/trainers/nope", headers=admin.headers).status_code == 404


def test_config_validation_gives_field_level_errors(client: TestClient) -> None:
    admin = sign_up(client)
    url = "/api/v1/trainers/reference/config/validate"
    bad = client.post(
        url,
        json={"basic": {"epochs": 0, "colour": "red"}, "advanced": {"weight_decay": "x"}},
        headers=admin.headers,
    ).json()
    assert bad["valid"] is False
    fields = {e["field"] for e in bad["errors"]}
    assert {"basic.epochs", "basic.colour", "advanced.weight_decay"} <= fields
    good = client.post(url, json={"basic": {"epochs": 3}}, headers=admin.headers).json()
    assert good["valid"] is True
    assert good["config"]["basic"] == {
        "epochs": 3,
        "batch_size": 16,
        "learning_rate": 0.1,
        "imgsz": 16,
        "device": "cpu",
        "seed": 0,
    }


def test_create_pins_the_version_and_records_the_transition(
    client: TestClient, versioned: tuple[Account, str, str]
) -> None:
    admin, project, dataset = versioned
    created = client.post(
        "/api/v1/training/jobs", json=job_body(project, dataset), headers=admin.headers
    )
    assert created.status_code == 201, created.text
    job = created.json()
    version = client.get(f"/api/v1/datasets/{dataset}/versions/1", headers=admin.headers).json()
    assert job["dataset_version_id"] == version["id"]
    assert job["dataset_content_hash"] == version["content_hash"]
    assert job["status"] == "queued"
    assert job["task"] == "detection"
    assert job["config"]["basic"]["epochs"] == 2
    assert job["config"]["advanced"]["epoch_delay_seconds"] == 0
    # Split priority: no override, so the version's own config.
    assert job["split_config"] == version["split_config"]
    assert [(t["from_status"], t["to_status"]) for t in job["transitions"]] == [
        ("pending", "queued")
    ]
    listed = client.get("/api/v1/training/jobs?status=queued", headers=admin.headers).json()
    assert [j["id"] for j in listed["items"]] == [job["id"]]
    assert (
        client.get("/api/v1/training/jobs?status=running", headers=admin.headers).json()["total"]
        == 0
    )


def test_job_split_override_wins(client: TestClient, versioned: tuple[Account, str, str]) -> None:
    admin, project, dataset = versioned
    override = {"mode": "ratio", "train": 0.5, "val": 0.5, "test": 0.0, "seed": 7, "stratify": True}
    job = client.post(
        "/api/v1/training/jobs",
        json=job_body(project, dataset, split=override),
        headers=admin.headers,
    ).json()
    assert job["split_config"] == override
    assert job["split_override"] == override


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"trainer": "nope"}, None),
        ({"model": "resnet"}, "body.model"),
        ({"task": "classification"}, "body.task"),
        ({"config": {"basic": {"epochs": -1}}}, "body.config.basic.epochs"),
        ({"config": {"turbo": True}}, "body.config.turbo"),
        ({"dataset_version": 9}, None),
    ],
)
def test_invalid_jobs_are_refused_precisely(
    client: TestClient,
    versioned: tuple[Account, str, str],
    change: dict[str, Any],
    field: str | None,
) -> None:
    admin, project, dataset = versioned
    response = client.post(
        "/api/v1/training/jobs", json=job_body(project, dataset) | change, headers=admin.headers
    )
    assert 400 <= response.status_code < 500, response.text
    if field is not None:
        assert response.status_code == 422
        assert field in {f["field"] for f in response.json()["error"]["details"]["fields"]}
    assert client.get("/api/v1/training/jobs", headers=admin.headers).json()["total"] == 0


def test_cancel_queued_then_restart_then_resume_rules(
    client: TestClient, versioned: tuple[Account, str, str]
) -> None:
    admin, project, dataset = versioned
    job = client.post(
        "/api/v1/training/jobs", json=job_body(project, dataset), headers=admin.headers
    ).json()
    url = f"/api/v1/training/jobs/{job['id']}"
    assert client.post(f"{url}/restart", headers=admin.headers).status_code == 409
    cancelled = client.post(f"{url}/cancel", headers=admin.headers)
    assert cancelled.status_code == 202
    assert cancelled.json()["status"] == "cancelled"
    assert client.post(f"{url}/cancel", headers=admin.headers).status_code == 409
    # No checkpoint yet: resume is refused with the reason; restart works.
    resume = client.post(f"{url}/resume", headers=admin.headers)
    assert resume.status_code == 409
    assert resume.json()["error"]["code"] == "no_checkpoint"
    restarted = client.post(f"{url}/restart", headers=admin.headers).json()
    assert restarted["status"] == "queued"
    assert [t["to_status"] for t in restarted["transitions"]] == ["queued", "cancelled", "queued"]


def test_job_access_by_role_and_organization(
    client: TestClient, versioned: tuple[Account, str, str]
) -> None:
    admin, project, dataset = versioned
    job = client.post(
        "/api/v1/training/jobs", json=job_body(project, dataset), headers=admin.headers
    ).json()
    guest = member_with_role(client, admin, "guest")
    outsider = sign_up(client)
    assert (
        client.post(
            "/api/v1/training/jobs", json=job_body(project, dataset), headers=guest.headers
        ).status_code
        == 403
    )
    assert (
        client.post(f"/api/v1/training/jobs/{job['id']}/cancel", headers=guest.headers).status_code
        == 403
    )
    assert (
        client.get(f"/api/v1/training/jobs/{job['id']}", headers=outsider.headers).status_code
        == 404
    )
    assert client.get("/api/v1/training/jobs", headers=outsider.headers).json()["total"] == 0
