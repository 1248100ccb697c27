"""What users read of a job's telemetry."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from lensforge.kit.schemas import Schema


class MetricPoint(Schema):
    step: int
    epoch: int | None
    attempt_number: int
    values: dict[str, float | None] = Field(description="null where the trainer reported NaN.")
    reported_at: datetime


class MetricSeries(Schema):
    points: list[MetricPoint]
    has_more: bool = Field(description="More points follow: ask again with since_step.")


class LogLine(Schema):
    id: int
    attempt_number: int
    sequence: int
    level: str
    message: str
    extra: dict[str, Any]
    logged_at: datetime
    source: str = Field(description="'trainer', or 'server' for notes about the trainer's reports.")


class CheckpointRead(Schema):
    kind: str
    epoch: int | None = Field(description="The epoch it was taken after.")
    attempt_number: int
    size_bytes: int
    sha256: str | None
    metrics: dict[str, float | None]
    created_at: datetime
    url: str = Field(description="A presigned download link.")
    expires_in: int


class ArtifactRead(Schema):
    name: str
    kind: str = Field(description="`plot` (an image) or `table` (JSON `{columns, rows}`).")
    title: str
    content_type: str
    attempt_number: int
    size_bytes: int
    sha256: str
    created_at: datetime
    url: str = Field(description="The content, through the API (same credentials).")
