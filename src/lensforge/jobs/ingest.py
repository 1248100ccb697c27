"""Applying trainer reports: each (attempt, sequence) takes effect exactly once.

Used by `POST /trainer/jobs/{id}/reports` and, without a request, by the worker when it ingests
the spooled-but-unsent reports of an attempt that died (`allow_status_changes=False`).

Locking: the job row is locked first (SELECT ... FOR UPDATE on PostgreSQL), then the attempt is
re-read. Anything else changing a job's status (the worker, user actions) should lock the job
the same way, job before attempt, so the two never deadlock and never interleave.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy.orm import Session

from lensforge.errors import ValidationFailed
from lensforge.jobs.events import emit
from lensforge.jobs.model_outputs import OutputRefused, record_export, record_predictions
from lensforge.jobs.outputs import output_key
from lensforge.jobs.reports import (
    CheckpointData,
    CompletedData,
    ExportData,
    FailedData,
    LogData,
    PredictionsData,
    ProgressData,
    Report,
    ValidReport,
    validate_reports,
)
from lensforge.jobs.state import JobStatus, can_transition, transition
from lensforge.jobs.trainer_auth import LIVE_ATTEMPT_STATUSES
from lensforge.jobs.trainer_repository import TrainerRepository
from lensforge.kit.terminal import plain_text
from lensforge.kit.types import utcnow
from lensforge.models import JobAttempt, JobLog, TrainingJob
from lensforge.storage.base import ObjectNotFound, ObjectStore

log = structlog.get_logger("lensforge.jobs.ingest")

_MAX_REASON = 2000


def apply_reports(
    session: Session,
    job: TrainingJob,
    attempt: JobAttempt,
    reports: Sequence[Report],
    *,
    store: ObjectStore,
    allow_status_changes: bool = True,
) -> tuple[list[int], list[int]]:
    """Apply a batch in sequence order; returns (applied, duplicates) sequence numbers.

    The caller owns the transaction (only `flush` here). A report whose status change no
    longer fits (a `completed` after the job was cancelled, any status change of an attempt
    that is over or when `allow_status_changes` is False) is recorded as applied but has no
    effect beyond a server note in the job's log.
    """
    valid = validate_reports(reports)
    if not valid:
        return [], []
    repo = TrainerRepository(session)
    job = repo.lock_job(job.id)
    repo.reload_attempt(attempt)
    applier = _Applier(session, repo, store, job, attempt, allow_status_changes)
    applied: list[int] = []
    duplicates: list[int] = []
    for report in valid:
        if repo.record_report(attempt.id, report.sequence, report.kind, utcnow()):
            applier.apply(report)
            applied.append(report.sequence)
        else:
            duplicates.append(report.sequence)
    session.flush()
    return applied, duplicates


class _Applier:
    def __init__(
        self,
        session: Session,
        repo: TrainerRepository,
        store: ObjectStore,
        job: TrainingJob,
        attempt: JobAttempt,
        allow_status_changes: bool,
    ) -> None:
        self.session = session
        self.repo = repo
        self.store = store
        self.job = job
        self.attempt = attempt
        self.allow_status_changes = allow_status_changes

    def apply(self, report: ValidReport) -> None:
        data = report.data
        if report.kind == "started":
            self._started(report)
        elif isinstance(data, ProgressData):
            self._progress(report, data)
        elif isinstance(data, LogData):
            self._log(report.sequence, data.level, data.message, data.metadata, report)
        elif isinstance(data, CheckpointData):
            self._checkpoint(report, data)
        elif isinstance(data, CompletedData):
            self._completed(report, data)
        elif isinstance(data, FailedData):
            self._failed(report, data)
        elif isinstance(data, PredictionsData | ExportData):
            self._model_output(report, data)

    def _model_output(self, report: ValidReport, data: PredictionsData | ExportData) -> None:
        try:
            if isinstance(data, PredictionsData):
                record_predictions(self.session, self.store, self.job, report.sequence, data)
            else:
                record_export(self.session, self.store, self.job, report.sequence, data)
        except OutputRefused as exc:
            self._failed(report, FailedData(error_type="internal", message=exc.message))
            return
        emit(
            self.session,
            self.job,
            report.kind,
            {"attempt": self.attempt.number, **data.model_dump(exclude={"options"})},
        )

    # --- telemetry ---------------------------------------------------------------------------

    @property
    def _current(self) -> bool:
        """Whether no newer attempt exists: an older one's late reports must not move the
        job's progress backwards."""
        return self.attempt.number >= self.job.attempt_count

    def _progress(self, report: ValidReport, data: ProgressData) -> None:
        step = data.step if data.step is not None else data.epoch
        self.repo.upsert_metric(
            self.job.id,
            step=step,
            epoch=data.epoch,
            attempt_number=self.attempt.number,
            values=dict(data.metrics),
            reported_at=report.at,
        )
        if self._current:
            self.job.epoch = data.epoch
            if data.total_epochs is not None:
                self.job.total_epochs = data.total_epochs
        emit(
            self.session,
            self.job,
            "training_progress",
            {
                "attempt": self.attempt.number,
                "epoch": data.epoch,
                "total_epochs": data.total_epochs,
                "step": step,
                "metrics": dict(data.metrics),
            },
        )

    def _log(
        self,
        sequence: int,
        level: str,
        message: str,
        metadata: dict[str, Any],
        report: ValidReport,
        *,
        source: str = "trainer",
    ) -> None:
        # Trainers print for a terminal; the log stores what a terminal would show.
        message = plain_text(message)
        self.repo.add_log(
            JobLog(
                job_id=self.job.id,
                attempt_id=self.attempt.id,
                attempt_number=self.attempt.number,
                sequence=sequence,
                level=level,
                message=message,
                extra=metadata,
                logged_at=report.at,
                source=source,
            )
        )
        emit(
            self.session,
            self.job,
            "log",
            {
                "attempt": self.attempt.number,
                "sequence": sequence,
                "level": level,
                "message": message,
                "metadata": metadata,
                "source": source,
                "at": report.at.isoformat(),
            },
        )

    def _note(self, report: ValidReport, message: str) -> None:
        """A server note in the job's log about this report. Its sequence, -(n + 1), cannot
        collide with the trainer's own (n >= 0)."""
        log.warning(
            "trainer report not applied",
            job_id=str(self.job.id),
            attempt=self.attempt.number,
            sequence=report.sequence,
            kind=report.kind,
            why=message,
        )
        self._log(
            -(report.sequence + 1),
            "WARNING",
            f"{report.kind} report {report.sequence} ignored: {message}",
            {"report_sequence": report.sequence, "report_kind": report.kind},
            report,
            source="server",
        )

    def _checkpoint(self, report: ValidReport, data: CheckpointData) -> None:
        key = output_key(self.job.id, data.name)
        try:
            info = self.store.head(key)
        except ObjectNotFound as exc:
            raise ValidationFailed(
                f"report {report.sequence}: checkpoint {data.name!r} was not uploaded; "
                "PUT it to the URL from /outputs/urls before reporting it",
                details={"sequence": report.sequence, "name": data.name},
                code="checkpoint_not_uploaded",
            ) from exc
        if info.size != data.size:
            self._stale_checkpoint(report, data, info.size)
            return
        self.repo.upsert_checkpoint(
            self.job.id,
            data.kind,
            data.epoch if data.kind == "epoch" else -1,
            {
                "attempt_number": self.attempt.number,
                "trained_epoch": data.epoch,
                "object_key": key,
                "size_bytes": info.size,
                "sha256": data.sha256,
                "metrics": dict(data.metrics),
            },
        )
        emit(
            self.session,
            self.job,
            "checkpoint",
            {
                "attempt": self.attempt.number,
                "kind": data.kind,
                "epoch": data.epoch,
                "name": data.name,
                "size": info.size,
                "sha256": data.sha256,
                "metrics": dict(data.metrics),
            },
        )

    def _stale_checkpoint(self, report: ValidReport, data: CheckpointData, stored: int) -> None:
        """The object no longer has the reported size. Not a refusal: refusing would block
        the SDK's spool for good.

        For `best`/`last` this is ordinary: the SDK sends reports in the background while the
        trainer goes on, so the next epoch's upload to the same name may land before this
        report is applied; that upload's own report follows and records it. A per-epoch
        checkpoint is never overwritten, so there it is worth a note in the job's log."""
        why = (
            f"checkpoint {data.name!r} was reported with {data.size} bytes but the stored "
            f"object has {stored}"
        )
        if data.kind == "epoch":
            self._note(report, why)
        else:
            log.info(
                "superseded checkpoint report skipped",
                job_id=str(self.job.id),
                sequence=report.sequence,
                why=why,
            )

    # --- status changes ----------------------------------------------------------------------

    def _may_change_status(self, report: ValidReport) -> bool:
        if not self.allow_status_changes:
            self._note(report, "status changes are not applied for this attempt")
            return False
        if self.attempt.status not in LIVE_ATTEMPT_STATUSES:
            self._note(report, f"attempt {self.attempt.number} is already {self.attempt.status}")
            return False
        if not self._current:
            self._note(report, f"a newer attempt ({self.job.attempt_count}) owns the job")
            return False
        return True

    def _ensure_running(self, report: ValidReport) -> bool:
        """Move a preparing job to running (a `completed` without `started` implies it)."""
        if self.job.status == JobStatus.PREPARING.value:
            transition(
                self.session,
                self.job,
                JobStatus.RUNNING,
                "the trainer started",
                attempt_number=self.attempt.number,
            )
        if self.job.status != JobStatus.RUNNING.value:
            self._note(report, f"the job is {self.job.status}")
            return False
        self.attempt.status = "running"
        if self.attempt.started_at is None:
            self.attempt.started_at = report.at
        return True

    def _started(self, report: ValidReport) -> None:
        if self._may_change_status(report):
            self._ensure_running(report)

    def _completed(self, report: ValidReport, data: CompletedData) -> None:
        if not self._may_change_status(report) or not self._ensure_running(report):
            return
        if data.best_metric_name is not None:
            self.job.best_metric_name = data.best_metric_name
            self.job.best_metric_value = data.best_metric_value
        if data.best_epoch is not None:
            self.job.best_epoch = data.best_epoch
        self.attempt.status = "completed"
        self.attempt.finished_at = report.at
        transition(
            self.session,
            self.job,
            JobStatus.COMPLETED,
            "the trainer reported completion",
            attempt_number=self.attempt.number,
        )

    def _failed(self, report: ValidReport, data: FailedData) -> None:
        if not self._may_change_status(report):
            return
        if not can_transition(self.job.status, JobStatus.FAILED) or self.job.status not in (
            JobStatus.PREPARING.value,
            JobStatus.RUNNING.value,
        ):
            self._note(report, f"the job is {self.job.status}")
            return
        self.attempt.status = "failed"
        self.attempt.finished_at = report.at
        self.attempt.error_type = data.error_type
        self.attempt.error_message = data.message
        self.attempt.traceback = data.traceback
        # A failure the trainer diagnosed (bad data, bad config, NaN) would repeat: no retry.
        reason = f"{data.error_type}: {data.message}"[:_MAX_REASON]
        transition(
            self.session, self.job, JobStatus.FAILED, reason, attempt_number=self.attempt.number
        )
