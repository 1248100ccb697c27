"""The job workflow's activities, run by `lensforge worker --orchestrator temporal`.

Synchronous functions on the worker's thread pool, on purpose: they reuse the local backend's
blocking pieces as they are (SQLAlchemy sessions, the launcher, process groups, the log pump,
the settle and recovery rules), and the trainer step must start its child from a thread that
lives exactly as long as the supervision (PDEATHSIG follows the starting thread, see
`processes.die_with_parent`); a pool thread running one activity to its end is such a thread.
Cancellation is polled (`no_thread_cancel_exception`): an exception thrown into the thread at
a random point could land inside a database transaction or between spawn and record.

Every activity is idempotent, because Temporal may run one again (a retry, a worker that died,
a server restart that lost the completion):
- validate only reads, and fails a job only while it is still queued;
- prepare adopts the job's live attempt if an earlier run of it claimed one;
- the trainer step, run again after its trainer had been started, settles that attempt as lost
  (its worker is gone, and its trainer with it) and leaves the job to the next loop;
- finalize only reads; request_cancel and clean-up are no-ops the second time.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from pathlib import Path
from typing import Any, NoReturn

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError, CancelledError

from lensforge.config import Settings
from lensforge.errors import LensforgeError
from lensforge.jobs.state import ACTIVE, TERMINAL, JobStatus, transition
from lensforge.jobs.tokens import issue_attempt_token
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import DatasetVersion, JobAttempt, JobCheckpoint, TrainingJob
from lensforge.orchestration.local import launcher
from lensforge.orchestration.local.claim import Claim, claim_job
from lensforge.orchestration.local.logs import AttemptRef, LogBuffer
from lensforge.orchestration.local.outcomes import (
    settle_cancelled,
    settle_cancelled_before_start,
    settle_launch_failure,
)
from lensforge.orchestration.local.paths import job_dir
from lensforge.orchestration.local.recovery import LIVE_ATTEMPT, Recovery, lock
from lensforge.orchestration.local.slots import Allocation, Slots
from lensforge.orchestration.local.supervision import Child, Preparation
from lensforge.orchestration.temporal.contract import (
    CLEANUP,
    FINALIZE,
    PREPARE,
    REQUEST_CANCEL,
    RUN,
    VALIDATE,
    AttemptInput,
    JobSummary,
    Prepared,
    RunOutcome,
    Validated,
)
from lensforge.orchestration.temporal.names import host_queue
from lensforge.orchestration.temporal.supervisor import supervise
from lensforge.storage.base import ObjectStore
from lensforge.trainers.environments import EnvironmentBuildFailed, EnvironmentManager
from lensforge.trainers.registry import TrainerNotFound, TrainerRegistry

log = structlog.get_logger("lensforge.worker")

WORKER_SOURCE = "worker"
_SLOT_WAIT_SECONDS = 15.0
TEMPORAL = "temporal"


class JobActivities:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        registry: TrainerRegistry,
        store: ObjectStore,
        name: str,
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.registry = registry
        self.store = store
        self.name = name
        self.host_queue = host_queue(name)
        self.environments = EnvironmentManager(settings)
        self.recovery = Recovery(settings, sessions, registry, store, name)
        self.logs = LogBuffer()
        self._slots = Slots(settings.worker.cpu_slots, settings.worker.gpus)
        self._slots_freed = threading.Condition()

    def all(self) -> list[Any]:
        return [
            self.validate_job,
            self.prepare_attempt,
            self.run_trainer,
            self.finalize_job,
            self.request_cancel,
        ]

    # --- validate --------------------------------------------------------------------------

    @activity.defn(name=VALIDATE)
    def validate_job(self, job_id: str) -> Validated:
        """The pinned dataset version must still be what the job was created against."""
        with transaction(self.sessions) as session:
            job = _job(session, job_id)
            if job is None:
                return Validated(False, "the job no longer exists")
            if job.status in {s.value for s in TERMINAL}:
                return Validated(False, f"the job is already {job.status}")
            version = session.get(DatasetVersion, job.dataset_version_id)
            problem = None
            if version is None:
                problem = "its pinned dataset version no longer exists"
            elif version.content_hash != job.dataset_content_hash:
                problem = "its pinned dataset version's content changed since it was created"
            elif not self.store.exists(version.manifest_key):
                problem = f"its dataset version's manifest {version.manifest_key} is missing"
            if problem is None:
                return Validated(True)
            if job.status == JobStatus.QUEUED.value:
                transition(session, job, JobStatus.FAILED, f"invalid job: {problem}")
            return Validated(False, problem)

    # --- prepare -----------------------------------------------------------------------------

    @activity.defn(name=PREPARE, no_thread_cancel_exception=True)
    def prepare_attempt(self, job_id: str) -> Prepared:
        """Claim the job (`queued → preparing`, a new attempt) and build its trainer's
        environment on this machine, heart-beating meanwhile."""
        with transaction(self.sessions) as session:
            job = _locked_job(session, job_id)
            if job is None:
                return Prepared(None, "gone")
            attempt = _latest_attempt(session, job)
            if attempt is not None and attempt.status in LIVE_ATTEMPT:
                pass  # claimed by an earlier run of this step: adopt it
            elif job.status == JobStatus.QUEUED.value and job.orchestrator == TEMPORAL:
                claim = claim_job(session, job, worker=self.name)
                attempt = session.get(JobAttempt, claim.attempt_id)
            else:
                return Prepared(None, job.status)
            assert attempt is not None
            ref = _ref(job, attempt)
            trainer, number, resumed = job.trainer, attempt.number, attempt.resumed_from
        self.logs.add(
            ref,
            WORKER_SOURCE,
            f"attempt {number} prepared by worker {self.name}"
            + (f"; resuming from {resumed}" if resumed else ""),
        )
        python, error = self._environment(trainer, ref)
        if error is not None:
            self._fail_launch(ref, error)
            return Prepared(None, "failed")
        if python is None:
            self._interrupted(ref)
        return Prepared(number, "preparing")

    def _environment(
        self, trainer: str, ref: AttemptRef
    ) -> tuple[Path | None, BaseException | None]:
        """The trainer's interpreter, built on a helper thread while this one heart-beats (a
        build may take minutes; Temporal must not take the worker for dead meanwhile)."""

        def build() -> Path:
            manifest = self.registry.get(trainer).manifest
            return self.environments.python_for(
                manifest, lambda line: self.logs.add(ref, WORKER_SOURCE, line)
            )

        preparation = Preparation(build)
        while not preparation.done:
            activity.heartbeat("preparing")
            self.logs.flush(self.sessions)
            if activity.is_cancelled() or activity.is_worker_shutdown():
                break  # the build goes on in the background; it is reused next time
            time.sleep(min(self.settings.worker.poll_interval_seconds, 1.0))
        self.logs.flush(self.sessions)
        if not preparation.done:
            return None, None
        return preparation.python, preparation.error

    def _fail_launch(self, ref: AttemptRef, error: BaseException) -> None:
        error_type, message = classify(error)
        self.logs.add(ref, WORKER_SOURCE, f"{error_type}: {message}", level="ERROR")
        self.logs.flush(self.sessions)
        with transaction(self.sessions) as session:
            settle_launch_failure(session, _Handle(ref.attempt_id), error_type, message)

    def _cancel_before_start(self, ref: AttemptRef) -> None:
        with transaction(self.sessions) as session:
            _record_cancel(session, ref.job_id)
            settle_cancelled_before_start(session, _Handle(ref.attempt_id))

    # --- run ---------------------------------------------------------------------------------

    @activity.defn(name=RUN, no_thread_cancel_exception=True)
    def run_trainer(self, given: AttemptInput) -> RunOutcome:
        """Start the attempt's trainer and supervise it to its end; see the module docstring
        for what a second run of this step does."""
        with transaction(self.sessions) as session:
            found = _locked_attempt(session, given)
            if found is None:
                return RunOutcome(given.attempt, "gone", "gone")
            job, attempt = found
            if attempt.status not in LIVE_ATTEMPT:
                return RunOutcome(attempt.number, attempt.status, job.status)
            if attempt.pid is not None:
                self.recovery.settle_lost(
                    session,
                    job,
                    attempt,
                    why=f"attempt {attempt.number} lost (worker {attempt.worker_id} "
                    "stopped responding)",
                    exit_code=None,
                )
                return RunOutcome(attempt.number, attempt.status, job.status)
            if job.cancel_requested_at is not None:
                settle_cancelled(session, job, attempt, None)
                return RunOutcome(attempt.number, attempt.status, job.status)
            ref = _ref(job, attempt)
            resources = dict(job.resources)
            trainer = job.trainer
        allocation = self._take(resources)
        try:
            return self._run(given, ref, trainer, allocation)
        finally:
            with self._slots_freed:
                self._slots.release(allocation)
                self._slots_freed.notify_all()
            self.logs.forget(ref.attempt_id)

    def _take(self, resources: dict[str, Any]) -> Allocation:
        """A slot for the trainer. A job arriving while the previous trainer of this worker
        is still exiting waits for it a little; past that, the step goes back to Temporal,
        which retries it after a back-off (on this or another worker of the queue)."""
        deadline = time.monotonic() + _SLOT_WAIT_SECONDS
        with self._slots_freed:
            while not self._slots.fits(resources):
                left = deadline - time.monotonic()
                if left <= 0 or activity.is_cancelled() or activity.is_worker_shutdown():
                    raise ApplicationError(
                        f"worker {self.name} has no free slot for {resources}", type="NoCapacity"
                    )
                activity.heartbeat("waiting for a slot")
                self._slots_freed.wait(min(left, 1.0))
            return self._slots.take(resources)

    def _run(
        self, given: AttemptInput, ref: AttemptRef, trainer: str, allocation: Allocation
    ) -> RunOutcome:
        python, error = self._environment(trainer, ref)
        if python is None and error is None:
            self._interrupted(ref)
        if error is not None:
            self._fail_launch(ref, error)
            return self._outcome(given)
        assert python is not None
        with transaction(self.sessions) as session:
            found = _locked_attempt(session, given)
            if found is None or found[1].status not in LIVE_ATTEMPT:
                return self._outcome(given)
            job, attempt = found
            # A fresh token for this run: the one of an earlier run (if any) dies here, and the
            # token never leaves this machine (it is not in Temporal's history).
            token, attempt.token_hash = issue_attempt_token()
            attempt.worker_id = self.name
            claim = Claim.of(job, attempt, token)
        try:
            manifest = self.registry.get(trainer).manifest
            launcher.prepare_dirs(self.settings, claim)
            plan = launcher.plan(self.settings, claim, allocation, manifest, python)
            self.logs.add(ref, WORKER_SOURCE, "starting: " + " ".join(plan.argv))
            if plan.not_isolated:
                self.logs.add(ref, WORKER_SOURCE, plan.not_isolated, level="WARNING")
            process = launcher.spawn(plan)
        except (OSError, LensforgeError, EnvironmentBuildFailed) as exc:
            self._fail_launch(ref, exc)
            return self._outcome(given)
        run = Child(claim, allocation, ref, Preparation(lambda: python), process=process)
        with transaction(self.sessions) as session:
            attempt_row = session.get(JobAttempt, claim.attempt_id)
            if attempt_row is not None:
                attempt_row.pid = process.pid
                if attempt_row.started_at is None:
                    attempt_row.started_at = utcnow()
        outcome = supervise(run, self.settings, self.sessions, self.logs, self.recovery)
        result = self._outcome(given)
        log.info(
            "trainer exited",
            job_id=str(claim.job_id),
            attempt=claim.attempt_number,
            outcome=outcome,
            job_status=result.job_status,
        )
        if outcome == "cancelled" and _cancel_came_from_temporal():
            raise CancelledError(
                "the workflow was cancelled; the trainer was stopped", self.host_queue
            )
        return result

    def _interrupted(self, ref: AttemptRef) -> NoReturn:
        """Cancelled, or stopping, while the environment was being built."""
        if _cancel_came_from_temporal():
            self._cancel_before_start(ref)
            raise CancelledError("the workflow was cancelled before the trainer started")
        # Shutting down (or Temporal gave up on this run): the next run of the step adopts it.
        raise ApplicationError("the worker stopped before the trainer started", type="Interrupted")

    def _outcome(self, given: AttemptInput) -> RunOutcome:
        with transaction(self.sessions) as session:
            job = _job(session, given.job_id)
            attempt = None if job is None else _attempt(session, job.id, given.attempt)
            if job is None or attempt is None:
                return RunOutcome(given.attempt, "gone", "gone", self.host_queue)
            return RunOutcome(attempt.number, attempt.status, job.status, self.host_queue)

    # --- finalize, cancel, clean up ------------------------------------------------------------

    @activity.defn(name=FINALIZE)
    def finalize_job(self, job_id: str) -> JobSummary:
        """The job's outcome as the workflow's result: its status, best metric and the
        checkpoints its trainer recorded (the reports wrote them; this reads them back)."""
        with transaction(self.sessions) as session:
            job = _job(session, job_id)
            if job is None:
                return JobSummary(job_id, "gone", "the job no longer exists", 0)
            keys = session.scalars(
                select(JobCheckpoint.object_key)
                .where(JobCheckpoint.job_id == job.id, JobCheckpoint.kind.in_(("best", "last")))
                .order_by(JobCheckpoint.kind)
            ).all()
            return JobSummary(
                job_id=job_id,
                status=job.status,
                reason=job.status_reason,
                attempts=job.attempt_count,
                epoch=job.epoch,
                best_metric_name=job.best_metric_name,
                best_metric_value=job.best_metric_value,
                checkpoints=list(keys),
            )

    @activity.defn(name=REQUEST_CANCEL)
    def request_cancel(self, job_id: str) -> None:
        """The workflow was cancelled (by the API, or in Temporal itself): make the job say so."""
        with transaction(self.sessions) as session:
            _record_cancel(session, uuid.UUID(job_id))

    @activity.defn(name=CLEANUP)
    def clean_up_job(self, job_id: str) -> None:
        """Remove the job's folders on this machine once it has ended (its outputs are in
        object storage); a job that runs again (resume) starts a fresh attempt folder."""
        with transaction(self.sessions) as session:
            job = _job(session, job_id)
            if job is not None and job.status not in {s.value for s in TERMINAL}:
                return
        folder = job_dir(self.settings, uuid.UUID(job_id))
        shutil.rmtree(folder, ignore_errors=True)


class _Handle:
    """An attempt known by id only, for the shared settle functions."""

    def __init__(self, attempt_id: uuid.UUID) -> None:
        self.attempt_id = attempt_id
        self.settled = False
        self.lost_reason: str | None = None


def _cancel_came_from_temporal() -> bool:
    details = activity.cancellation_details()
    return activity.is_cancelled() and details is not None and details.cancel_requested


def _record_cancel(session: Session, job_id: uuid.UUID) -> None:
    job = session.execute(
        select(TrainingJob)
        .where(TrainingJob.id == job_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if job is None:
        return
    status = JobStatus(job.status)
    if status in (JobStatus.PENDING, JobStatus.QUEUED):
        transition(session, job, JobStatus.CANCELLED, "cancelled (workflow cancelled)")
    elif status in ACTIVE and job.cancel_requested_at is None:
        job.cancel_requested_at = utcnow()
        session.flush()


def _job(session: Session, job_id: str) -> TrainingJob | None:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    return session.get(TrainingJob, key)


def _locked_job(session: Session, job_id: str) -> TrainingJob | None:
    return session.execute(
        select(TrainingJob)
        .where(TrainingJob.id == uuid.UUID(job_id))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def _attempt(session: Session, job_id: uuid.UUID, number: int) -> JobAttempt | None:
    return session.scalar(
        select(JobAttempt)
        .where(JobAttempt.job_id == job_id, JobAttempt.number == number)
        .execution_options(populate_existing=True)
    )


def _latest_attempt(session: Session, job: TrainingJob) -> JobAttempt | None:
    return _attempt(session, job.id, job.attempt_count) if job.attempt_count else None


def _locked_attempt(session: Session, given: AttemptInput) -> tuple[TrainingJob, JobAttempt] | None:
    attempt_id = session.scalar(
        select(JobAttempt.id).where(
            JobAttempt.job_id == uuid.UUID(given.job_id), JobAttempt.number == given.attempt
        )
    )
    return None if attempt_id is None else lock(session, attempt_id)


def _ref(job: TrainingJob, attempt: JobAttempt) -> AttemptRef:
    return AttemptRef(job.organization_id, job.project_id, job.id, attempt.id, attempt.number)


def classify(error: BaseException) -> tuple[str, str]:
    """(error type of the trainer contract, message) for a failed launch."""
    if isinstance(error, EnvironmentBuildFailed):
        return error.error_type, error.message
    if isinstance(error, TrainerNotFound):
        return "config", f"{error.message} on worker {activity.info().task_queue}"
    if isinstance(error, LensforgeError):
        return "internal", error.message
    if isinstance(error, OSError):
        return "internal", f"the trainer could not be started: {error}"
    return "internal", f"{type(error).__name__}: {error}"
