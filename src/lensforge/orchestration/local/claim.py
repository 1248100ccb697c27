"""Claiming the next job: one short transaction from `queued` to `preparing` with a new attempt.

The candidate query takes the oldest, highest-priority queued job of this worker's queues whose
resources fit what the worker has free. On PostgreSQL it locks the row with
`FOR UPDATE SKIP LOCKED`: a second worker skips a row being claimed instead of waiting for it,
and when it reads a row already claimed it re-checks `status = 'queued'` against the committed
version and drops it, so no job is claimed twice. On SQLite the transaction begins with
`BEGIN IMMEDIATE` (see `kit.db`), which serialises claimers on the database's write lock.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from lensforge.jobs.state import JobStatus, transition
from lensforge.jobs.tokens import issue_attempt_token
from lensforge.models import JobAttempt, JobCheckpoint, TrainingJob


@dataclass(frozen=True)
class Claim:
    """What the launcher needs, copied out of the transaction (the token exists only here and
    in the trainer's environment; the database keeps its hash)."""

    job_id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    attempt_id: uuid.UUID
    attempt_number: int
    token: str
    trainer: str
    model: str
    task: str
    config: dict[str, Any]
    kind: str
    resources: dict[str, Any]
    resumed_from: str | None


def candidate_query(queues: Sequence[str], free_cpu: int, free_gpus: int) -> Select[Any]:
    cpu = func.coalesce(TrainingJob.resources["cpu"].as_integer(), 1)
    gpu = func.coalesce(TrainingJob.resources["gpu"].as_integer(), 0)
    return (
        select(TrainingJob)
        .where(
            TrainingJob.status == JobStatus.QUEUED.value,
            TrainingJob.orchestrator == "local",
            TrainingJob.queue.in_(list(queues)),
            cpu <= free_cpu,
            gpu <= free_gpus,
        )
        .order_by(
            TrainingJob.priority.desc(),
            TrainingJob.queued_at,
            TrainingJob.created_at,
            TrainingJob.id,
        )
        .limit(1)
        .with_for_update(skip_locked=True)
    )


def claim_next(
    session: Session, *, worker: str, queues: Sequence[str], free_cpu: int, free_gpus: int
) -> Claim | None:
    """Claim one job in the caller's transaction (commit it at once), or None."""
    job = session.scalars(candidate_query(queues, free_cpu, free_gpus)).first()
    if job is None:
        return None
    number = job.attempt_count + 1
    resumed_from = None
    if job.resume_requested:
        resumed_from = session.scalar(
            select(JobCheckpoint.object_key).where(
                JobCheckpoint.job_id == job.id, JobCheckpoint.kind == "last"
            )
        )
    token, token_hash = issue_attempt_token()
    attempt = JobAttempt(
        id=uuid.uuid4(),
        job_id=job.id,
        number=number,
        status="preparing",
        worker_id=worker,
        resumed_from=resumed_from,
        token_hash=token_hash,
    )
    session.add(attempt)
    job.attempt_count = number
    transition(session, job, JobStatus.PREPARING, f"claimed by {worker}", attempt_number=number)
    return Claim(
        job_id=job.id,
        organization_id=job.organization_id,
        project_id=job.project_id,
        attempt_id=attempt.id,
        attempt_number=number,
        token=token,
        trainer=job.trainer,
        model=job.model,
        task=job.task,
        config=dict(job.config),
        kind=job.kind,
        resources=dict(job.resources),
        resumed_from=resumed_from,
    )
