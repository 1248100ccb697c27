"""The local worker: claims queued jobs from the database and runs each trainer as a supervised
child process. Several may run against one database (one per machine, or more with distinct
names); they coordinate only through the database.

One loop thread does everything that touches processes and the database state of attempts;
environment builds run on helper threads; reader threads copy trainer output into a buffer.
Every `poll_interval_seconds` the loop: heart-beats its `workers` row (every
`heartbeat_interval_seconds`), recovers attempts of dead workers, supervises its children,
writes captured log lines, and claims jobs while capacity remains.

Stopping: `stop()` (SIGTERM/SIGINT of `lensforge worker`) stops claiming, sends SIGTERM to
every trainer's process group, SIGKILL after `kill_grace_seconds`, and re-queues their jobs
without spending a retry, so the next worker resumes them from their last checkpoint. A worker
killed outright takes its trainers with it (PDEATHSIG) and the next start recovers them.
"""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.errors import LensforgeError
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import JobAttempt, TrainingJob
from lensforge.orchestration.local import launcher, registration
from lensforge.orchestration.local.claim import Claim, claim_next
from lensforge.orchestration.local.logs import AttemptRef, LogBuffer, pump
from lensforge.orchestration.local.outcomes import (
    settle_cancelled_before_start,
    settle_exit,
    settle_launch_failure,
)
from lensforge.orchestration.local.paths import jobs_dir, worker_name
from lensforge.orchestration.local.processes import ProcessRecord, exited_unreaped
from lensforge.orchestration.local.recovery import LIVE_ATTEMPT, Recovery, lock
from lensforge.orchestration.local.slots import Slots
from lensforge.orchestration.local.supervision import Child, Observed, Preparation
from lensforge.storage.base import ObjectStore
from lensforge.trainers.environments import EnvironmentBuildFailed, EnvironmentManager
from lensforge.trainers.registry import TrainerNotFound, TrainerRegistry

log = structlog.get_logger("lensforge.worker")

_PUMP_JOIN_SECONDS = 5.0
_WORKER_SOURCE = "worker"


