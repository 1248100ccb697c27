"""One local worker, real trainer subprocesses: capacity, the trainer's environment, cancel
escalation, lost attempts and their recovery, the stale-heartbeat reaper, spooled reports."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import JobAttempt, JobLog, JobMetric, JobTransition, TrainingJob
from lensforge.orchestration.local import LocalWorker
from tests.orchestration.helpers import (
    Jobs,
    alive,
    attempt_dir,
    registry_for,
    running,
    trainer_env,
    wait_until,
    worker_settings,
)


def _worker(settings: Settings, sessions: sessionmaker[Session]) -> LocalWorker:
    return LocalWorker(settings, sessions, registry_for(settings))


def _finished(jobs: Jobs, job_id: object, status: str) -> bool:
    return jobs.get(job_id).status == status  # type: ignore[arg-type]


def _reasons(sessions: sessionmaker[Session], job_id: object) -> list[str]:
    with transaction(sessions) as session:
        return list(
            session.scalars(
                select(JobTransition.reason)
                .where(JobTransition.job_id == job_id)
                .order_by(JobTransition.at, JobTransition.id)
            )
        )


def test_one_cpu_slot_never_runs_two_jobs_at_once(
    settings: Settings, tmp_path: Path, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    wsettings = worker_settings(settings, tmp_path, cpu_slots=1)
    marks = tmp_path / "marks.txt"
    ids = [jobs.create(sleep=0.3, marks=str(marks)) for _ in range(3)]
    with running(_worker(wsettings, sessions)):
        for job_id in ids:
            wait_until(lambda j=job_id: _finished(jobs, j, "failed"), what="jobs to end")
    events = sorted(
        (float(at), kind)
        for kind, _, at in (line.split() for line in marks.read_text().split("\n") if line)
    )
    running_now = 0
    for _, kind in events:
        running_now += 1 if kind == "start" else -1
        assert running_now <= 1, "two trainers ran at once on one slot"
    assert [kind for _, kind in events].count("start") == 3


def test_gpu_slots_are_handed_out_by_index_and_cpu_jobs_see_none(
    settings: Settings, tmp_path: Path, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    # GPU indices are only handed out here (no GPU needed): each is one slot.
    wsettings = worker_settings(settings, tmp_path, cpu_slots=3, gpus=[3, 5])
    gpu_jobs = [jobs.create(sleep=1.0, resources={"cpu": 1, "gpu": 1}) for _ in range(2)]
    too_big = jobs.create(resources={"cpu": 1, "gpu": 3})
    cpu_job = jobs.create()
    with running(_worker(wsettings, sessions)):
        seen = {trainer_env(wsettings, j, 1)["CUDA_VISIBLE_DEVICES"] for j in gpu_jobs}
        assert seen == {"3", "5"}
        assert trainer_env(wsettings, cpu_job, 1)["CUDA_VISIBLE_DEVICES"] == ""
        for job_id in [*gpu_jobs, cpu_job]:
            wait_until(lambda j=job_id: _finished(jobs, j, "failed"), what="jobs to end")
        assert jobs.get(too_big).status == "queued"  # more GPUs than this worker has


def test_trainer_environment_follows_the_contract_and_holds_no_server_secret(
    settings: Settings,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    jobs: Jobs,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LENSFORGE_DATABASE__URL", "postgresql://u:secret@db/lensforge")
    monkeypatch.setenv("LENSFORGE_SECURITY__SECRET_KEY", "s" * 48)
    monkeypatch.setenv("LENSFORGE_STORAGE__S3__SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    monkeypatch.setenv("WANDB_API_KEY", "passed-on-purpose")
    wsettings = worker_settings(settings, tmp_path)
    wsettings = wsettings.model_copy(
        update={
            "trainers": wsettings.trainers.model_copy(
                # Listing a server secret by mistake must still not pass it.
                update={"pass_env": ["WANDB_API_KEY", "LENSFORGE_STORAGE__S3__SECRET_ACCESS_KEY"]}
            )
        }
    )
    job_id = jobs.create(sleep=0.2)
    with running(_worker(wsettings, sessions)):
        env = trainer_env(wsettings, job_id, 1)
        wait_until(lambda: _finished(jobs, job_id, "failed"), what="the job to end")
    leaked = [
        k
        for k, v in env.items()
        if "secret" in v
        or k.startswith(("LENSFORGE_DATABASE", "LENSFORGE_SECURITY", "LENSFORGE_STORAGE", "AWS_"))
    ]
    assert leaked == []
    assert env["WANDB_API_KEY"] == "passed-on-purpose"
    job_dir = wsettings.data_dir / "jobs" / str(job_id)
    assert env["LENSFORGE_API_URL"] == wsettings.public_url
    assert env["LENSFORGE_JOB_ID"] == str(job_id)
    assert env["LENSFORGE_JOB_TOKEN"].startswith("lfj_")
    assert env["LENSFORGE_ATTEMPT"] == "1"
    assert env["LENSFORGE_WORK_DIR"] == str(job_dir / "attempt-1")
    assert env["LENSFORGE_SPOOL_DIR"] == str(job_dir / "spool")
    assert env["LENSFORGE_CACHE_DIR"] == str(wsettings.data_dir / "dataset-cache")
    assert (env["LENSFORGE_TRAINER"], env["LENSFORGE_MODEL"], env["LENSFORGE_TASK"]) == (
        "scripted",
        "tiny",
        "classification",
    )
    assert env["LENSFORGE_CONFIG"] == '{"basic": {"sleep": 0.2}, "advanced": {}}'
    assert env["LENSFORGE_RESUME"] == "0"
    assert env["PATH"] == os.environ["PATH"]
    # The token is given to the trainer, never stored: only its hash is.
    attempt = jobs.attempts(job_id)[0]
    assert env["LENSFORGE_JOB_TOKEN"] not in (attempt.token_hash,)
    # stdout and stderr were captured into the job's log.
    with transaction(sessions) as session:
        lines = {
            (log.source, log.message)
            for log in session.scalars(select(JobLog).where(JobLog.job_id == job_id))
        }
    assert ("stdout", "hello on stdout") in lines
    assert ("stderr", "hello on stderr") in lines


def test_cancel_escalates_to_sigterm_then_sigkill(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    job_id = jobs.create(sleep=60, ignore_term=True)
    with running(_worker(wsettings, sessions)):
        trainer_env(wsettings, job_id, 1)  # it runs (and has set its SIGTERM handler... soon)
        wait_until(lambda: jobs.attempts(job_id)[0].pid, what="the pid")
        with transaction(sessions) as session:
            job = session.get(TrainingJob, job_id)
            assert job is not None
            job.cancel_requested_at = utcnow()
        wait_until(lambda: _finished(jobs, job_id, "cancelled"), what="the job to be cancelled")
    folder = attempt_dir(wsettings, job_id, 1)
    assert (folder / "got-sigterm").exists()  # SIGTERM came first and was ignored ...
    attempt = jobs.attempts(job_id)[0]
    assert attempt.status == "cancelled"
    assert attempt.exit_code == -9  # ... so SIGKILL followed
    assert jobs.get(job_id).status_reason == "cancelled by user"


def test_lost_attempts_are_resumed_until_max_attempts_then_fail(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    job_id = jobs.create(max_attempts=3, exit=3, last_checkpoint_epoch=4)
    with running(_worker(wsettings, sessions)):
        wait_until(lambda: _finished(jobs, job_id, "failed"), what="the job to fail")
    attempts = jobs.attempts(job_id)
    assert [(a.number, a.status, a.exit_code) for a in attempts] == [
        (1, "lost", 3),
        (2, "lost", 3),
        (3, "lost", 3),
    ]
    checkpoint = f"jobs/{job_id}/outputs/checkpoints/last.json"
    assert [a.resumed_from for a in attempts] == [None, checkpoint, checkpoint]
    assert [trainer_env(wsettings, job_id, n)["LENSFORGE_RESUME"] for n in (1, 2, 3)] == [
        "0",
        "1",
        "1",
    ]
    reasons = _reasons(sessions, job_id)
    assert "attempt 1 lost (exit code 3); resuming from epoch 4" in reasons
    assert "attempt 2 lost (exit code 3); resuming from epoch 4" in reasons
    assert reasons[-1] == "attempt 3 lost (exit code 3); no retries left"
    job = jobs.get(job_id)
    assert (job.attempt_count, job.retries_left) == (3, 0)


def test_lost_attempt_without_checkpoint_restarts_from_scratch(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    job_id = jobs.create(max_attempts=2, exit=0)
    with running(_worker(wsettings, sessions)):
        wait_until(lambda: _finished(jobs, job_id, "failed"), what="the job to fail")
    # Exit code 0 without `completed` is still a lost attempt.
    assert "attempt 1 lost (exit code 0); restarting" in _reasons(sessions, job_id)
    assert trainer_env(wsettings, job_id, 2)["LENSFORGE_RESUME"] == "0"


def test_silent_trainer_is_killed_by_the_stale_heartbeat_reaper(
    settings: Settings, tmp_path: Path, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    wsettings = worker_settings(settings, tmp_path, stale_after_seconds=0.5)
    job_id = jobs.create(sleep=60, max_attempts=1)
    with running(_worker(wsettings, sessions)):
        wait_until(lambda: _finished(jobs, job_id, "failed"), what="the job to fail")
    attempt = jobs.attempts(job_id)[0]
    assert (attempt.status, attempt.exit_code) == ("lost", -9)
    assert "no heartbeat for" in (attempt.error_message or "")
    assert jobs.get(job_id).status_reason.endswith("no retries left")


def test_heartbeats_keep_a_trainer_alive(
    settings: Settings, tmp_path: Path, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    wsettings = worker_settings(settings, tmp_path, stale_after_seconds=1.5)
    job_id = jobs.create(sleep=3.0, max_attempts=1)
    with running(_worker(wsettings, sessions)):
        attempt_id = wait_until(lambda: jobs.attempts(job_id), what="the attempt")[0].id
        while jobs.get(job_id).status == "preparing":
            with transaction(sessions) as session:  # what the heartbeat endpoint does
                attempt = session.get(JobAttempt, attempt_id)
                assert attempt is not None
                attempt.last_heartbeat_at = utcnow()
            time.sleep(0.1)
    attempt = jobs.attempts(job_id)[0]
    assert attempt.exit_code == 0, attempt.error_message


def test_unsent_spooled_telemetry_of_a_lost_attempt_is_ingested(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    spool = [
        ["progress", {"epoch": 1, "total_epochs": 5, "metrics": {"loss": 9.0}}],  # acked
        ["progress", {"epoch": 2, "total_epochs": 5, "metrics": {"loss": 0.5}}],
        ["log", {"level": "INFO", "message": "epoch 2 done"}],
        ["completed", {"metrics": {}}],  # a dead process's claim to success is not trusted
    ]
    job_id = jobs.create(spool=spool, acked=1, exit=1)
    with running(_worker(wsettings, sessions)):
        wait_until(lambda: _finished(jobs, job_id, "failed"), what="the job to fail")
    with transaction(sessions) as session:
        metrics = session.scalars(select(JobMetric).where(JobMetric.job_id == job_id)).all()
        logs = session.scalars(
            select(JobLog.message).where(JobLog.job_id == job_id, JobLog.source == "trainer")
        ).all()
    assert [(m.step, m.values) for m in metrics] == [(2, {"loss": 0.5})]
    assert logs == ["epoch 2 done"]
    assert jobs.get(job_id).epoch == 2
    assert jobs.attempts(job_id)[0].status == "lost"


def test_a_job_deleted_while_running_has_its_trainer_killed_and_the_worker_goes_on(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    doomed = jobs.create(sleep=60)
    after = jobs.create()
    with running(_worker(wsettings, sessions)):
        pid = int(wait_until(lambda: jobs.attempts(doomed) and jobs.attempts(doomed)[0].pid))
        with transaction(sessions) as session:  # what deleting its project does
            session.execute(delete(TrainingJob).where(TrainingJob.id == doomed))
        wait_until(lambda: not alive(pid), what="the trainer to be killed")
        wait_until(lambda: _finished(jobs, after, "failed"), what="the next job to run")
