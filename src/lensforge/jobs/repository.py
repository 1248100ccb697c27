"""SQL for training jobs, attempts and transitions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lensforge.models import JobAttempt, JobTransition, ProjectMember, TrainingJob


class JobRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_in_organization(
        self, organization_id: uuid.UUID, job_id: uuid.UUID
    ) -> TrainingJob | None:
        return self.session.scalar(
            select(TrainingJob).where(
                TrainingJob.id == job_id, TrainingJob.organization_id == organization_id
            )
        )

    def add(self, job: TrainingJob) -> TrainingJob:
        self.session.add(job)
        self.session.flush()
        return job

    def list(
        self,
        organization_id: uuid.UUID,
        *,
        member_user_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        statuses: Sequence[str],
        trainer: str | None,
        dataset_id: uuid.UUID | None,
        limit: int,
        offset: int,
        kind: str = "training",
    ) -> tuple[Sequence[TrainingJob], int]:
        query = select(TrainingJob).where(
            TrainingJob.organization_id == organization_id, TrainingJob.kind == kind
        )
        if member_user_id is not None:
            query = query.where(
                TrainingJob.project_id.in_(
                    select(ProjectMember.project_id).where(ProjectMember.user_id == member_user_id)
                )
            )
        if project_id is not None:
            query = query.where(TrainingJob.project_id == project_id)
        if statuses:
            query = query.where(TrainingJob.status.in_(list(statuses)))
        if trainer is not None:
            query = query.where(TrainingJob.trainer == trainer)
        if dataset_id is not None:
            query = query.where(TrainingJob.dataset_id == dataset_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(TrainingJob.created_at.desc(), TrainingJob.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return rows, total

    def attempts(self, job_id: uuid.UUID) -> Sequence[JobAttempt]:
        return self.session.scalars(
            select(JobAttempt).where(JobAttempt.job_id == job_id).order_by(JobAttempt.number)
        ).all()

    def transitions(self, job_id: uuid.UUID) -> Sequence[JobTransition]:
        return self.session.scalars(
            select(JobTransition)
            .where(JobTransition.job_id == job_id)
            .order_by(JobTransition.at, JobTransition.id)
        ).all()
