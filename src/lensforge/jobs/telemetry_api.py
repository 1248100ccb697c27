"""Routes: /training/jobs/{job_id}/metrics, /logs, /checkpoints, what users read of a run."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.dependencies import ObjectStoreDep, SessionDep, SettingsDep
from lensforge.jobs.api import RegistryDep
from lensforge.jobs.artifact_service import ArtifactService
from lensforge.jobs.reports import LOG_LEVELS, LogLevel
from lensforge.jobs.service import JobService
from lensforge.jobs.telemetry_repository import TelemetryRepository
from lensforge.jobs.telemetry_schemas import (
    ArtifactRead,
    CheckpointRead,
    LogLine,
    MetricPoint,
    MetricSeries,
)
from lensforge.kit.pagination import INT32_MAX, INT64_MAX, INT64_MIN, Offset
from lensforge.kit.schemas import Page

router = APIRouter(prefix="/training/jobs", tags=["training"])


@router.get("/{job_id}/metrics", response_model=MetricSeries)
def job_metrics(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.JOB_READ),
    since_step: Annotated[
        int | None, Query(ge=INT64_MIN, le=INT64_MAX, description="Only points after this step.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> MetricSeries:
    """Metric points ordered by step; poll with `since_step` = the last step seen."""
    job = JobService(session, registry).visible(principal, job_id)
    rows = TelemetryRepository(session).metrics(job.id, since_step=since_step, limit=limit + 1)
    return MetricSeries(
        points=[MetricPoint.model_validate(r) for r in rows[:limit]], has_more=len(rows) > limit
    )


@router.get("/{job_id}/logs", response_model=Page[LogLine])
def job_logs(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.JOB_READ),
    level: Annotated[LogLevel | None, Query(description="Minimum level.")] = None,
    since: Annotated[datetime | None, Query(description="From this time (inclusive).")] = None,
    until: Annotated[datetime | None, Query(description="Before this time.")] = None,
    search: Annotated[str | None, Query(max_length=200)] = None,
    attempt: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> Page[LogLine]:
    """Log lines ordered by time."""
    job = JobService(session, registry).visible(principal, job_id)
    levels = None if level is None else LOG_LEVELS[LOG_LEVELS.index(level) :]
    rows, total = TelemetryRepository(session).logs(
        job.id,
        levels=levels,
        since=since,
        until=until,
        search=search,
        attempt=attempt,
        limit=limit,
        offset=offset,
    )
    return Page(
        items=[LogLine.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{job_id}/checkpoints", response_model=list[CheckpointRead])
def job_checkpoints(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.JOB_READ),
) -> list[CheckpointRead]:
    """The job's checkpoints (`best`, `last`, per-epoch), each with a download link."""
    job = JobService(session, registry).visible(principal, job_id)
    expires_in = settings.storage.presign_default_expiry_seconds
    return [
        CheckpointRead(
            kind=row.kind,
            epoch=row.trained_epoch,
            attempt_number=row.attempt_number,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            metrics=row.metrics,
            created_at=row.created_at,
            url=store.presign_get(
                row.object_key,
                expires_in=expires_in,
                filename=f"{job.name}-{row.object_key.rsplit('/', 1)[-1]}",
            ),
            expires_in=expires_in,
        )
        for row in TelemetryRepository(session).checkpoints(job.id)
    ]


@router.get("/{job_id}/artifacts", response_model=list[ArtifactRead])
def job_artifacts(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.JOB_READ),
) -> list[ArtifactRead]:
    """The plots and tables the trainer reported (tables first, then plots, by name)."""
    job = JobService(session, registry).visible(principal, job_id)
    return [
        ArtifactRead(
            name=row.name,
            kind=row.kind,
            title=row.title,
            content_type=row.content_type,
            attempt_number=row.attempt_number,
            size_bytes=row.size_bytes,
            sha256=row.sha256,
            created_at=row.created_at,
            url=f"/api/v1/training/jobs/{job.id}/artifacts/{row.name}",
        )
        for row in ArtifactService(session, store).listed(job)
    ]


@router.get(
    "/{job_id}/artifacts/{name}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}, "image/jpeg": {}, "application/json": {}}}},
)
def job_artifact(
    job_id: uuid.UUID,
    name: str,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.JOB_READ),
) -> Response:
    """One artifact's content with its type (a checked PNG/JPEG image, or a JSON table)."""
    job = JobService(session, registry).visible(principal, job_id)
    row = ArtifactService(session, store).get(job, name)
    with store.open(row.object_key) as stream:
        body = stream.read()
    return Response(
        body,
        media_type=row.content_type,
        headers={
            "Cache-Control": "private, no-cache",
            "ETag": f'"{row.sha256}"',
            "X-Content-Type-Options": "nosniff",
            "Content-Disposition": f'inline; filename="{row.name}"',
        },
    )
