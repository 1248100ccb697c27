"""The whole chain for real: a job created through the API, a local worker, the reference
trainer (through the SDK) reporting to a live server; then the same with the worker process
killed mid-run and a new one resuming the job from its last checkpoint."""

from __future__ import annotations

import io
import os
import signal
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.models import JobCheckpoint, JobMetric
from lensforge.orchestration.local import LocalWorker
from lensforge.orchestration.local.processes import ProcessRecord
from tests.fixtures.app import sign_up
from tests.fixtures.live_server import LiveServer
from tests.jobs.helpers import create_job
from tests.orchestration.helpers import (
    LENSFORGE,
    Jobs,
    alive,
    attempt_dir,
    process,
    registry_for,
    running,
    wait_until,
    worker_env,
)

pytestmark = pytest.mark.xdist_group("subprocess-server")


def _reference_settings(base: Settings, **worker: float) -> Settings:
    return base.model_copy(
        update={
            "trainers": base.trainers.model_copy(update={"environment": "current"}),
            "worker": base.worker.model_copy(
                update={
                    "name": "e2e",
                    "poll_interval_seconds": 0.1,
                    "heartbeat_interval_seconds": 0.2,
                    **worker,
                }
            ),
        }
    )


def _metrics(sessions: sessionmaker[Session], job_id: uuid.UUID) -> list[tuple[int, int]]:
    with transaction(sessions) as session:
        return [
            (m.step, m.attempt_number)
            for m in session.scalars(
                select(JobMetric).where(JobMetric.job_id == job_id).order_by(JobMetric.step)
            )
        ]


def _last_checkpoint_epoch(sessions: sessionmaker[Session], job_id: uuid.UUID) -> int | None:
    with transaction(sessions) as session:
        return session.scalar(
            select(JobCheckpoint.trained_epoch).where(
                JobCheckpoint.job_id == job_id, JobCheckpoint.kind == "last"
            )
        )


def test_reference_trainer_completes_under_a_local_worker(
    client: TestClient,
    live_server: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(client)
    job = create_job(client, account, tmp_path / "data", config={"basic": {"epochs": 3}})
    settings = _reference_settings(live_server.settings)
    jobs = Jobs(sessions, seed=False)
    job_id = uuid.UUID(job.job_id)
    with running(LocalWorker(settings, sessions, registry_for(settings))):
        wait_until(
            lambda: jobs.get(job_id).status in ("completed", "failed"),
            timeout=120,
            what="the job to finish",
        )
    done = jobs.get(job_id)
    assert done.status == "completed", done.status_reason
    assert [step for step, _ in _metrics(sessions, job_id)] == [1, 2, 3]
    assert _last_checkpoint_epoch(sessions, job_id) == 3
    _assert_evaluation_artifacts(client, account.headers, job.job_id)


def _assert_evaluation_artifacts(client: TestClient, headers: dict[str, str], job_id: str) -> None:
    """The trainer's final evaluation went through the SDK to the job's artifacts: the
    per-class table as data, the confusion matrix as a PNG the API serves back."""
    listed = client.get(f"/api/v1/training/jobs/{job_id}/artifacts", headers=headers)
    assert listed.status_code == 200, listed.text
    by_name = {a["name"]: a for a in listed.json()}
    assert set(by_name) == {"per_class.json", "confusion_matrix.png"}
    table = client.get(by_name["per_class.json"]["url"], headers=headers).json()
    assert table["columns"] == ["class", "val samples", "precision", "recall"]
    # Detection: the reference model also learns background crops, a class of its own.
    assert [row[0] for row in table["rows"]] == ["cat", "dog", "(background)"]
    plot = client.get(by_name["confusion_matrix.png"]["url"], headers=headers)
    assert plot.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(plot.content)).size[0] > 100


def test_worker_killed_mid_run_is_resumed_by_the_next_worker_from_the_last_checkpoint(
    client: TestClient,
    live_server: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    account = sign_up(client)
    epochs = 6
    job = create_job(
        client,
        account,
        tmp_path / "data",
        config={"basic": {"epochs": epochs}, "advanced": {"epoch_delay_seconds": 0.7}},
    )
    jobs = Jobs(sessions, seed=False)
    job_id = uuid.UUID(job.job_id)
    settings = live_server.settings
    env = worker_env(settings, tmp_path / "no-plugins")
    log = tmp_path / "worker.log"
    argv = [LENSFORGE, "worker", "--name", "e2e-crashy"]
    with process(argv, env, log) as first:
        wait_until(
            lambda: (_last_checkpoint_epoch(sessions, job_id) or 0) >= 2,
            timeout=120,
            what=f"two epochs; worker log at {log}",
        )
        record = ProcessRecord.read(attempt_dir(settings, job_id, 1))
        assert record is not None
        trainer = record.pid
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        wait_until(lambda: not alive(trainer), timeout=10, what="the trainer to die with it")
    with process(argv, env, log):
        wait_until(
            lambda: jobs.get(job_id).status in ("completed", "failed"),
            timeout=120,
            what=f"the resumed job; worker log:\n{log.read_text()}",
        )
    done = jobs.get(job_id)
    assert done.status == "completed", done.status_reason
    first_attempt, second = jobs.attempts(done.id)
    assert first_attempt.status == "lost"
    assert second.status == "completed"
    assert second.resumed_from is not None
    steps = _metrics(sessions, job_id)
    # One point per epoch, none twice; the resumed attempt wrote only what it trained.
    assert [step for step, _ in steps] == list(range(1, epochs + 1))
    assert {attempt for _, attempt in steps} == {1, 2}
    assert _last_checkpoint_epoch(sessions, job_id) == epochs


def test_trainer_killed_mid_run_is_resumed_from_the_last_checkpoint(
    client: TestClient,
    live_server: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
) -> None:
    """kill -9 of the trainer alone: the worker sees the attempt lost and the next attempt
    resumes from `last`; every epoch's point is stored exactly once."""
    account = sign_up(client)
    epochs = 6
    job = create_job(
        client,
        account,
        tmp_path / "data",
        config={"basic": {"epochs": epochs}, "advanced": {"epoch_delay_seconds": 0.7}},
    )
    jobs = Jobs(sessions, seed=False)
    job_id = uuid.UUID(job.job_id)
    settings = _reference_settings(live_server.settings)
    with running(LocalWorker(settings, sessions, registry_for(settings))):
        wait_until(
            lambda: (_last_checkpoint_epoch(sessions, job_id) or 0) >= 2,
            timeout=120,
            what="two epochs",
        )
        record = ProcessRecord.read(attempt_dir(settings, job_id, 1))
        assert record is not None
        os.kill(record.pid, signal.SIGKILL)
        wait_until(
            lambda: jobs.get(job_id).status in ("completed", "failed"),
            timeout=120,
            what="the resumed job",
        )
    done = jobs.get(job_id)
    assert done.status == "completed", done.status_reason
    first_attempt, second = jobs.attempts(done.id)
    assert first_attempt.status == "lost"
    assert second.status == "completed"
    assert second.resumed_from is not None
    steps = _metrics(sessions, job_id)
    assert [step for step, _ in steps] == list(range(1, epochs + 1))
    assert {attempt for _, attempt in steps} == {1, 2}
