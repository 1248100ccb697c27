"""Writing live events to the outbox (`events` table), in the caller's transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.orm import Session

from lensforge.kit.types import utcnow
from lensforge.models import Event, TrainingJob


def emit(session: Session, job: TrainingJob, type_: str, payload: dict[str, Any]) -> None:
    """Record an event about `job`; subscribers of the job or its project receive it once the
    transaction commits. The payload is what WebSocket clients get, plus `type` and `job_id`."""
    session.add(
        Event(
            organization_id=job.organization_id,
            project_id=job.project_id,
            job_id=job.id,
            type=type_,
            payload={"type": type_, "job_id": str(job.id), **payload},
            created_at=utcnow(),
        )
    )


def emit_for(
    session: Session,
    *,
    organization_id: uuid.UUID,
    project_id: uuid.UUID | None,
    job_id: uuid.UUID | None,
    type_: str,
    payload: dict[str, Any],
) -> None:
    session.add(
        Event(
            organization_id=organization_id,
            project_id=project_id,
            job_id=job_id,
            type=type_,
            payload={"type": type_, **({"job_id": str(job_id)} if job_id else {}), **payload},
            created_at=utcnow(),
        )
    )
