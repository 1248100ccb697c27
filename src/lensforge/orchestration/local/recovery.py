"""What happens to an attempt whose process is gone without `completed` or `failed`.

Rules (also in the package README):
- the attempt becomes `lost` with its exit code and the reason;
- a job whose cancel was requested becomes `cancelled`;
- otherwise, while `retries_left > 0`, one retry is spent and the job is queued again; the
  next attempt resumes from the `last` checkpoint when the trainer can resume and one exists,
  else it starts over;
- with no retries left the job fails;
- an attempt interrupted by a graceful stop of its worker spends no retry (nothing went wrong
  with the job); one lost to a worker crash does, because the crash may be the job's doing
  (out of memory, say) and must not loop forever.

Two places find such attempts besides the supervising worker itself: a worker starting up
finds its own attempts from before (`recover_own`), and any worker finds attempts of workers
that stopped heart-beating (`recover_orphans`). Each recovery re-checks in its own transaction,
with the job row locked first (like `jobs.ingest`), so two workers never recover one attempt.
"""

from __future__ import annotations

import signal
import uuid
from datetime import timedelta

import structlog
from sqlalchemy import exists, or_, select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.jobs.state import ACTIVE, JobStatus, transition
from lensforge.jobs.trainer_repository import TrainerRepository
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import JobAttempt, JobCheckpoint, TrainingJob, Worker
from lensforge.orchestration.local.leftovers import ingest_unsent
from lensforge.orchestration.local.paths import attempt_dir, spool_dir
from lensforge.orchestration.local.processes import ProcessRecord, signal_group
from lensforge.storage.base import ObjectStore
from lensforge.trainers.registry import TrainerNotFound, TrainerRegistry

log = structlog.get_logger("lensforge.worker")

LIVE_ATTEMPT = ("preparing", "running")


def lose_attempt(
    session: Session,
    job: TrainingJob,
    attempt: JobAttempt,
    registry: TrainerRegistry,
    *,
    why: str,
    exit_code: int | None,
    spend_retry: bool = True,
) -> str:
    """Apply the rules above to a locked job and its attempt; returns the job's new reason."""
    attempt.status = "lost"
    attempt.exit_code = exit_code
    attempt.finished_at = utcnow()
    attempt.error_message = why
    if JobStatus(job.status) not in ACTIVE or job.attempt_count != attempt.number:
        session.flush()
        return job.status_reason  # already settled (cancelled meanwhile, or a newer attempt)
    number = attempt.number
    if job.cancel_requested_at is not None:
        reason = "cancelled by user"
        transition(session, job, JobStatus.CANCELLED, reason, attempt_number=number)
        return reason
    if spend_retry and job.retries_left <= 0:
        reason = f"{why}; no retries left"
        transition(session, job, JobStatus.FAILED, reason, attempt_number=number)
        return reason
    if spend_retry:
        job.retries_left -= 1
    last = session.scalar(
        select(JobCheckpoint).where(JobCheckpoint.job_id == job.id, JobCheckpoint.kind == "last")
    )
    job.resume_requested = last is not None and _can_resume(registry, job.trainer)
    tail = f"resuming from epoch {last.trained_epoch}" if last and job.resume_requested else ""
    reason = f"{why}; {tail or 'restarting'}"
    transition(session, job, JobStatus.QUEUED, reason, attempt_number=number)
    return reason


def _can_resume(registry: TrainerRegistry, trainer: str) -> bool:
    try:
        return registry.get(trainer).manifest.capabilities.resume
    except TrainerNotFound:
        return False


