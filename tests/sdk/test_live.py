"""The SDK and the reference trainer against a real server: real HTTP, a real database, real
storage, the trainer as a real subprocess started with the worker's environment."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.models import JobReport
from lensforge.orchestration.local.outcomes import settle_cancelled
from lensforge.orchestration.local.recovery import lock
from lensforge.sdk import ServerError, Trainer, TrainerConfig
from tests.sdk.live import Attempt, World, finish, output, restartable, start_trainer

FAST = {"imgsz": 8, "batch_size": 4}


def spool_of(attempt: Attempt) -> Path:
    return Path(attempt.env["LENSFORGE_SPOOL_DIR"]) / f"attempt-{attempt.claim.attempt_number}"


def spooled(attempt: Attempt) -> list[dict[str, Any]]:
    lines = (spool_of(attempt) / "reports.jsonl").read_bytes().splitlines()
    return [json.loads(line) for line in lines]


def unacked(attempt: Attempt) -> list[dict[str, Any]]:
    """The spooled reports the server has not confirmed yet."""
    folder = spool_of(attempt)
    try:
        offset = json.loads((folder / "ack.json").read_text())["offset"]
    except FileNotFoundError:
        offset = 0
    with (folder / "reports.jsonl").open("rb") as stream:
        stream.seek(offset)
        return [json.loads(line) for line in stream.read().splitlines()]


def wait_for(condition: Any, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def assert_fully_delivered(world: World, attempt: Attempt) -> list[dict[str, Any]]:
    """Every spooled report was applied once: the ack covers the file, nothing was rejected,
    and the server's (attempt, sequence) records are exactly the spool's sequences."""
    folder = spool_of(attempt)
    reports = spooled(attempt)
    sequences = [r["sequence"] for r in reports]
    assert sequences == list(range(1, len(reports) + 1))
    assert (
        json.loads((folder / "ack.json").read_text())["offset"]
        == (folder / "reports.jsonl").stat().st_size
    )
    assert not (folder / "reports.rejected").exists()
    with transaction(world.sessions) as session:
        applied = session.scalars(
            select(JobReport.sequence).where(JobReport.attempt_id == attempt.claim.attempt_id)
        ).all()
    assert sorted(applied) == sequences
    return reports


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

        # The dataset cache: content-addressed images and the materialised version.
        cache = Path(attempt.env["LENSFORGE_CACHE_DIR"])
        assert len(list((cache / "images").rglob("*"))) >= 36
        (folder,) = list((cache / "datasets").iterdir())
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
        for _ in range(20):  # stop while some reports wait in the spool (they are sent ~1/s)
            wait_for(lambda: unacked(attempt), what="buffered reports")
            server.stop()
            waiting = unacked(attempt)
            if waiting:
                break
            server.start()  # everything got through just before the stop: try again
        else:
            pytest.fail("never caught the spool with unsent reports")
        time.sleep(4)  # the trainer goes on: reports pile up, the checkpoint upload waits
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


def test_the_sdk_only_reaches_its_own_data_and_outputs(settings: Settings, tmp_path: Path) -> None:
    with restartable(settings) as server:
        world = World(server)
        mine = world.classification_version(tmp_path / "mine", {"train": 4, "val": 2}, seed=1)
        other = world.classification_version(tmp_path / "other", {"train": 4, "val": 2}, seed=2)
        world.create_job(mine, basic={"epochs": 1, **FAST})
        attempt = world.claim()
        trainer = Trainer(TrainerConfig.from_env(attempt.env))
        try:
            own = trainer.download_dataset()
            assert len(own.items()) == 6
            assert all(own.image_path(item).is_file() for item in own.items())

            # Another dataset's image hashes: refused as a whole.
            other_job = world.create_job(other, basic={"epochs": 1, **FAST})
            other_attempt = world.claim()
            foreign = Trainer(
                TrainerConfig.from_env(other_attempt.env, spool_dir=tmp_path / "spool2")
            )
            theirs = [i["sha256"] for i in foreign.api.call("GET", "/dataset/manifest")["items"]]
            foreign.close()
            ours = {item["sha256"] for item in own.items()}
            not_ours = [sha for sha in theirs if sha not in ours]
            assert not_ours
            with pytest.raises(ServerError) as refused:
                trainer.api.call("POST", "/dataset/urls", json={"sha256": not_ours[:1]})
            assert refused.value.status_code == 403

            # Outputs: links only under jobs/<own job>/outputs/, and a link is for its key only.
            answer = trainer.api.call(
                "POST", "/outputs/urls", json={"files": [{"name": "plots/a.txt"}]}
            )
            link = answer["urls"]["plots/a.txt"]
            assert f"jobs/{attempt.claim.job_id}/outputs/plots/a.txt" in link
            forged = link.replace(str(attempt.claim.job_id), other_job)
            assert httpx.put(forged, content=b"x").status_code == 403
            for name in ("../../x", "/abs", f"../../{other_job}/outputs/x"):
                with pytest.raises(ServerError) as bad:
                    trainer.api.call("POST", "/outputs/urls", json={"files": [{"name": name}]})
                assert bad.value.status_code == 422
            with pytest.raises(ValueError, match="relative"):
                trainer.upload_file(tmp_path / "mine.zip", "../escape")

            # Another job's token is refused on this job.
            stolen = httpx.get(
                f"{server.url}/api/v1/trainer/jobs/{attempt.claim.job_id}",
                headers={"Authorization": f"Bearer {other_attempt.claim.token}"},
            )
            assert stolen.status_code == 401

            # The SDK's own uploads land where they should, verified.
            sent = trainer.upload_file(tmp_path / "mine.zip", "extras/data.zip")
            assert (
                sent["sha256"] == hashlib.sha256((tmp_path / "mine.zip").read_bytes()).hexdigest()
            )
        finally:
            trainer.close(timeout=10)
        world.close()


def test_reports_refused_for_good_are_kept_not_retried(settings: Settings, tmp_path: Path) -> None:
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "d", {"train": 4, "val": 2})
        world.create_job(dataset_id, basic={"epochs": 1, **FAST})
        attempt = world.claim()
        assert finish(start_trainer(attempt), attempt) == 0, output(attempt)
        # The attempt is over: a process still holding its token (a zombie) is refused (403).
        late = Trainer(TrainerConfig.from_env(attempt.env))
        late.info("a late line")
        late.error("an urgent late line")
        assert late.flush(timeout=30)
        rejected = (spool_of(attempt) / "reports.rejected").read_text().splitlines()
        entries = [json.loads(line) for line in rejected]
        assert {e["status_code"] for e in entries} == {403}
        kept = [r["data"]["message"] for e in entries for r in e["reports"]]
        assert kept == ["a late line", "an urgent late line"]
        assert late.sender.failures == 0
        assert late.close(timeout=5)
        world.close()


def test_reports_are_sent_in_batches(settings: Settings, tmp_path: Path) -> None:
    """Many buffered logs go in POSTs of at most 200, each applied once; one report the server
    refuses (422) is isolated and kept, without taking the others of its batch with it."""
    with restartable(settings) as server:
        world = World(server)
        dataset_id = world.classification_version(tmp_path / "d", {"train": 4, "val": 2})
        job_id = world.create_job(dataset_id, basic={"epochs": 1, **FAST})
        attempt = world.claim()
        trainer = Trainer(TrainerConfig.from_env(attempt.env))
        trainer.report_started()
        bad = None
        for index in range(450):
            trainer.debug(f"line {index}", index=index)
            if index == 300:  # the SDK checks its own arguments; a raw spool line does not
                bad = trainer.spool.append("progress", {"epoch": -1, "metrics": {}})
        assert trainer.flush(timeout=60)
        assert 3 <= trainer.sender.sent_batches < 450
        trainer.report_progress(1, 1, {"loss": float("nan"), "acc": 1.0})
        trainer.report_completed(best_epoch=1, best_metric_name="acc", best_metric_value=1.0)
        assert trainer.close(timeout=30)

        folder = spool_of(attempt)
        (entry,) = [
            json.loads(line) for line in (folder / "reports.rejected").read_text().splitlines()
        ]
        assert entry["status_code"] == 422
        assert [r["sequence"] for r in entry["reports"]] == [bad]
        with transaction(world.sessions) as session:
            applied = session.scalars(
                select(JobReport.sequence).where(JobReport.attempt_id == attempt.claim.attempt_id)
            ).all()
        everything = [r["sequence"] for r in spooled(attempt)]
        assert sorted(applied) == [s for s in everything if s != bad]
        total = world.get(f"/api/v1/training/jobs/{job_id}/logs", limit=1)["total"]
        assert total == 451  # 450 + the warning about the NaN
        (point,) = world.get(f"/api/v1/training/jobs/{job_id}/metrics")["points"]
        assert point["values"] == {"loss": None, "acc": 1.0}
        assert world.job(job_id)["status"] == "completed"
        world.close()
