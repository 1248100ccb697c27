"""Writing how an attempt ended, each in one short transaction with the job locked first."""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.orm import Session

from lensforge.jobs.state import ACTIVE, JobStatus, transition
from lensforge.kit.types import utcnow
from lensforge.models import JobAttempt, TrainingJob
from lensforge.orchestration.local.recovery import LIVE_ATTEMPT, Recovery, lock
from lensforge.orchestration.local.supervision import describe_exit

_MAX_REASON = 2000
CANCELLED_REASON = "cancelled by user"


class Supervised(Protocol):
    """What settling needs of the thing that ran an attempt (the local worker's `Child`, the
    Temporal activity's own record)."""

    @property
    def attempt_id(self) -> uuid.UUID: ...

    @property
    def settled(self) -> bool: ...

    @property
    def lost_reason(self) -> str | None: ...


def _cancel_requested(job: TrainingJob) -> bool:
    # `cancelled` too: a cancel racing the claim may have moved the job itself.
    return job.cancel_requested_at is not None or job.status == JobStatus.CANCELLED.value


def settle_cancelled(
    session: Session, job: TrainingJob, attempt: JobAttempt, exit_code: int | None
) -> None:
    attempt.status = "cancelled"
    attempt.exit_code = exit_code
    attempt.finished_at = utcnow()
    if JobStatus(job.status) in ACTIVE:
        transition(
            session, job, JobStatus.CANCELLED, CANCELLED_REASON, attempt_number=attempt.number
        )


def settle_launch_failure(
    session: Session, child: Supervised, error_type: str, message: str
) -> None:
    """The environment could not be built or the trainer not started."""
    found = lock(session, child.attempt_id)
    if found is None or found[1].status not in LIVE_ATTEMPT:
        return
    job, attempt = found
    if _cancel_requested(job):
        settle_cancelled(session, job, attempt, None)
        return
    attempt.status = "failed"
    attempt.error_type = error_type
    attempt.error_message = message
    attempt.finished_at = utcnow()
    if JobStatus(job.status) in ACTIVE:
        # Not retried: a missing package or a broken entry point fails the same way again.
        reason = f"{error_type}: {message}"[:_MAX_REASON]
        transition(session, job, JobStatus.FAILED, reason, attempt_number=attempt.number)


def settle_cancelled_before_start(session: Session, child: Supervised) -> bool:
    found = lock(session, child.attempt_id)
    if found is None or found[1].status not in LIVE_ATTEMPT:
        return False
    settle_cancelled(session, found[0], found[1], None)
    return True


def settle_exit(
    session: Session,
    child: Supervised,
    exit_code: int,
    recovery: Recovery,
    *,
    shutting_down: bool,
) -> str:
    """The trainer process ended; returns what became of the attempt, for the worker's log."""
    found = lock(session, child.attempt_id)
    if found is None:
        return "gone"
    job, attempt = found
    if child.settled or attempt.status not in LIVE_ATTEMPT:
        # Finished through its own reports (completed/failed), or settled elsewhere.
        if attempt.exit_code is None:
            attempt.exit_code = exit_code
        return attempt.status
    if _cancel_requested(job):
        settle_cancelled(session, job, attempt, exit_code)
        return "cancelled"
    if shutting_down:
        detail = f"worker {attempt.worker_id} stopped"
    else:
        detail = child.lost_reason or describe_exit(exit_code)
    recovery.settle_lost(
        session,
        job,
        attempt,
        why=f"attempt {attempt.number} lost ({detail})",
        exit_code=exit_code,
        spend_retry=not shutting_down,
    )
    return "lost"
