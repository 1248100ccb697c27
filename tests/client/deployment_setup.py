"""A deployable model without torch: an Ultralytics job trained through the trainer contract
(tests/deployments/helpers.py) and an ONNX export of it whose "trainer" reports a real, tiny ONNX
detector (tests/serving/onnx_models.py) with a passed verification, exactly as the Ultralytics
trainer would. The serving process really runs it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from tests.deployments.helpers import API, ultralytics_job
from tests.fixtures.app import Account
from tests.jobs.helpers import JobSetup, claim
from tests.serving.onnx_models import yolo_detector

MODEL_SIZE = 64


@dataclass(frozen=True)
class Deployable:
    job: JobSetup
    export_id: str


def detector_anchors() -> np.ndarray:
    """Two boxes in a 64-pixel input: class 0 at (20, 20) scored 0.9, class 1 at (44, 40)
    scored 0.6 (cx, cy, w, h, then one score per class)."""
    return np.array(
        [
            [20.0, 44.0],
            [20.0, 40.0],
            [16.0, 12.0],
            [16.0, 16.0],
            [0.9, 0.0],
            [0.0, 0.6],
        ],
        dtype=np.float32,
    )


def verified_onnx_export(
    client: TestClient,
    account: Account,
    folder: Path,
    *,
    job: JobSetup | None = None,
) -> Deployable:
    """A completed ONNX export with a passed verification, of `job` (a new trained Ultralytics
    job in a new project when None)."""
    if job is None:
        job = ultralytics_job(client, account, folder / "data")
    answer = client.post(
        f"{API}/exports",
        json={"job_id": job.job_id, "format": "onnx", "options": {"dynamic": True}},
        headers=account.headers,
    )
    assert answer.status_code == 202, answer.text
    export = answer.json()
    finish_onnx_export(client, export["job_id"], folder)
    return Deployable(job, export["id"])


def finish_onnx_export(client: TestClient, export_job_id: str, folder: Path) -> None:
    """Run the export job as the trainer would: the detector uploaded, verified, completed."""
    folder.mkdir(parents=True, exist_ok=True)
    path = yolo_detector(folder / f"{export_job_id}.onnx", detector_anchors(), size=None)
    artifact = path.read_bytes()
    trainer = claim(client, export_job_id)
    trainer.report("started")
    trainer.upload("export/model.onnx", artifact)
    trainer.report(
        "export",
        {
            "name": "export/model.onnx",
            "format": "onnx",
            "options": {"dynamic": True, "imgsz": MODEL_SIZE},
            "size": len(artifact),
            "sha256": hashlib.sha256(artifact).hexdigest(),
            "verification": {"passed": True, "max_abs_diff": 0.0, "tolerance": 0.001},
        },
    )
    trainer.report("completed", {})
