"""Claiming: several workers on one database never run a job twice; priorities and queues."""

from __future__ import annotations

from collections import Counter
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import JobAttempt, JobTransition, Worker
from lensforge.orchestration.local import LocalWorker
from lensforge.orchestration.local.claim import candidate_query, claim_next
from tests.fixtures.live_server import LiveServer
from tests.orchestration.helpers import Jobs, registry_for, running, wait_until, worker_settings

JOBS = 30


def test_two_workers_run_every_job_exactly_once(
    live_server: LiveServer, tmp_path: Path, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    ids = [jobs.create(complete=True) for _ in range(JOBS)]
    workers = [
        LocalWorker(
            settings := worker_settings(live_server.settings, tmp_path, name=name, cpu_slots=2),
            sessions,
            registry_for(settings),
        )
        for name in ("worker-a", "worker-b")
    ]
    with ExitStack() as stack:
        for worker in workers:
            stack.enter_context(running(worker))
        for job_id in ids:
            wait_until(
                lambda j=job_id: jobs.get(j).status in ("completed", "failed"),
                timeout=120,
                what="every job to finish",
            )
    with transaction(sessions) as session:
        attempts = session.scalars(select(JobAttempt)).all()
    assert Counter(a.job_id for a in attempts) == dict.fromkeys(ids, 1)
    assert {a.status for a in attempts} == {"completed"}
    assert {a.worker_id for a in attempts} == {"worker-a", "worker-b"}
    assert {jobs.get(j).status for j in ids} == {"completed"}


def test_claim_takes_highest_priority_then_oldest_of_its_queues(
    wsettings: Settings, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    old_low = jobs.create(priority=0)
    other_queue = jobs.create(priority=50, queue="gpu-big")
    high = jobs.create(priority=10)
    new_low = jobs.create(priority=0)
    order = []
    for _ in range(4):
        with transaction(sessions) as session:
            claim = claim_next(session, worker="w", queues=["default"], free_cpu=1, free_gpus=0)
            order.append(claim.job_id if claim else None)
    assert order == [high, old_low, new_low, None]
    assert jobs.get(other_queue).status == "queued"
    attempt = jobs.attempts(high)[0]
    assert (attempt.number, attempt.status, attempt.worker_id) == (1, "preparing", "w")
    job = jobs.get(high)
    assert (job.status, job.status_reason, job.attempt_count) == (
        "preparing",
        "claimed by w",
        1,
    )


def test_claim_sql_skips_rows_locked_by_another_claimer() -> None:
    sql = str(
        candidate_query(["default"], 2, 1).compile(
            dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        )
    )
    assert "FOR UPDATE SKIP LOCKED" in sql
    assert "ORDER BY training_jobs.priority DESC, training_jobs.queued_at" in sql


def test_attempts_of_a_dead_worker_are_recovered_once_by_the_living(
    wsettings: Settings, tmp_path: Path, sessions: sessionmaker[Session], jobs: Jobs
) -> None:
    job_id = jobs.create(max_attempts=2, last_checkpoint_epoch=3)
    long_ago = utcnow() - timedelta(hours=1)
    with transaction(sessions) as session:
        session.add(
            Worker(
                name="ghost",
                hostname="elsewhere",
                pid=1,
                queues=["default"],
                resources={},
                started_at=long_ago,
                last_seen_at=long_ago,
                created_at=long_ago,
            )
        )
        assert claim_next(session, worker="ghost", queues=["default"], free_cpu=1, free_gpus=0)
    living = [
        LocalWorker(
            settings := worker_settings(
                wsettings, tmp_path, name=name, worker_dead_after_seconds=3.0
            ),
            sessions,
            registry_for(settings),
        )
        for name in ("alive-1", "alive-2")
    ]
    with ExitStack() as stack:
        for worker in living:
            stack.enter_context(running(worker))
        wait_until(lambda: jobs.get(job_id).status == "failed", what="the job to end")
    ghost_attempt, retry = jobs.attempts(job_id)
    assert ghost_attempt.status == "lost"
    assert ghost_attempt.error_message == "attempt 1 lost (worker ghost stopped responding)"
    assert retry.worker_id in ("alive-1", "alive-2")
    assert retry.resumed_from is not None
    with transaction(sessions) as session:
        reasons = session.scalars(
            select(JobTransition.reason).where(JobTransition.job_id == job_id)
        ).all()
    assert (
        reasons.count("attempt 1 lost (worker ghost stopped responding); resuming from epoch 3")
        == 1
    )
