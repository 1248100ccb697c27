"""Shared by the model work tests: a training job with checkpoints, made through the trainer
contract exactly as a trainer would (no worker needed), and small images to send."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from PIL import Image

from tests.fixtures.app import Account
from tests.jobs.helpers import JobSetup, Trainer, claim, create_job


def png(colour: tuple[int, int, int] = (200, 40, 40), size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


def image_bytes(fmt: str, size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (10, 120, 200)).save(out, fmt)
    return out.getvalue()


def trained_job(
    client: TestClient, account: Account, folder: Path, *, completed: bool = True, **body: Any
) -> tuple[JobSetup, Trainer]:
    """A reference job whose trainer reported `best` and `last` checkpoints (and completion)."""
    job = create_job(client, account, folder, **body)
    trainer = claim(client, job.job_id)
    trainer.report("started")
    for kind in ("last", "best"):
        content = b'{"format": "placeholder"}'
        trainer.upload(f"checkpoints/{kind}.json", content)
        trainer.report(
            "checkpoint",
            {"kind": kind, "epoch": 1, "name": f"checkpoints/{kind}.json", "size": len(content)},
        )
    if completed:
        trainer.report("completed", {"best_epoch": 1})
    return job, trainer


def predict_files(*images: tuple[str, bytes, str]) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("files", image) for image in images]


def export_json(client: TestClient, account: Account, job_id: str) -> httpx.Response:
    """Ask for a `json` export (the reference trainer's format) of the job's best checkpoint."""
    return client.post(
        "/api/v1/exports", json={"job_id": job_id, "format": "json"}, headers=account.headers
    )


def predict_one(client: TestClient, account: Account, job_id: str, **data: str) -> httpx.Response:
    """A quick test inference of one small PNG named `a.png`; `data` are the form fields."""
    return client.post(
        f"/api/v1/training/jobs/{job_id}/predict",
        files=predict_files(("a.png", png(), "image/png")),
        data=data,
        headers=account.headers,
    )
