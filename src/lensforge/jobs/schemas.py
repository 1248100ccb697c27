from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from lensforge.datasets.splits import SplitConfig
from lensforge.kit.schemas import Schema

JobKindName = Literal["training", "export", "inference"]
JobStatusName = Literal[
    "pending", "queued", "preparing", "running", "completed", "failed", "cancelled"
]


class Resources(Schema):
    cpu: int = Field(default=1, ge=1, le=256)
    gpu: int = Field(default=0, ge=0, le=16)


class JobCreate(Schema):
    project_id: uuid.UUID
    dataset_id: uuid.UUID
    dataset_version: int | None = Field(
        default=None, ge=1, description="Version number to pin; default: the latest."
    )
    trainer: str = Field(min_length=1, max_length=100)
    model: str = Field(min_length=1, max_length=200)
    task: str | None = Field(default=None, description="Default: the dataset's task.")
    name: str | None = Field(default=None, max_length=200)
    config: dict[str, Any] = Field(
        default_factory=dict, description="{'basic': {...}, 'advanced': {...}}"
    )
    split: SplitConfig | None = Field(
        default=None, description="Job-level split override (highest priority)."
    )
    resources: Resources = Field(default_factory=Resources)
    queue: str = Field(
        default="default", min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$"
    )
    priority: int = Field(default=0, ge=-100, le=100)
    max_attempts: int = Field(default=3, ge=1, le=20)
    weights_id: uuid.UUID | None = Field(
        default=None,
        description="A model artifact of the same project: the pretrained weights to start "
        "from (they win over the trainer's `basic.pretrained`).",
    )
    weights: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Pretrained weights by name, instead of `weights_id`: a model artifact of "
        "the project with this name, or an official file of the trainer (e.g. `yolo11n.pt`), "
        "which the server takes from its weights cache or downloads, verified by size and "
        "SHA-256, and records as a model artifact of the project. 422 `weights_unavailable` "
        "(with what to do) when it cannot be had.",
    )


class JobRead(Schema):
    id: uuid.UUID
    kind: JobKindName
    source_job_id: uuid.UUID | None
    source: dict[str, Any] | None
    project_id: uuid.UUID
    dataset_id: uuid.UUID
    dataset_version_id: uuid.UUID
    dataset_content_hash: str
    weights_artifact_id: uuid.UUID | None = None
    name: str
    trainer: str
    trainer_version: str
    model: str
    task: str
    config: dict[str, Any]
    split_override: dict[str, Any] | None
    split_config: dict[str, Any]
    resources: dict[str, Any]
    queue: str
    priority: int
    status: JobStatusName
    status_reason: str
    max_attempts: int
    attempt_count: int
    retries_left: int
    resume_requested: bool
    cancel_requested_at: datetime | None
    epoch: int | None
    total_epochs: int | None
    best_metric_name: str | None
    best_metric_value: float | None
    best_epoch: int | None
    orchestrator: str
    workflow_id: str | None
    # The job's workflow in the Temporal web UI (Temporal backend with `temporal.ui_url` set).
    workflow_url: str | None = None
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None


class TransitionRead(Schema):
    from_status: str | None
    to_status: str
    reason: str
    attempt_number: int | None
    at: datetime


class AttemptRead(Schema):
    number: int
    status: str
    worker_id: str | None
    pid: int | None
    resumed_from: str | None
    last_heartbeat_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    exit_code: int | None
    error_type: str | None
    error_message: str | None
    traceback: str | None
    created_at: datetime


class JobDetail(JobRead):
    attempts: list[AttemptRead]
    transitions: list[TransitionRead]
