"""A deployable model without a trainer that exports ONNX: a reference job trained through the
trainer contract, and an export of it whose "trainer" reports a real (tiny) ONNX detector with
a passed verification, exactly as an ONNX-capable trainer would (tests/serving/onnx_models.py).

The reference trainer offers only `json` exports, so the export is asked for in `json` and its
row switched to `onnx` before the artifact is reported: the one step a real trainer would not
need. Everything else (the checkpoint, the upload, the verification) goes through the API."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from lensforge.kit.db import transaction
from lensforge.models import ModelExport
from tests.fixtures.app import Account
from tests.jobs.helpers import JobSetup, claim, sessions
from tests.model_work.helpers import export_json, trained_job
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
    """A completed ONNX export with a passed verification, of `job` (a new trained reference
    job in a new project when None)."""
    if job is None:
        job, _ = trained_job(client, account, folder / "data")
    answer = export_json(client, account, job.job_id)
    assert answer.status_code == 202, answer.text
    export = answer.json()
    with transaction(sessions(client)) as session:
        row = session.get(ModelExport, uuid.UUID(export["id"]))
        assert row is not None
        row.format = "onnx"
        row.options = {"dynamic": True, "imgsz": MODEL_SIZE}
    folder.mkdir(parents=True, exist_ok=True)
    path = yolo_detector(folder / f"{export['id']}.onnx", detector_anchors(), size=None)
    artifact = path.read_bytes()
    trainer = claim(client, export["job_id"])
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
    return Deployable(job, export["id"])
