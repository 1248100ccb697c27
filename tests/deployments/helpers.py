"""Shared by the deployment tests: an Ultralytics training job with checkpoints and its ONNX
export, both driven through the trainer contract exactly as the trainer would (no worker, no
torch), and usage records as the serving replicas write them."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from tests.fixtures.app import Account
from tests.jobs.helpers import JobSetup, claim, sessions
from tests.model_work.helpers import trained_job

from lensforge.kit.db import transaction
from lensforge.models import UsageRecord

API = "/api/v1"
# A stand-in for the exported file: the control plane stores and describes it, never runs it.
ONNX_BYTES = b"\x08\x07\x12\x07pytorch-tiny-onnx-stand-in"


def ultralytics_job(client: TestClient, account: Account, folder: Path, **body: Any) -> JobSetup:
    """A completed Ultralytics detection job with `best` and `last` checkpoints, trained at 64."""
    body = {"model": "yolo11n", **body}
    job, _ = trained_job(
        client,
        account,
        folder,
        trainer="ultralytics",
        config={"basic": {"epochs": 1, "imgsz": 64}},
        **body,
    )
    return job


def finish_export(
    client: TestClient,
    export_job_id: str,
    *,
    passed: bool = True,
    fail: str | None = None,
    imgsz: int = 64,
) -> None:
    """Run the export job as the trainer would: report the verified file, or fail."""
    trainer = claim(client, export_job_id)
    trainer.report("started")
    if fail is not None:
        trainer.report("failed", {"error_type": "internal", "message": fail})
        return
    trainer.upload("export/model.onnx", ONNX_BYTES)
    trainer.report(
        "export",
        {
            "name": "export/model.onnx",
            "format": "onnx",
            "options": {"imgsz": imgsz},
            "size": len(ONNX_BYTES),
            "sha256": hashlib.sha256(ONNX_BYTES).hexdigest(),
            "verification": {"passed": passed, "max_abs_diff": 0.0},
        },
    )
    if passed:
        trainer.report("completed", {})
    else:
        trainer.report("failed", {"error_type": "internal", "message": "verification failed"})


def verified_export(client: TestClient, account: Account, job_id: str) -> dict[str, Any]:
    """A completed, verified ONNX export of the job's best checkpoint."""
    response = client.post(
        f"{API}/exports",
        json={"job_id": job_id, "format": "onnx", "options": {"dynamic": True}},
        headers=account.headers,
    )
    assert response.status_code == 202, response.text
    export: dict[str, Any] = response.json()
    finish_export(client, export["job_id"])
    return export


def deploy(client: TestClient, account: Account, **body: Any) -> httpx.Response:
    return client.post(f"{API}/deployments", json=body, headers=account.headers)


def deployed(client: TestClient, account: Account, **body: Any) -> dict[str, Any]:
    response = deploy(client, account, **body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def add_usage(
    client: TestClient,
    deployment: dict[str, Any],
    organization_id: str,
    at: datetime,
    *,
    status: int = 200,
    total_ms: float = 10.0,
    images: int = 1,
    version: int = 1,
) -> None:
    with transaction(sessions(client)) as session:
        session.add(
            UsageRecord(
                request_id=uuid.uuid4(),
                organization_id=uuid.UUID(organization_id),
                project_id=uuid.UUID(deployment["project_id"]),
                deployment_id=uuid.UUID(deployment["id"]),
                deployment_name=deployment["name"],
                version=version,
                route="image",
                status=status,
                error_code=None if status < 400 else "rate_limited",
                images=images,
                bytes_in=1000 * images,
                bytes_out=200,
                queue_ms=1.0,
                compute_ms=total_ms / 2,
                total_ms=total_ms,
                batch_size=1,
                replica="test",
                created_at=at,
            )
        )
