"""Model work for real: the reference trainer trains under a local worker, then the same worker
runs a quick test inference (the request waits for it), a verified export, an inference with
that export, and a batch run over the dataset version."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from lensforge.config import Settings
from lensforge.orchestration.local import LocalWorker
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.jobs.helpers import create_job, sessions
from tests.model_work.helpers import png, predict_files
from tests.orchestration.helpers import registry_for, running, wait_until

pytestmark = pytest.mark.xdist_group("subprocess-server")
API = "/api/v1"


def _settings(base: Settings) -> Settings:
    return base.model_copy(
        update={
            "trainers": base.trainers.model_copy(update={"environment": "current"}),
            "worker": base.worker.model_copy(
                update={"name": "model-work", "poll_interval_seconds": 0.1}
            ),
        }
    )


def _finished(client: TestClient, account: Account, path: str) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(client.get(API + path, headers=account.headers).json())
        return found.get("status") in ("completed", "failed", "cancelled")

    wait_until(done, timeout=120, what=f"{path} to finish")
    return found


def test_predict_export_and_batch_inference_with_the_reference_trainer(
    client: TestClient, live_server: LiveServer, tmp_path: Path
) -> None:
    account = sign_up(client)
    job = create_job(client, account, tmp_path / "data", config={"basic": {"epochs": 2}})
    settings = _settings(live_server.settings)
    factory = sessions(client)
    with running(LocalWorker(settings, factory, registry_for(settings))):
        training = _finished(client, account, f"/training/jobs/{job.job_id}")
        assert training["status"] == "completed", training["status_reason"]

        # A quick test inference: the answer carries the results.
        started = time.monotonic()
        answer = client.post(
            f"{API}/training/jobs/{job.job_id}/predict",
            files=predict_files(
                ("red.png", png((220, 30, 30), (64, 48)), "image/png"),
                ("blue.png", png((30, 30, 220), (32, 32)), "image/png"),
            ),
            data={"checkpoint": "best", "conf": "0.0", "wait": "90"},
            headers=account.headers,
        )
        assert answer.status_code == 200, answer.text
        assert time.monotonic() - started < 90
        body = answer.json()
        assert body["run"]["status"] == "completed", body["run"]["status_reason"]
        results = body["results"]
        assert [r["image"] for r in results] == ["red.png", "blue.png"]
        assert (results[0]["width"], results[0]["height"]) == (64, 48)
        detection = results[0]["detections"][0]
        assert detection["class_id"] in (0, 1)  # the tiny dataset has two classes
        assert detection["box"] == [0.0, 0.0, 64.0, 48.0]
        run_id = body["run"]["id"]
        rendered = client.get(
            f"{API}/inference/{run_id}/images/0/rendered", headers=account.headers
        )
        assert rendered.status_code == 200
        with Image.open(io.BytesIO(rendered.content)) as image:
            assert image.format == "PNG"
            assert image.size == (64, 48)
        original = client.get(
            f"{API}/inference/{run_id}/images/1/original", headers=account.headers
        )
        assert original.content == png((30, 30, 220), (32, 32))
        download = client.get(f"{API}/inference/{run_id}/results/download", headers=account.headers)
        assert [json.loads(line)["image"] for line in download.text.splitlines()] == [
            "red.png",
            "blue.png",
        ]
        missing = client.get(f"{API}/inference/{run_id}/images/2/rendered", headers=account.headers)
        assert missing.status_code == 404

        # A verified export.
        created = client.post(
            f"{API}/exports",
            json={"job_id": job.job_id, "format": "json", "options": {"indent": 2}},
            headers=account.headers,
        )
        assert created.status_code == 202, created.text
        export = _finished(client, account, f"/exports/{created.json()['id']}")
        assert export["status"] == "completed", export["status_reason"]
        report = export["verification"]
        assert report["passed"] is True
        assert report["max_abs_diff"] == 0.0
        assert report["detection_agreement"] == 1.0
        assert report["samples"] >= 1
        assert set(report["latency_ms"]) == {"pytorch", "exported"}
        link = client.get(f"{API}/exports/{export['id']}/download", headers=account.headers)
        assert link.status_code == 200, link.text
        artifact = client.get(link.json()["url"])
        assert artifact.status_code == 200
        assert json.loads(artifact.content)["format"] == "lensforge-reference-model/1"
        assert artifact.content.startswith(b'{\n  "format"')  # the indent option was applied
        assert link.json()["size"] == len(artifact.content)

        # The export predicts like the checkpoint it came from.
        with_export = client.post(
            f"{API}/training/jobs/{job.job_id}/predict",
            files=predict_files(("red.png", png((220, 30, 30), (64, 48)), "image/png")),
            data={"export_id": export["id"], "conf": "0.0", "wait": "90"},
            headers=account.headers,
        ).json()
        assert with_export["run"]["status"] == "completed", with_export["run"]["status_reason"]
        assert with_export["results"][0]["detections"][0]["class_id"] == detection["class_id"]
        assert with_export["results"][0]["detections"][0]["score"] == pytest.approx(
            detection["score"]
        )

        # A batch run over the whole version, paged.
        version_id = training["dataset_version_id"]
        batch = client.post(
            f"{API}/inference",
            json={"job_id": job.job_id, "dataset_version_id": version_id},
            headers=account.headers,
        )
        assert batch.status_code == 202, batch.text
        run = _finished(client, account, f"/inference/{batch.json()['id']}")
        assert run["status"] == "completed", run["status_reason"]
        assert run["result_count"] == run["image_count"] >= 1
        page = client.get(
            f"{API}/inference/{run['id']}/results?limit=1", headers=account.headers
        ).json()
        assert page["total"] == run["image_count"]
        assert len(page["items"]) == 1
        assert page["items"][0]["image"] == run["images"][0]["name"]
