"""The reference trainer as a real subprocess, started with the worker's environment, against a
real server (real HTTP, database and storage): a whole run, an outage of the server mid-run,
cancel and resume, a failure."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import httpx

from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.orchestration.local.outcomes import settle_cancelled
from lensforge.orchestration.local.recovery import lock
from tests.sdk.live import (
    FAST,
    World,
    assert_fully_delivered,
    finish,
    output,
    restartable,
    spooled,
    start_trainer,
    unacked,
    wait_for,
)


def test_the_reference_trainer_runs_a_job(settings: Settings, tmp_path: Path) -> None:
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "halves", {"train": 24, "val": 12})
        job_id = world.create_job(dataset_id, basic={"epochs": 3, **FAST})
        attempt = world.claim()
        process = start_trainer(attempt)
        assert finish(process, attempt) == 0, output(attempt)

        job = world.job(job_id)
        assert job["status"] == "completed", (job["status_reason"], output(attempt))
        assert (job["epoch"], job["total_epochs"]) == (3, 3)
        assert job["best_metric_name"] == "val/accuracy"
        points = world.get(f"/api/v1/training/jobs/{job_id}/metrics")["points"]
        assert [p["step"] for p in points] == [1, 2, 3]
        assert set(points[0]["values"]) == {
            "train/loss",
            "train/accuracy",
            "val/loss",
            "val/accuracy",
            "lr",
        }
        assert points[-1]["values"]["val/accuracy"] > 0.9
        assert points[-1]["values"]["train/loss"] < points[0]["values"]["train/loss"]

        logs = world.get(f"/api/v1/training/jobs/{job_id}/logs", limit=1000)["items"]
        messages = [line["message"] for line in logs]
        assert any(m.startswith("dataset ready: 36 images (36 downloaded)") for m in messages)
        assert any(m.startswith("epoch 3/3: ") for m in messages)
        assert {line["source"] for line in logs} == {"trainer"}

        checkpoints = world.get(f"/api/v1/training/jobs/{job_id}/checkpoints")
        by_kind = {c["kind"]: c for c in checkpoints}
        assert set(by_kind) == {"best", "last"}
        assert by_kind["last"]["epoch"] == 3
        stored = httpx.get(by_kind["last"]["url"])
        assert hashlib.sha256(stored.content).hexdigest() == by_kind["last"]["sha256"]
        assert json.loads(stored.content)["epoch"] == 3

        reports = assert_fully_delivered(world, attempt)
        assert next(r["kind"] for r in reports) == "started"
        assert reports[-1]["kind"] == "completed"

        # The organization's cache holds the content-addressed images; the attempt's own
        # folder the materialised version (verified copies).
        cache = Path(attempt.env["LENSFORGE_DATASET_CACHE_DIR"])
        assert len(list((cache / "images").rglob("*"))) >= 36
        folder = Path(attempt.env["LENSFORGE_DATASET_DIR"])
        assert folder.is_relative_to(attempt.cwd)
        assert len(list((folder / "images").rglob("*.png"))) == 36

        # A second job on the same version downloads nothing.
        second = world.create_job(dataset_id, basic={"epochs": 1, **FAST})
        attempt2 = world.claim()
        assert finish(start_trainer(attempt2), attempt2) == 0, output(attempt2)
        assert world.job(second)["status"] == "completed"
        logs = world.get(f"/api/v1/training/jobs/{second}/logs", limit=1000)["items"]
        assert any(
            line["message"].startswith("dataset ready: 36 images (0 downloaded)") for line in logs
        )
        world.close()


OUTAGE_SECONDS = float(os.environ.get("LENSFORGE_TEST_OUTAGE_SECONDS", "60"))


def test_no_report_is_lost_or_duplicated_when_the_server_goes_away(
    settings: Settings, tmp_path: Path
) -> None:
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "halves", {"train": 16, "val": 8})
        epochs = 6
        job_id = world.create_job(
            dataset_id,
            basic={"epochs": epochs, **FAST},
            advanced={"epoch_delay_seconds": 0.7, "save_every_epoch": True},
        )
        attempt = world.claim()
        process = start_trainer(attempt)
        wait_for(lambda: (world.job(job_id)["epoch"] or 0) >= 1, what="the first epoch")
        # Epoch 1's checkpoints are uploaded synchronously after its report: stop the server only
        # once the last of them is in, so the outage starts while the trainer runs on (reporting
        # into its spool), not while it waits in an upload (which made the test timing-bound).
        wait_for(
            lambda: any(
                c["kind"] == "epoch" and c["epoch"] == 1
                for c in world.get(f"/api/v1/training/jobs/{job_id}/checkpoints")
            ),
            what="epoch 1's checkpoints",
        )
        server.stop()
        # The bar: a minute without the server. The trainer goes on until it needs the
        # server for a checkpoint link, then waits; its reports pile up in the spool.
        time.sleep(OUTAGE_SECONDS)
        waiting = unacked(attempt)
        assert waiting, "no report was made while the server was away"
        lines_while_down = len(spooled(attempt))
        server.start()

        assert finish(process, attempt) == 0, output(attempt)
        job = world.job(job_id)
        assert job["status"] == "completed", (job["status_reason"], output(attempt))
        points = world.get(f"/api/v1/training/jobs/{job_id}/metrics")["points"]
        assert [p["step"] for p in points] == list(range(1, epochs + 1))
        checkpoints = world.get(f"/api/v1/training/jobs/{job_id}/checkpoints")
        assert sorted(c["epoch"] for c in checkpoints if c["kind"] == "epoch") == list(
            range(1, epochs + 1)
        )
        reports = assert_fully_delivered(world, attempt)
        assert {r["sequence"] for r in waiting} <= {r["sequence"] for r in reports}
        assert len(reports) > lines_while_down  # the run went on after the server came back
        trainer_logs = world.get(f"/api/v1/training/jobs/{job_id}/logs", limit=1000, attempt=1)[
            "items"
        ]
        log_sequences = sorted(line["sequence"] for line in trainer_logs)
        assert log_sequences == [r["sequence"] for r in reports if r["kind"] == "log"]
        world.close()


def test_cancel_then_resume_ends_where_an_uninterrupted_run_ends(
    settings: Settings, tmp_path: Path
) -> None:
    config = {"basic": {"epochs": 4, **FAST}, "advanced": {"epoch_delay_seconds": 0.5}}
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "halves", {"train": 16, "val": 8})

        straight_id = world.create_job(dataset_id, **config)
        straight = world.claim()
        assert finish(start_trainer(straight), straight) == 0, output(straight)

        job_id = world.create_job(dataset_id, **config)
        first = world.claim()
        process = start_trainer(first)
        wait_for(lambda: (world.job(job_id)["epoch"] or 0) >= 2, what="epoch 2")
        cancel = world.http.post(
            f"/api/v1/training/jobs/{job_id}/cancel", headers=world.account.headers
        )
        assert cancel.status_code in (200, 202), cancel.text
        assert finish(process, first, timeout=30) == 0, output(first)  # stopped cooperatively
        assert not any(r["kind"] in ("completed", "failed") for r in spooled(first))
        with transaction(world.sessions) as session:  # what the worker records on that exit
            found = lock(session, first.claim.attempt_id)
            assert found is not None
            settle_cancelled(session, found[0], found[1], 0)
        assert world.job(job_id)["status"] == "cancelled"
        stopped_at = max(
            p["step"] for p in world.get(f"/api/v1/training/jobs/{job_id}/metrics")["points"]
        )
        assert stopped_at < 4

        resumed = world.http.post(
            f"/api/v1/training/jobs/{job_id}/resume", headers=world.account.headers
        )
        assert resumed.status_code in (200, 202), resumed.text
        second = world.claim()
        assert second.env["LENSFORGE_RESUME"] == "1"
        assert finish(start_trainer(second), second) == 0, output(second)
        assert world.job(job_id)["status"] == "completed"
        logs = world.get(f"/api/v1/training/jobs/{job_id}/logs", limit=1000, attempt=2)["items"]
        assert any(line["message"].startswith("resuming after epoch") for line in logs)

        def final_weights(job: str) -> Any:
            last = {c["kind"]: c for c in world.get(f"/api/v1/training/jobs/{job}/checkpoints")}
            data = json.loads(httpx.get(last["last"]["url"]).content)
            return data["weights"], data["bias"], data["rng_state"], data["epoch"]

        assert final_weights(job_id) == final_weights(straight_id)
        points = world.get(f"/api/v1/training/jobs/{job_id}/metrics")["points"]
        assert [p["step"] for p in points] == [1, 2, 3, 4]
        world.close()


def test_a_failure_is_reported_with_its_type(settings: Settings, tmp_path: Path) -> None:
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "valonly", {"val": 4})
        job_id = world.create_job(dataset_id, basic={"epochs": 2, **FAST})
        attempt = world.claim()
        assert finish(start_trainer(attempt), attempt) == 1, output(attempt)
        job = world.job(job_id)
        assert job["status"] == "failed"
        (failed,) = job["attempts"]
        assert failed["error_type"] == "dataset"
        assert failed["error_message"] == "DatasetError: the train split has no labelled samples"
        assert "Traceback" in failed["traceback"]
        assert_fully_delivered(world, attempt)
        world.close()
