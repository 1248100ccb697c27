"""Helpers of the Ultralytics end-to-end tests: small real datasets imported through the API, a
job created through the API, a local worker running it in the trainer's environment."""

from __future__ import annotations

import shutil
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.orchestration.local import LocalWorker
from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    upload,
    zip_folder,
)
from tests.fixtures.app import Account
from tests.fixtures.shared_data import RACCOON
from tests.orchestration.helpers import Jobs, registry_for, running, wait_until
from tests.trainers.ultralytics.conftest import trainer_settings

FINISHED = ("completed", "failed", "cancelled")
# Small and fast on a weak CPU: the smallest model, tiny images, no augmentation to speak of.
FAST = {
    "basic": {"epochs": 2, "batch_size": 8, "imgsz": 64, "device": "cpu"},
    "advanced": {"workers": 0, "mosaic": 0.0, "warmup_epochs": 0.0},
}


def raccoon_subset(folder: Path, count: int) -> Path:
    """The first `count` images of the real raccoon VOC set, with their annotations."""
    (folder / "images").mkdir(parents=True)
    (folder / "annotations").mkdir()
    for image in sorted((RACCOON / "images").iterdir())[:count]:
        shutil.copyfile(image, folder / "images" / image.name)
        xml = RACCOON / "annotations" / f"{image.stem}.xml"
        shutil.copyfile(xml, folder / "annotations" / xml.name)
    return folder


def import_folder(
    client: TestClient, account: Account, folder: Path, task: str, **options: Any
) -> tuple[str, str]:
    """(project_id, dataset_id) of a new dataset with `folder` imported as version 1."""
    project = create_project(client, account, name=f"p-{uuid.uuid4().hex[:6]}")
    dataset = create_dataset(client, account, project, task=task, name=folder.name)
    archive = zip_folder(folder, folder.with_suffix(".zip"))
    result = import_archive(client, account, dataset, project, archive, **options)
    assert result["status"] == "succeeded", result
    return project, dataset


def create_job(
    client: TestClient,
    account: Account,
    project: str,
    dataset: str,
    model: str,
    config: dict[str, Any],
    **body: Any,
) -> uuid.UUID:
    response = client.post(
        "/api/v1/training/jobs",
        json={
            "project_id": project,
            "dataset_id": dataset,
            "trainer": "ultralytics",
            "model": model,
            "config": config,
            **body,
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


def worker_settings(base: Settings) -> Settings:
    settings = trainer_settings(base)
    return settings.model_copy(
        update={
            "worker": settings.worker.model_copy(
                update={
                    "name": "ultralytics-e2e",
                    "poll_interval_seconds": 0.1,
                    "heartbeat_interval_seconds": 0.5,
                }
            )
        }
    )


@contextmanager
def local_worker(base: Settings, sessions: sessionmaker[Session]) -> Iterator[Settings]:
    settings = worker_settings(base)
    with running(LocalWorker(settings, sessions, registry_for(settings))):
        yield settings


def wait_finished(
    client: TestClient, account: Account, job_id: uuid.UUID, timeout: float = 600
) -> dict[str, Any]:
    started = time.monotonic()

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(
            f"/api/v1/training/jobs/{job_id}", headers=account.headers
        ).json()
        if body["status"] not in FINISHED:
            return None
        # Leave the worker running until the trainer process has exited too.
        attempts = body.get("attempts") or []
        return body if not attempts or attempts[-1]["exit_code"] is not None else None

    job: dict[str, Any] = wait_until(finished, timeout=timeout, what=f"job {job_id} to finish")
    job["_seconds"] = time.monotonic() - started
    return job


def failure(job: dict[str, Any]) -> str:
    attempts = job.get("attempts") or []
    details = [
        f"attempt {a['number']}: {a['status']} {a['error_type']}: {a['error_message']}"
        for a in attempts
    ]
    return f"{job['status']}: {job['status_reason']}\n" + "\n".join(details)


def metrics(client: TestClient, account: Account, job_id: uuid.UUID) -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/training/jobs/{job_id}/metrics", headers=account.headers)
    assert response.status_code == 200, response.text
    points: list[dict[str, Any]] = response.json()["points"]
    return points


def checkpoints(client: TestClient, account: Account, job_id: uuid.UUID) -> dict[str, Any]:
    response = client.get(f"/api/v1/training/jobs/{job_id}/checkpoints", headers=account.headers)
    assert response.status_code == 200, response.text
    return {c["kind"]: c for c in response.json()}


def logs(client: TestClient, account: Account, job_id: uuid.UUID) -> str:
    response = client.get(
        f"/api/v1/training/jobs/{job_id}/logs?limit=1000", headers=account.headers
    )
    return "\n".join(line["message"] for line in response.json()["items"])


__all__ = ["Jobs"]


def held_out_raccoon(after: int) -> Path:
    """A raccoon image that is not among the first `after` (not trained or validated on)."""
    return sorted((RACCOON / "images").iterdir())[-1] if after < 200 else RACCOON


def predict(
    client: TestClient, account: Account, job_id: uuid.UUID, image: Path, **form: str
) -> dict[str, Any]:
    response = client.post(
        f"/api/v1/training/jobs/{job_id}/predict",
        files=[("files", (image.name, image.read_bytes(), "image/jpeg"))],
        data={"wait": "240", **form},
        headers=account.headers,
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def export(
    client: TestClient, account: Account, job_id: uuid.UUID, fmt: str, **options: Any
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/exports",
        json={"job_id": str(job_id), "checkpoint": "best", "format": fmt, "options": options},
        headers=account.headers,
    )
    assert response.status_code == 202, response.text
    export_id = response.json()["id"]

    def finished() -> dict[str, Any] | None:
        body: dict[str, Any] = client.get(
            f"/api/v1/exports/{export_id}", headers=account.headers
        ).json()
        return body if body["status"] in FINISHED else None

    done: dict[str, Any] = wait_until(finished, timeout=600, what=f"export {export_id}")
    return done


def upload_weights(
    client: TestClient, account: Account, project: str, path: Path, name: str
) -> str:
    """`path` uploaded through the resumable uploads API and recorded as a model artifact."""
    upload_id = upload(client, account, project, path)
    response = client.post(
        "/api/v1/models/artifacts",
        json={"project_id": project, "upload_id": upload_id, "name": name},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])
