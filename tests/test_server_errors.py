"""The inputs schemathesis found to answer 500 now get a specific 4xx (issue 12, item 13):
offsets beyond 2^63 on the list routes, a dataset that jobs use being deleted, an API key
expiry without a timezone, and out-of-range path numbers."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.fixtures.app import sign_up
from tests.jobs.helpers import create_job

LIST_ROUTES = [
    "/api/v1/projects",
    "/api/v1/datasets",
    "/api/v1/exports",
    "/api/v1/inference",
    "/api/v1/models/artifacts",
    "/api/v1/training/jobs",
]


@pytest.mark.parametrize("path", LIST_ROUTES)
@pytest.mark.parametrize("offset", [2**63, 2**64 + 5, 10**30])
def test_huge_offsets_are_a_validation_error(client: TestClient, path: str, offset: int) -> None:
    admin = sign_up(client)
    response = client.get(path, params={"offset": offset}, headers=admin.headers)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["details"]["fields"][0]["field"] == "query.offset"
    # The largest allowed offset is simply past the end.
    fine = client.get(path, params={"offset": 1_000_000_000}, headers=admin.headers)
    assert fine.status_code == 200, fine.text
    assert fine.json()["items"] == []


def test_huge_path_numbers_are_a_validation_error(client: TestClient) -> None:
    admin = sign_up(client)
    dataset = uuid.uuid4()
    for path in (
        f"/api/v1/datasets/{dataset}/versions/{2**63}",
        f"/api/v1/datasets/{dataset}/versions/{2**31}/items",
        f"/api/v1/inference/{uuid.uuid4()}/images/{2**63}/original",
        f"/api/v1/training/jobs/{uuid.uuid4()}/logs?attempt={2**63}",
        f"/api/v1/training/jobs/{uuid.uuid4()}/metrics?since_step={2**63}",
    ):
        response = client.get(path, headers=admin.headers)
        assert response.status_code == 422, f"{path}: {response.text}"


def test_a_dataset_that_jobs_use_cannot_be_deleted_and_the_answer_names_them(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    setup = create_job(client, admin, tmp_path / "data", name="the-first-run")
    response = client.delete(f"/api/v1/datasets/{setup.dataset_id}", headers=admin.headers)
    assert response.status_code == 409, response.text
    error = response.json()["error"]
    assert error["code"] == "dataset_in_use"
    assert "the-first-run" in error["message"]
    assert error["details"]["jobs"] == [{"id": setup.job_id, "name": "the-first-run"}]
    assert error["details"]["total"] == 1
    # Still there, untouched.
    kept = client.get(f"/api/v1/datasets/{setup.dataset_id}", headers=admin.headers)
    assert kept.status_code == 200


def test_an_api_key_expiry_without_timezone_is_read_as_utc(client: TestClient) -> None:
    admin = sign_up(client)
    created = client.post(
        "/api/v1/api-keys",
        json={"name": "naive", "expires_at": "2999-01-01T00:00:00"},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    assert created.json()["expires_at"].startswith("2999-01-01T00:00:00")
    assert created.json()["expires_at"].endswith(("Z", "+00:00"))
    past = client.post(
        "/api/v1/api-keys",
        json={"name": "naive-past", "expires_at": "2001-01-01T00:00:00"},
        headers=admin.headers,
    )
    assert past.status_code == 422, past.text
