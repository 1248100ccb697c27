"""SQL for reading a job's telemetry: metric points, log lines, checkpoints."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lensforge.models import JobCheckpoint, JobLog, JobMetric


class TelemetryRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def metrics(self, job_id: uuid.UUID, *, since_step: int | None, limit: int) -> list[JobMetric]:
        query = select(JobMetric).where(JobMetric.job_id == job_id)
        if since_step is not None:
            query = query.where(JobMetric.step > since_step)
        return list(self.session.scalars(query.order_by(JobMetric.step).limit(limit)))

    def logs(
        self,
        job_id: uuid.UUID,
        *,
        levels: Sequence[str] | None,
        since: datetime | None,
        until: datetime | None,
        search: str | None,
        attempt: int | None,
        limit: int,
        offset: int,
    ) -> tuple[list[JobLog], int]:
        query = select(JobLog).where(JobLog.job_id == job_id)
        if levels is not None:
            query = query.where(JobLog.level.in_(list(levels)))
        if since is not None:
            query = query.where(JobLog.logged_at >= since)
        if until is not None:
            query = query.where(JobLog.logged_at < until)
        if attempt is not None:
            query = query.where(JobLog.attempt_number == attempt)
        if search:
            # lower() on both sides: PostgreSQL's LIKE is case-sensitive, SQLite's is not.
            query = query.where(
                func.lower(JobLog.message).contains(search.lower(), autoescape=True)
            )
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(JobLog.logged_at, JobLog.id).limit(limit).offset(offset)
        )
        return list(rows), total

    def checkpoints(self, job_id: uuid.UUID) -> list[JobCheckpoint]:
        return list(
            self.session.scalars(
                select(JobCheckpoint)
                .where(JobCheckpoint.job_id == job_id)
                .order_by(JobCheckpoint.kind, JobCheckpoint.epoch)
            )
        )
