"""SQL of the trainer side: attempts by token, applied reports, metric points, log lines,
checkpoints and dataset membership. Writes are idempotent where the contract needs them to be."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lensforge.models import (
    DatasetItem,
    JobAttempt,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobReport,
    TrainingJob,
)

# Bind parameters per IN (...) query: far below SQLite's 32766 and PostgreSQL's 65535 limits.
_IN_BATCH = 500


class TrainerRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def attempt_by_token_hash(self, token_hash: str) -> JobAttempt | None:
        return self.session.scalar(select(JobAttempt).where(JobAttempt.token_hash == token_hash))

    def lock_job(self, job_id: uuid.UUID) -> TrainingJob:
        """The job row, re-read and locked until the transaction ends (PostgreSQL; SQLite's
        writers are already serialised by BEGIN IMMEDIATE). Reports, the worker and user
        actions changing one job therefore take turns."""
        return self.session.execute(
            select(TrainingJob)
            .where(TrainingJob.id == job_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).scalar_one()

    def reload_attempt(self, attempt: JobAttempt) -> None:
        """Re-read the attempt (after the job lock, so a concurrent "lost" is seen). A query
        rather than `refresh`: it autoflushes first, so the caller's unflushed changes are
        written, not discarded."""
        self.session.execute(
            select(JobAttempt)
            .where(JobAttempt.id == attempt.id)
            .execution_options(populate_existing=True)
        ).scalar_one()

    def record_report(
        self, attempt_id: uuid.UUID, sequence: int, kind: str, received_at: datetime
    ) -> bool:
        """Mark (attempt, sequence) applied; False when it already was.

        INSERT ... ON CONFLICT DO NOTHING on both dialects: on PostgreSQL a concurrent request
        carrying the same report waits on the key and then inserts nothing, so a report is
        never applied twice, even by two requests at once.
        """
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(JobReport)
            .values(attempt_id=attempt_id, sequence=sequence, kind=kind, received_at=received_at)
            .on_conflict_do_nothing(index_elements=["attempt_id", "sequence"])
            # RETURNING, not rowcount: drivers disagree on rowcount here (psycopg gives -1).
            .returning(JobReport.sequence)
        )
        return self.session.execute(statement).first() is not None

    def upsert_metric(
        self,
        job_id: uuid.UUID,
        *,
        step: int,
        epoch: int | None,
        attempt_number: int,
        values: dict[str, Any],
        reported_at: datetime,
    ) -> JobMetric:
        # Select-then-write is safe here: the caller holds the job's lock.
        point = self.session.scalar(
            select(JobMetric).where(JobMetric.job_id == job_id, JobMetric.step == step)
        )
        if point is None:
            point = JobMetric(job_id=job_id, step=step)
            self.session.add(point)
        point.epoch = epoch
        point.attempt_number = attempt_number
        point.values = values
        point.reported_at = reported_at
        return point

    def add_log(self, line: JobLog) -> None:
        self.session.add(line)

    def checkpoint(self, job_id: uuid.UUID, kind: str, epoch: int = -1) -> JobCheckpoint | None:
        return self.session.scalar(
            select(JobCheckpoint).where(
                JobCheckpoint.job_id == job_id,
                JobCheckpoint.kind == kind,
                JobCheckpoint.epoch == epoch,
            )
        )

    def upsert_checkpoint(
        self, job_id: uuid.UUID, kind: str, epoch: int, values: dict[str, Any]
    ) -> JobCheckpoint:
        row = self.checkpoint(job_id, kind, epoch)
        if row is None:
            row = JobCheckpoint(job_id=job_id, kind=kind, epoch=epoch)
            self.session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        return row

    def hashes_in_version(self, version_id: uuid.UUID, hashes: Iterable[str]) -> set[str]:
        wanted = sorted(set(hashes))
        found: set[str] = set()
        for start in range(0, len(wanted), _IN_BATCH):
            batch = wanted[start : start + _IN_BATCH]
            found.update(
                self.session.scalars(
                    select(DatasetItem.image_sha256)
                    .where(
                        DatasetItem.version_id == version_id,
                        DatasetItem.image_sha256.in_(batch),
                    )
                    .distinct()
                )
            )
        return found
