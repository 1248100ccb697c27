"""Typed shapes of the training API: trainers and their manifests, config validation, jobs
with their attempts and status transitions, metric points, log lines, checkpoints and live
events.

Like `lensforge.client.models`, these copy the server's shapes (the client must not import the
server) and ignore fields they do not know; statuses and levels are plain strings.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lensforge.client.errors import FieldError
from lensforge.client.models import Model

TERMINAL_JOB_STATUSES = frozenset({"completed", "failed", "cancelled"})
"""A job in one of these has stopped; restart or resume queue it again."""
JOB_STATUSES = ("pending", "queued", "preparing", "running", "completed", "failed", "cancelled")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


# --- trainers ----------------------------------------------------------------------------------


class TrainerModel(Model):
    """A model a trainer can train (`linear`, `yolov8n`, ...) and the tasks it supports."""

    name: str
    tasks: list[str]
    description: str = ""


class TrainerCapabilities(Model):
    resume: bool = False
    predict: bool = False
    export_formats: list[str] = Field(default_factory=list)


class ConfigSchema(Model):
    """JSON Schemas (draft 2020-12) of a job config's two sections."""

    basic: dict[str, Any]
    advanced: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})

    def section(self, name: str) -> dict[str, Any]:
        """`basic` or `advanced`."""
        if name not in ("basic", "advanced"):
            raise ValueError(f"unknown config section {name!r}; use 'basic' or 'advanced'")
        schema: dict[str, Any] = getattr(self, name)
        return schema


class TrainerManifest(Model):
    """What a trainer is, offers, needs and accepts (see docs/trainer-contract.md)."""

    name: str
    version: str
    description: str = ""
    tasks: list[str]
    models: list[TrainerModel]
    entrypoints: dict[str, list[str]] = Field(default_factory=dict)
    capabilities: TrainerCapabilities = Field(default_factory=TrainerCapabilities)
    requirements: list[str] = Field(default_factory=list)
    config_schema: ConfigSchema

    def model_named(self, name: str) -> TrainerModel | None:
        return next((m for m in self.models if m.name == name), None)


class Trainer(Model):
    """A registered trainer; `source` is `builtin`, `entry-point:<value>` or a manifest path."""

    manifest: TrainerManifest
    source: str

    @property
    def name(self) -> str:
        return self.manifest.name


class ConfigValidation(Model):
    """The answer of `validate_config`: every problem with its field path (`basic.epochs`),
    and when valid the config with the schemas' defaults filled in."""

    valid: bool
    errors: list[FieldError] = Field(default_factory=list)
    config: dict[str, Any] | None = None


# --- jobs --------------------------------------------------------------------------------------


class Job(Model):
    """A training run pinned to one dataset version. `status` goes queued → preparing →
    running → completed, failed or cancelled; `status_reason` says why it is where it is."""

    id: uuid.UUID
    project_id: uuid.UUID
    dataset_id: uuid.UUID
    dataset_version_id: uuid.UUID
    dataset_content_hash: str
    weights_artifact_id: uuid.UUID | None = None
    """The uploaded model artifact the training started from (`client.artifacts`)."""
    name: str
    trainer: str
    trainer_version: str
    model: str
    task: str
    config: dict[str, Any] = Field(default_factory=dict)
    """As run: `{"basic": {...}, "advanced": {...}}` with the trainer's defaults filled in."""
    split_override: dict[str, Any] | None = None
    split_config: dict[str, Any] = Field(default_factory=dict)
    resources: dict[str, Any] = Field(default_factory=dict)
    queue: str = "default"
    priority: int = 0
    status: str
    status_reason: str = ""
    max_attempts: int = 1
    attempt_count: int = 0
    retries_left: int = 0
    resume_requested: bool = False
    cancel_requested_at: datetime | None = None
    epoch: int | None = None
    total_epochs: int | None = None
    best_metric_name: str | None = None
    best_metric_value: float | None = None
    best_epoch: int | None = None
    orchestrator: str = "local"
    workflow_id: str | None = None
    workflow_url: str | None = None
    created_by_id: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime | None = None
    queued_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        """Completed, failed or cancelled."""
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"


class Attempt(Model):
    """One run of the job's trainer process; restarts, resumes and crash recoveries add one."""

    number: int
    status: str
    worker_id: str | None = None
    pid: int | None = None
    resumed_from: str | None = None
    last_heartbeat_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_code: int | None = None
    error_type: str | None = None
    """dataset, config, resource, dependency, network, storage, training or internal."""
    error_message: str | None = None
    traceback: str | None = None
    created_at: datetime | None = None


class Transition(Model):
    """A status change, with when and why."""

    from_status: str | None = None
    to_status: str
    reason: str = ""
    attempt_number: int | None = None
    at: datetime


class JobDetail(Job):
    attempts: list[Attempt] = Field(default_factory=list)
    transitions: list[Transition] = Field(default_factory=list)
    """Oldest first."""


# --- telemetry ---------------------------------------------------------------------------------


class MetricPoint(Model):
    """A point of the job's curves; one per step (by default the epoch). A resumed attempt
    that re-runs an epoch replaces that epoch's point."""

    step: int
    epoch: int | None = None
    attempt_number: int | None = None
    values: dict[str, float | None] = Field(default_factory=dict)
    """NaN and infinities come back as None."""
    reported_at: datetime | None = None


class LogLine(Model):
    """A log line of an attempt: the trainer's own (`source` `trainer`), its captured output
    (`stdout`/`stderr`), or a note of the worker or server. Unique per (attempt, sequence)."""

    id: int | None = None
    attempt_number: int
    sequence: int
    level: str
    message: str
    source: str = "trainer"
    logged_at: datetime
    extra: dict[str, Any] = Field(default_factory=dict)


class Checkpoint(Model):
    """A stored checkpoint: `best` and `last` (one each, replaced as training goes on) and, if
    the trainer keeps them, one `epoch` checkpoint per epoch. `epoch` is the epoch it was taken
    after; `url` downloads it for `expires_in` seconds."""

    kind: str
    epoch: int | None = None
    attempt_number: int | None = None
    size_bytes: int = 0
    sha256: str | None = None
    metrics: dict[str, float | None] = Field(default_factory=dict)
    created_at: datetime | None = None
    url: str | None = None
    expires_in: int | None = None


class MetricSeries(Model):
    """Metric points by step; `has_more` when a limit cut them (ask again with `since_step`)."""

    points: list[MetricPoint] = Field(default_factory=list)
    has_more: bool = False


class JobEvent(Model):
    """A live event: `type` is `job_status` (data: status, previous, reason, attempt, at),
    `training_progress` (attempt, epoch, total_epochs, step, metrics), `log` (attempt,
    sequence, level, message, source, at) or `checkpoint` (attempt, kind, epoch, name, size,
    sha256, metrics). Unknown types are passed on as they come."""

    type: str
    job_id: uuid.UUID | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    """The event's own fields (everything but `type` and `job_id`)."""

    @classmethod
    def from_message(cls, message: dict[str, Any]) -> JobEvent:
        data = {k: v for k, v in message.items() if k not in ("type", "job_id")}
        return cls.model_validate(
            {"type": message.get("type", ""), "job_id": message.get("job_id"), "data": data}
        )


class Resources(BaseModel):
    """What a job needs of a worker: CPU slots and GPUs (an input: unknown fields fail)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpu: int = 1
    gpu: int = 0
