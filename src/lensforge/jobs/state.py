"""THE job state machine: the only code that changes a job's status.

    pending → queued → preparing → running → completed | failed | cancelled
                 ↑          │          │
                 └──────────┴──────────┘   (an attempt lost to a crash goes back to the queue)
    completed | failed | cancelled → queued   (restart or resume: a new attempt)

Every transition is checked against the table, recorded in `job_transitions` with time and
reason, and announced as a `job_status` event.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from lensforge.errors import Conflict
from lensforge.jobs.events import emit
from lensforge.kit.types import utcnow
from lensforge.models import JobTransition, ModelExport, TrainingJob


class JobStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    PREPARING = "preparing"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED})
ACTIVE = frozenset({JobStatus.PREPARING, JobStatus.RUNNING})

ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.QUEUED: frozenset({JobStatus.PREPARING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.PREPARING: frozenset(
        {JobStatus.RUNNING, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.RUNNING: frozenset(
        {JobStatus.COMPLETED, JobStatus.QUEUED, JobStatus.FAILED, JobStatus.CANCELLED}
    ),
    JobStatus.COMPLETED: frozenset({JobStatus.QUEUED}),
    JobStatus.FAILED: frozenset({JobStatus.QUEUED}),
    JobStatus.CANCELLED: frozenset({JobStatus.QUEUED}),
}


class InvalidTransition(Conflict):
    code = "invalid_transition"


def can_transition(current: str, target: JobStatus) -> bool:
    return target in ALLOWED[JobStatus(current)]


def transition(
    session: Session,
    job: TrainingJob,
    target: JobStatus,
    reason: str,
    *,
    attempt_number: int | None = None,
) -> None:
    """Move `job` to `target` or raise InvalidTransition (409) naming both states."""
    current = JobStatus(job.status)
    if target not in ALLOWED[current]:
        raise InvalidTransition(
            f"a {current.value} job cannot become {target.value}",
            details={"from": current.value, "to": target.value},
        )
    now = utcnow()
    job.status = target.value
    job.status_reason = reason
    if target is JobStatus.QUEUED:
        job.queued_at = now
        job.finished_at = None
    elif target is JobStatus.RUNNING and job.started_at is None:
        job.started_at = now
    elif target in TERMINAL:
        job.finished_at = now
    session.add(
        JobTransition(
            job_id=job.id,
            attempt_number=attempt_number,
            from_status=current.value,
            to_status=target.value,
            reason=reason,
            at=now,
        )
    )
    emit(
        session,
        job,
        "job_status",
        {
            "status": target.value,
            "previous": current.value,
            "reason": reason,
            "attempt": attempt_number,
            "at": now.isoformat(),
            "kind": job.kind,
        },
    )
    if job.kind == "export":
        _export_status(session, job, target, reason, now.isoformat())
    session.flush()


def _export_status(
    session: Session, job: TrainingJob, target: JobStatus, reason: str, at: str
) -> None:
    """Exports are watched by their own id (an export page, the CLI's `export --wait`)."""
    export_id = session.scalar(select(ModelExport.id).where(ModelExport.job_id == job.id))
    if export_id is not None:
        emit(
            session,
            job,
            "export_status",
            {"export_id": str(export_id), "status": target.value, "reason": reason, "at": at},
        )