def lock(session: Session, attempt_id: uuid.UUID) -> tuple[TrainingJob, JobAttempt] | None:
    """The attempt's job (locked first, as `jobs.ingest` does) and the attempt, fresh."""
    job_id = session.scalar(select(JobAttempt.job_id).where(JobAttempt.id == attempt_id))
    if job_id is None:
        return None
    job = TrainerRepository(session).lock_job(job_id)
    attempt = session.execute(
        select(JobAttempt)
        .where(JobAttempt.id == attempt_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    return job, attempt


class Recovery:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        registry: TrainerRegistry,
        store: ObjectStore,
        worker: str,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.registry = registry
        self.store = store
        self.worker = worker

    def settle_lost(
        self,
        session: Session,
        job: TrainingJob,
        attempt: JobAttempt,
        *,
        why: str,
        exit_code: int | None,
        spend_retry: bool = True,
    ) -> str:
        """Ingest what the attempt left in its spool, then apply the rules."""
        ingest_unsent(session, job, attempt, spool_dir(self.settings, job.id), self.store)
        return lose_attempt(
            session,
            job,
            attempt,
            self.registry,
            why=why,
            exit_code=exit_code,
            spend_retry=spend_retry,
        )

    def recover_own(self) -> int:
        """At start: this worker's attempts from before are not running under it any more."""
        with transaction(self.sessions) as session:
            ids = session.scalars(
                select(JobAttempt.id)
                .join(TrainingJob, TrainingJob.id == JobAttempt.job_id)
                .where(
                    # A Temporal worker of the same name on this host owns its own attempts.
                    TrainingJob.orchestrator == "local",
                    JobAttempt.worker_id == self.worker,
                    JobAttempt.status.in_(LIVE_ATTEMPT),
                )
            ).all()
        recovered = 0
        for attempt_id in ids:
            with transaction(self.sessions) as session:
                found = lock(session, attempt_id)
                if found is None or found[1].status not in LIVE_ATTEMPT:
                    continue
                job, attempt = found
                folder = attempt_dir(self.settings, job.id, attempt.number)
                record = ProcessRecord.read(folder)
                if record is not None and record.still_running():
                    # An orphan (no PDEATHSIG on this OS, or it was cleared): it cannot be
                    # supervised again (no pipes, not our child), so it is stopped.
                    signal_group(record.pid, signal.SIGKILL)
                    detail = "its trainer outlived the worker and was stopped"
                else:
                    detail = "its process is gone after a worker restart"
                reason = self.settle_lost(
                    session,
                    job,
                    attempt,
                    why=f"attempt {attempt.number} lost ({detail})",
                    exit_code=None,
                )
                log.warning("recovered own attempt", job_id=str(job.id), reason=reason)
                recovered += 1
        return recovered

    def recover_orphans(self) -> int:
        """Attempts of workers that stopped heart-beating, recovered by whoever sees it first."""
        cutoff = utcnow() - timedelta(seconds=self.settings.worker.worker_dead_after_seconds)
        dead = or_(
            JobAttempt.worker_id.in_(select(Worker.name).where(Worker.last_seen_at < cutoff)),
            ~exists().where(Worker.name == JobAttempt.worker_id),
        )
        with transaction(self.sessions) as session:
            rows = session.execute(
                select(JobAttempt.id, JobAttempt.worker_id)
                .join(TrainingJob, TrainingJob.id == JobAttempt.job_id)
                .where(
                    TrainingJob.orchestrator == "local",
                    JobAttempt.status.in_(LIVE_ATTEMPT),
                    JobAttempt.worker_id != self.worker,
                    dead,
                )
            ).all()
        recovered = 0
        for attempt_id, owner in rows:
            with transaction(self.sessions) as session:
                found = lock(session, attempt_id)
                if found is None or found[1].status not in LIVE_ATTEMPT:
                    continue  # another worker was first
                job, attempt = found
                seen = session.scalar(select(Worker.last_seen_at).where(Worker.name == owner))
                if seen is not None and seen >= cutoff:
                    continue  # it came back
                reason = self.settle_lost(
                    session,
                    job,
                    attempt,
                    why=f"attempt {attempt.number} lost (worker {owner} stopped responding)",
                    exit_code=None,
                )
                log.warning(
                    "recovered attempt of a dead worker",
                    job_id=str(job.id),
                    worker=owner,
                    reason=reason,
                )
                recovered += 1
        return recovered