class LocalWorker:
    def __init__(
        self,
        settings: Settings,
        session_factory: sessionmaker[Session],
        registry: TrainerRegistry,
        store: ObjectStore | None = None,
    ) -> None:
        if store is None:
            from lensforge.storage.factory import create_object_store

            store = create_object_store(settings)
        self.settings = settings
        self.sessions = session_factory
        self.registry = registry
        self.name = worker_name(settings)
        self.queues = list(settings.worker.queues)
        self.slots = Slots(settings.worker.cpu_slots, settings.worker.gpus)
        self.environments = EnvironmentManager(settings)
        self.recovery = Recovery(settings, session_factory, registry, store, self.name)
        self.logs = LogBuffer()
        self.children: dict[uuid.UUID, Child] = {}
        self._stop = threading.Event()
        self._name_lock = registration.NameLock(jobs_dir(settings), self.name)
        self._next_heartbeat = 0.0

    # --- lifecycle -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask `run()` to stop (safe from a signal handler or another thread)."""
        self._stop.set()

    def run(self) -> None:
        self._name_lock.acquire()
        try:
            self._start()
            while not self._stop.is_set():
                self._tick()
                self._stop.wait(self.settings.worker.poll_interval_seconds)
            self._shutdown()
        finally:
            self._name_lock.release()

    def _start(self) -> None:
        # The database may not be ready yet (a fresh `lensforge up` migrates it meanwhile).
        while not self._stop.is_set():
            try:
                with transaction(self.sessions) as session:
                    registration.upsert(session, self.name, self.settings)
                recovered = self.recovery.recover_own()
            except Exception as exc:
                log.warning("worker cannot start yet; retrying", error=str(exc))
                self._stop.wait(max(self.settings.worker.poll_interval_seconds, 1.0))
                continue
            self._next_heartbeat = (
                time.monotonic() + self.settings.worker.heartbeat_interval_seconds
            )
            log.info(
                "worker started",
                worker=self.name,
                queues=self.queues,
                cpu_slots=self.slots.total_cpu,
                gpus=list(self.slots.all_gpus),
                recovered=recovered,
            )
            return

    def _tick(self) -> None:
        try:
            self._heartbeat()
            self._supervise()
            self.logs.flush(self.sessions)
            self._claim()
        except Exception:
            # A database hiccup must not kill the worker (and, through PDEATHSIG, its trainers).
            log.exception("worker tick failed; retrying", worker=self.name)

    def _heartbeat(self) -> None:
        now = time.monotonic()
        if now < self._next_heartbeat:
            return
        self._next_heartbeat = now + self.settings.worker.heartbeat_interval_seconds
        with transaction(self.sessions) as session:
            if not registration.heartbeat(session, self.name):
                registration.upsert(session, self.name, self.settings)
        self.recovery.recover_orphans()

    # --- claiming and starting ---------------------------------------------------------------

    def _claim(self) -> None:
        while not self._stop.is_set() and (self.slots.free_cpu or self.slots.free_gpus):
            with transaction(self.sessions) as session:
                claim = claim_next(
                    session,
                    worker=self.name,
                    queues=self.queues,
                    free_cpu=self.slots.free_cpu,
                    free_gpus=self.slots.free_gpus,
                )
            if claim is None:
                return
            self._begin(claim)

    def _begin(self, claim: Claim) -> None:
        ref = AttemptRef(
            claim.organization_id,
            claim.project_id,
            claim.job_id,
            claim.attempt_id,
            claim.attempt_number,
        )
        allocation = self.slots.take(claim.resources)
        self.logs.add(
            ref,
            _WORKER_SOURCE,
            f"attempt {claim.attempt_number} claimed by worker {self.name}"
            + (f"; resuming from {claim.resumed_from}" if claim.resumed_from else ""),
        )

        def prepare() -> Path:
            manifest = self.registry.get(claim.trainer).manifest
            launcher.prepare_dirs(self.settings, claim)
            return self.environments.python_for(
                manifest, lambda line: self.logs.add(ref, _WORKER_SOURCE, line)
            )

        child = Child(claim, allocation, ref, Preparation(prepare))
        self.children[claim.attempt_id] = child
        log.info("job claimed", job_id=str(claim.job_id), attempt=claim.attempt_number)

    def _launch(self, child: Child, python: Path) -> None:
        """Start the trainer; runs on the loop thread (PDEATHSIG follows the starting thread)."""
        manifest = self.registry.get(child.claim.trainer).manifest
        plan = launcher.plan(self.settings, child.claim, child.allocation, manifest, python)
        self.logs.add(child.ref, _WORKER_SOURCE, "starting: " + " ".join(plan.argv))
        if plan.not_isolated:
            self.logs.add(child.ref, _WORKER_SOURCE, plan.not_isolated, level="WARNING")
        process = launcher.spawn(plan)
        child.process = process
        child.heartbeat_changed_at = time.monotonic()
        try:
            ProcessRecord.of(process.pid).write(plan.cwd)
        except OSError as exc:  # the trainer runs; only a later orphan check loses its proof
            log.warning("could not record the trainer's process", error=str(exc))
        assert process.stdout is not None
        assert process.stderr is not None
        child.pumps = [
            pump(process.stdout, child.ref, "stdout", self.logs),
            pump(process.stderr, child.ref, "stderr", self.logs),
        ]
        with transaction(self.sessions) as session:
            attempt = session.get(JobAttempt, child.attempt_id)
            if attempt is not None:
                attempt.pid = process.pid
                if attempt.started_at is None:
                    attempt.started_at = utcnow()

    # --- supervision ---------------------------------------------------------------------------

    def _observe(self) -> dict[uuid.UUID, Observed]:
        if not self.children:
            return {}
        with transaction(self.sessions) as session:
            rows = session.execute(
                select(
                    JobAttempt.id,
                    JobAttempt.status,
                    JobAttempt.last_heartbeat_at,
                    TrainingJob.status,
                    TrainingJob.cancel_requested_at,
                )
                .join(TrainingJob, TrainingJob.id == JobAttempt.job_id)
                .where(JobAttempt.id.in_(list(self.children)))
            ).all()
        return {
            row[0]: Observed(row[1], row[2], row[3], row[4] is not None or row[3] == "cancelled")
            for row in rows
        }

    def _supervise(self) -> None:
        observed = self._observe()
        now = time.monotonic()
        for child in list(self.children.values()):
            seen = observed.get(child.attempt_id)
            if child.process is None:
                self._advance_preparing(child, seen)
            else:
                self._watch_running(child, seen, now)

    def _advance_preparing(self, child: Child, seen: Observed | None) -> None:
        if not child.settled and (seen is None or seen.attempt_status not in LIVE_ATTEMPT):
            child.settled = True  # recovered by another worker, or the job was deleted
        if not child.settled and seen is not None and seen.cancel_requested:
            with transaction(self.sessions) as session:
                settle_cancelled_before_start(session, child)
            child.settled = True
            self.logs.add(child.ref, _WORKER_SOURCE, "cancelled before the trainer started")
        if not child.preparation.done:
            return  # an environment build cannot be interrupted; it is reused later anyway
        if child.settled:
            self._forget(child)
            return
        error = child.preparation.error
        if error is None and child.preparation.python is not None:
            try:
                self._launch(child, child.preparation.python)
                return
            except (OSError, EnvironmentBuildFailed) as exc:
                error = exc
        error_type, message = _classify(error)
        self.logs.add(child.ref, _WORKER_SOURCE, f"{error_type}: {message}", level="ERROR")
        self.logs.flush(self.sessions)
        with transaction(self.sessions) as session:
            settle_launch_failure(session, child, error_type, message)
        log.warning("launch failed", job_id=str(child.claim.job_id), error=message)
        self._forget(child)

    def _watch_running(self, child: Child, seen: Observed | None, now: float) -> None:
        assert child.process is not None
        if exited_unreaped(child.process.pid):
            self._reap(child, shutting_down=False)
            return
        worker = self.settings.worker
        if child.settled:
            pass  # already killed; waiting for it to exit
        elif seen is None or seen.attempt_status not in LIVE_ATTEMPT:
            if seen is not None and seen.attempt_status in ("completed", "failed"):
                # It reported its end; let it exit on its own, within the grace periods.
                child.begin_stop("finished", now)
            else:
                # Recovered by another worker that took us for dead (its token is void and a
                # new attempt may already run), or the job was deleted: it must not go on.
                child.settled = True
                child.kill()
                self.logs.add(child.ref, _WORKER_SOURCE, "attempt taken over; trainer killed")
        elif seen.cancel_requested:
            child.begin_stop("cancel", now)
        elif child.stopping is None:
            silent = child.stale_for(seen, now)
            if silent >= worker.stale_after_seconds:
                child.lost_reason = f"no heartbeat for {silent:.0f} s"
                child.begin_stop("stale", now)
                child.kill()
                child.kill_sent_at = now
                self.logs.add(
                    child.ref, _WORKER_SOURCE, f"{child.lost_reason}; trainer killed", "ERROR"
                )
        child.escalate(now, worker.cancel_grace_seconds, worker.kill_grace_seconds)

    def _reap(self, child: Child, *, shutting_down: bool) -> None:
        assert child.process is not None
        # Its helpers (data loaders, ...) may outlive it and hold the GPU: end the group while
        # the zombie still pins the group id.
        child.kill()
        code = child.process.wait()
        for thread in child.pumps:
            thread.join(_PUMP_JOIN_SECONDS)
        self.logs.add(child.ref, _WORKER_SOURCE, f"trainer exited ({code})")
        self.logs.flush(self.sessions)
        with transaction(self.sessions) as session:
            outcome = settle_exit(session, child, code, self.recovery, shutting_down=shutting_down)
        log.info(
            "trainer exited",
            job_id=str(child.claim.job_id),
            attempt=child.claim.attempt_number,
            exit_code=code,
            outcome=outcome,
        )
        self._forget(child)

    def _forget(self, child: Child) -> None:
        if self.children.pop(child.attempt_id, None) is not None:
            self.slots.release(child.allocation)
            self.logs.forget(child.attempt_id)

    # --- stopping ------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        log.info("worker stopping", worker=self.name, running=len(self.children))
        kill_grace = self.settings.worker.kill_grace_seconds
        deadline = time.monotonic() + kill_grace
        for child in self.children.values():
            if child.process is not None:
                child.begin_stop("shutdown", time.monotonic())
                child.escalate(time.monotonic(), 0.0, kill_grace)
        while running := [c for c in self.children.values() if c.process is not None]:
            for child in running:
                assert child.process is not None
                if exited_unreaped(child.process.pid):
                    self._settle_on_shutdown(child)
                elif time.monotonic() >= deadline:
                    child.kill()
            time.sleep(0.05)
        for child in list(self.children.values()):  # still preparing: hand the job back
            self._settle_on_shutdown(child)
        try:
            self.logs.flush(self.sessions)
        except Exception:
            log.exception("could not write the last log lines", worker=self.name)

    def _settle_on_shutdown(self, child: Child) -> None:
        """Re-queue without spending a retry; a failure here must not stop the shutdown (the
        next start, or another worker, recovers the attempt anyway)."""
        try:
            if child.process is not None:
                self._reap(child, shutting_down=True)
                return
            if not child.settled:
                with transaction(self.sessions) as session:
                    found = lock(session, child.attempt_id)
                    if found is not None and found[1].status in LIVE_ATTEMPT:
                        job, attempt = found
                        self.recovery.settle_lost(
                            session,
                            job,
                            attempt,
                            why=f"attempt {attempt.number} lost (worker {self.name} stopped)",
                            exit_code=None,
                            spend_retry=False,
                        )
        except Exception:
            log.exception("could not settle an attempt while stopping", worker=self.name)
        self._forget(child)


def _classify(error: BaseException | None) -> tuple[str, str]:
    """(error type of the trainer contract, message) for a failed launch."""
    if isinstance(error, EnvironmentBuildFailed):
        return error.error_type, error.message
    if isinstance(error, TrainerNotFound):
        return "config", f"{error.message} on this worker"
    if isinstance(error, LensforgeError):
        return "internal", error.message
    if isinstance(error, OSError):
        return "internal", f"the trainer could not be started: {error}"
    return "internal", f"{type(error).__name__}: {error}"
