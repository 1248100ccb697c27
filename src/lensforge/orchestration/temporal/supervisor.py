"""Supervising one trainer inside the trainer activity: the local worker's rules for one child
(cancel escalation, stale heartbeat, taken over, reported end; see the local README), plus
what Temporal adds: heartbeats to Temporal with the attempt's progress, and its cancellation.

Temporal cancels the activity for three reasons, told apart by `cancellation_details()`:
- the workflow was cancelled (a user's cancel): the job's cancel is recorded and the trainer
  is stopped like a cancel from the API (cooperatively, SIGTERM, SIGKILL);
- the worker is shutting down: the trainer is stopped and the job re-queued without spending a
  retry, as a gracefully stopping local worker does;
- Temporal gave this run up (heartbeat timeout, reset): another run of the step takes over,
  so the trainer is killed at once.
"""

from __future__ import annotations

import time
import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity

from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import JobAttempt, TrainingJob
from lensforge.orchestration.local.logs import LogBuffer, pump
from lensforge.orchestration.local.outcomes import settle_exit
from lensforge.orchestration.local.paths import attempt_dir
from lensforge.orchestration.local.processes import ProcessRecord, exited_unreaped
from lensforge.orchestration.local.recovery import LIVE_ATTEMPT, Recovery
from lensforge.orchestration.local.supervision import Child, Observed

log = structlog.get_logger("lensforge.worker")

_PUMP_JOIN_SECONDS = 5.0
_SOURCE = "worker"


def supervise(
    child: Child,
    settings: Settings,
    sessions: sessionmaker[Session],
    logs: LogBuffer,
    recovery: Recovery,
) -> str:
    """Watch `child` (its trainer already started) until it exits and settle the attempt;
    returns what became of it (completed, failed, cancelled, lost)."""
    process = child.process
    assert process is not None
    try:
        folder = attempt_dir(settings, child.claim.job_id, child.claim.attempt_number)
        ProcessRecord.of(process.pid).write(folder)
    except OSError as exc:
        log.warning("could not record the trainer's process", error=str(exc))
    assert process.stdout is not None
    assert process.stderr is not None
    child.pumps = [
        pump(process.stdout, child.ref, "stdout", logs),
        pump(process.stderr, child.ref, "stderr", logs),
    ]
    worker = settings.worker
    shutting_down = False
    try:
        seen: tuple[Observed, int | None, int | None] | None = None
        while not exited_unreaped(process.pid):
            now = time.monotonic()
            activity.heartbeat(_progress(seen))
            fresh = True
            try:
                seen = _observe(sessions, child.attempt_id)
                logs.flush(sessions)
            except Exception:
                # A database hiccup must not stop a healthy trainer: keep heart-beating to
                # Temporal and look again next tick (the local worker does the same).
                log.exception("supervision tick failed; retrying", attempt=str(child.attempt_id))
                fresh = False
            if child.settled:
                pass  # already killed; waiting for it to exit
            elif activity.is_worker_shutdown() or _cancelled_for("worker_shutdown"):
                shutting_down = True
                if child.stopping is None:
                    child.begin_stop("shutdown", now)
                    child.escalate(now, 0.0, worker.kill_grace_seconds)
            elif _cancelled_for("cancel_requested"):
                if child.stopping is None:
                    try:
                        _record_cancel_request(sessions, child.claim.job_id)
                    except Exception:  # the workflow records it again after this step
                        log.exception("could not record the cancel", job=str(child.claim.job_id))
                    child.begin_stop("cancel", now)
            elif activity.is_cancelled():
                child.lost_reason = "Temporal gave this run to another worker"
                child.kill()
                child.begin_stop("taken over", now)
                child.kill_sent_at = now
            elif not fresh:
                pass  # nothing the database says can be trusted this tick
            elif seen is None or seen[0].attempt_status not in LIVE_ATTEMPT:
                if seen is not None and seen[0].attempt_status in ("completed", "failed"):
                    child.begin_stop("finished", now)
                else:
                    child.settled = True
                    child.kill()
                    logs.add(child.ref, _SOURCE, "attempt taken over; trainer killed")
            elif seen[0].cancel_requested:
                child.begin_stop("cancel", now)
            elif child.stopping is None:
                silent = child.stale_for(seen[0], now)
                if silent >= worker.stale_after_seconds:
                    child.lost_reason = f"no heartbeat for {silent:.0f} s"
                    child.begin_stop("stale", now)
                    child.kill()
                    child.kill_sent_at = now
                    logs.add(child.ref, _SOURCE, f"{child.lost_reason}; trainer killed", "ERROR")
            child.escalate(now, worker.cancel_grace_seconds, worker.kill_grace_seconds)
            time.sleep(worker.poll_interval_seconds)
    finally:
        # Whatever happened here (even an error of ours), no trainer runs on unsupervised.
        child.kill()
        code = process.wait()
        for thread in child.pumps:
            thread.join(_PUMP_JOIN_SECONDS)
    logs.add(child.ref, _SOURCE, f"trainer exited ({code})")
    logs.flush(sessions)
    with transaction(sessions) as session:
        return settle_exit(session, child, code, recovery, shutting_down=shutting_down)


def _cancelled_for(reason: str) -> bool:
    if not activity.is_cancelled():
        return False
    details = activity.cancellation_details()
    return details is not None and bool(getattr(details, reason))


def _observe(
    sessions: sessionmaker[Session], attempt_id: uuid.UUID
) -> tuple[Observed, int | None, int | None] | None:
    with transaction(sessions) as session:
        row = session.execute(
            select(
                JobAttempt.status,
                JobAttempt.last_heartbeat_at,
                TrainingJob.status,
                TrainingJob.cancel_requested_at,
                TrainingJob.epoch,
                TrainingJob.total_epochs,
            )
            .join(TrainingJob, TrainingJob.id == JobAttempt.job_id)
            .where(JobAttempt.id == attempt_id)
        ).first()
    if row is None:
        return None
    cancel = row[3] is not None or row[2] == "cancelled"
    return Observed(row[0], row[1], row[2], cancel), row[4], row[5]


def _progress(seen: tuple[Observed, int | None, int | None] | None) -> dict[str, object]:
    """What Temporal's UI shows as the activity's last heartbeat."""
    if seen is None:
        return {}
    observed, epoch, total = seen
    return {"attempt_status": observed.attempt_status, "epoch": epoch, "total_epochs": total}


def _record_cancel_request(sessions: sessionmaker[Session], job_id: uuid.UUID) -> None:
    """A cancel made in Temporal (not through the API) must reach the trainer's SDK, which
    learns of it from `cancel_requested_at`, and the settlement, which records `cancelled`."""
    with transaction(sessions) as session:
        job = session.execute(
            select(TrainingJob).where(TrainingJob.id == job_id).with_for_update()
        ).scalar_one_or_none()
        if job is not None and job.cancel_requested_at is None:
            job.cancel_requested_at = utcnow()
