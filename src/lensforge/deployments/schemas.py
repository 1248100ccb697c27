"""Bodies of the deployment routes (docs/serving.md, "Deployments (control plane)")."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from lensforge.kit.schemas import Schema, UtcDateTime
from lensforge.model_work.schemas import CheckpointName

DeploymentStatusName = Literal["creating", "ready", "failed"]
NAME_DESCRIPTION = (
    "The model name clients use (`/v1/infer/<name>`, OIP v2 `model_name`): unique in the "
    "organization ignoring case, 1-64 of `A-Z a-z 0-9 . _ -`, starting with a letter or digit."
)

# Bounds of the batching and rate-limit settings: wide enough for any real use, narrow enough
# that no value can stall a replica (an hour-long queue delay) or overflow a column.
MAX_BATCH_SIZE = 256
MAX_QUEUE_DELAY_MS = 1000.0
MAX_QUEUE_LIMIT = 10_000
MAX_RATE_PER_SECOND = 1_000_000.0
MAX_RATE_BURST = 1_000_000


class DeploymentParameters(Schema):
    """Defaults of the image API's parameters; a request may still give its own."""

    conf: float | None = Field(default=None, ge=0.0, le=1.0, description="Confidence threshold.")
    iou: float | None = Field(default=None, ge=0.0, le=1.0, description="NMS IoU threshold.")
    max_det: int | None = Field(default=None, ge=1, le=10_000)
    imgsz: int | None = Field(default=None, ge=32, le=4096, description="Default: the model's.")


class DeploymentSettings(Schema):
    """What PATCH may change; on create, the same fields with the defaults of the table."""

    description: str | None = Field(default=None, max_length=2000)
    max_batch_size: int | None = Field(default=None, ge=1, le=MAX_BATCH_SIZE)
    max_queue_delay_ms: float | None = Field(default=None, ge=0.0, le=MAX_QUEUE_DELAY_MS)
    queue_limit: int | None = Field(default=None, ge=1, le=MAX_QUEUE_LIMIT)
    rate_limit_per_second: float | None = Field(
        default=None,
        gt=0.0,
        le=MAX_RATE_PER_SECOND,
        description="Token bucket per API key on this deployment; null: the server's default.",
    )
    rate_limit_burst: int | None = Field(default=None, ge=1, le=MAX_RATE_BURST)
    parameters: DeploymentParameters | None = None


class ModelChoice(Schema):
    """A verified, completed ONNX export; or a training job's checkpoint, exported to ONNX (with
    a dynamic batch) and verified on the way."""

    export_id: uuid.UUID | None = None
    job_id: uuid.UUID | None = None
    checkpoint: CheckpointName | None = Field(
        default=None, description="With `job_id`: the checkpoint to deploy (default `best`)."
    )

    @model_validator(mode="after")
    def _one_model(self) -> ModelChoice:
        if (self.export_id is None) == (self.job_id is None):
            raise ValueError("give exactly one of export_id and job_id")
        if self.checkpoint is not None and self.job_id is None:
            raise ValueError("checkpoint goes with job_id")
        return self


class DeploymentCreate(DeploymentSettings, ModelChoice):
    name: str = Field(min_length=1, max_length=64, description=NAME_DESCRIPTION)


class VersionCreate(ModelChoice):
    """An update: the new version becomes current once ready; the current one answers until
    then."""


class RollbackRequest(Schema):
    version: int | None = Field(
        default=None,
        ge=1,
        le=2**31 - 1,
        description="A ready version to go back to; default: the one current before the "
        "current one.",
    )


class DeploymentUrls(Schema):
    image: str = Field(description="The image API: POST images here.")
    v2: str = Field(description="The Open Inference Protocol v2 base URL (Triton clients).")
    model_name: str = Field(description="The model name of the inference protocol.")


class DeploymentVersionRead(Schema):
    number: int
    status: DeploymentStatusName
    status_reason: str
    source_job_id: uuid.UUID | None
    export_id: uuid.UUID | None
    format: str
    sha256: str | None
    size_bytes: int | None
    task: str
    class_names: list[str]
    model_info: dict[str, Any]
    created_by_id: uuid.UUID | None
    created_at: datetime
    activated_at: datetime | None
    current: bool


class DeploymentRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str
    status: DeploymentStatusName
    status_reason: str
    active: bool
    current_version: int | None
    max_batch_size: int
    max_queue_delay_ms: float
    queue_limit: int
    rate_limit_per_second: float | None
    rate_limit_burst: int | None
    parameters: dict[str, Any]
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    urls: DeploymentUrls
    version: DeploymentVersionRead | None = Field(description="The current version, if any.")


class DeploymentKeyCreate(Schema):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(
        default_factory=lambda: ["deployment:infer"],
        min_length=1,
        max_length=2,
        description="deployment:infer and/or deployment:read (deployments:infer is accepted).",
    )
    expires_at: UtcDateTime | None = Field(
        default=None, description="Optional expiry; without a timezone offset it is read as UTC."
    )


UsageGroup = Literal["day", "hour"]


class UsageRow(Schema):
    period: datetime = Field(description="Start of the day or hour (UTC).")
    deployment_id: uuid.UUID | None
    deployment_name: str
    requests: int
    errors: int = Field(description="Answers with a status of 400 or more.")
    images: int
    bytes_in: int
    bytes_out: int
    compute_ms: float
    p50_total_ms: float | None
    p95_total_ms: float | None


class UsageReport(Schema):
    start: datetime
    end: datetime
    group: UsageGroup
    rows: list[UsageRow]


class StatsPoint(Schema):
    minute: datetime
    requests: int
    errors: int
    requests_per_second: float
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class DeploymentStats(Schema):
    deployment_id: uuid.UUID
    minutes: int
    points: list[StatsPoint] = Field(description="One per minute, oldest first; empty minutes 0.")


class TryItAnswer(Schema):
    """The try-it form's answer: the image API's shape (results in the platform's schema, and
    each image drawn as a base64 JPEG when `render` was asked)."""

    deployment: str
    version: int
    request_id: uuid.UUID
    results: list[dict[str, Any]]
    rendered: list[str] = Field(default_factory=list)
