from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from lensforge.kit.types import utcnow
from lensforge.models.base import Base, CreatedAtMixin, IdMixin

JOB_STATUSES = ("pending", "queued", "preparing", "running", "completed", "failed", "cancelled")
_STATUS_CHECK = (
    "status IN ('pending', 'queued', 'preparing', 'running', 'completed', 'failed', 'cancelled')"
)
JOB_KINDS = ("training", "export", "inference")
_KIND_CHECK = "kind IN ('training', 'export', 'inference')"


class TrainingJob(IdMixin, CreatedAtMixin, Base):
    """A run of one trainer on one pinned dataset version: a training, or (`kind`) an export or
    an inference using a training job's model (`source_job_id`). Every kind shares the same
    lifecycle, attempts, logs and orchestration. Only the state machine (`lensforge.jobs.state`)
    writes `status`."""

    __tablename__ = "training_jobs"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status_known"),
        CheckConstraint(_KIND_CHECK, name="kind_known"),
    )

    kind: Mapped[str] = mapped_column(
        String(16), default="training", server_default="training", index=True
    )
    # Export and inference jobs: the training job whose model they use, and which model
    # ({"checkpoint": "best"|"last"} or {"export_id": "..."}), and their per-kind inputs.
    source_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="RESTRICT"), default=None, index=True
    )
    source: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    inputs: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    # Training jobs: the uploaded pretrained weights to start from (kept while referenced).
    weights_artifact_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("model_artifacts.id", ondelete="RESTRICT"), default=None, index=True
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    dataset_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("datasets.id", ondelete="RESTRICT"))
    dataset_version_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="RESTRICT")
    )
    # Copied at creation: what the job trained on must stay knowable even if names change.
    dataset_content_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    trainer: Mapped[str] = mapped_column(String(100))
    trainer_version: Mapped[str] = mapped_column(String(50))
    model: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(32))
    config: Mapped[dict[str, Any]] = mapped_column(JSON)
    split_override: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    split_config: Mapped[dict[str, Any]] = mapped_column(JSON)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    queue: Mapped[str] = mapped_column(String(100), default="default", index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    # Automatic recoveries left before a lost attempt fails the job; reset by restart/resume.
    retries_left: Mapped[int] = mapped_column(Integer, default=2)
    # Set when the next attempt must start from the last checkpoint (resume, crash recovery).
    resume_requested: Mapped[bool] = mapped_column(default=False)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(default=None)
    epoch: Mapped[int | None] = mapped_column(Integer, default=None)
    total_epochs: Mapped[int | None] = mapped_column(Integer, default=None)
    best_metric_name: Mapped[str | None] = mapped_column(String(100), default=None)
    best_metric_value: Mapped[float | None] = mapped_column(Float, default=None)
    best_epoch: Mapped[int | None] = mapped_column(Integer, default=None)
    orchestrator: Mapped[str] = mapped_column(String(32), default="local")
    workflow_id: Mapped[str | None] = mapped_column(String(200), default=None)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)


class JobAttempt(IdMixin, CreatedAtMixin, Base):
    """One run of a job's trainer process. A restart, resume or crash recovery makes a new one."""

    __tablename__ = "job_attempts"
    __table_args__ = (UniqueConstraint("job_id", "number", name="uq_job_attempts_number"),)

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="preparing")
    worker_id: Mapped[str | None] = mapped_column(String(200), default=None, index=True)
    pid: Mapped[int | None] = mapped_column(Integer, default=None)
    # The checkpoint this attempt resumed from, if any.
    resumed_from: Mapped[str | None] = mapped_column(String(1024), default=None)
    # SHA-256 of the job-scoped token the trainer authenticates with; dies with the attempt.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    exit_code: Mapped[int | None] = mapped_column(Integer, default=None)
    error_type: Mapped[str | None] = mapped_column(String(32), default=None)
    error_message: Mapped[str | None] = mapped_column(Text, default=None)
    traceback: Mapped[str | None] = mapped_column(Text, default=None)


class JobTransition(IdMixin, Base):
    """Every status change of a job, with when and why."""

    __tablename__ = "job_transitions"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    attempt_number: Mapped[int | None] = mapped_column(Integer, default=None)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class JobMetric(IdMixin, Base):
    """One point of a job's curves. Unique per (job, step): a resumed attempt that re-runs an
    epoch replaces that epoch's point instead of duplicating it."""

    __tablename__ = "job_metrics"
    __table_args__ = (UniqueConstraint("job_id", "step", name="uq_job_metrics_step"),)

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    attempt_number: Mapped[int] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer)
    epoch: Mapped[int | None] = mapped_column(Integer, default=None)
    values: Mapped[dict[str, float]] = mapped_column(JSON)
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobLog(Base):
    """A trainer's log line. (attempt, sequence) is unique: a re-sent batch is not stored twice."""

    __tablename__ = "job_logs"
    __table_args__ = (
        UniqueConstraint("attempt_id", "sequence", name="uq_job_logs_attempt_sequence"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    attempt_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job_attempts.id", ondelete="CASCADE"))
    attempt_number: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(BigInteger)
    level: Mapped[str] = mapped_column(String(10), index=True)
    message: Mapped[str] = mapped_column(Text)
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    logged_at: Mapped[datetime] = mapped_column(index=True)
    source: Mapped[str] = mapped_column(String(16), default="trainer")


class JobReport(Base):
    """Sequence numbers of lifecycle reports already applied, per attempt: the SDK re-sends
    after network failures, and each report must take effect exactly once."""

    __tablename__ = "job_reports"

    attempt_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("job_attempts.id", ondelete="CASCADE"), primary_key=True
    )
    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class JobCheckpoint(IdMixin, CreatedAtMixin, Base):
    """A stored checkpoint. `best` and `last` are one row each per job (replaced as training
    goes on); `epoch` checkpoints are kept per epoch."""

    __tablename__ = "job_checkpoints"
    __table_args__ = (
        UniqueConstraint("job_id", "kind", "epoch", name="uq_job_checkpoints_kind_epoch"),
        CheckConstraint("kind IN ('best', 'last', 'epoch')", name="kind_known"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    attempt_number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))
    # -1 for best/last (a unique constraint treats NULLs as distinct, so no NULL here).
    epoch: Mapped[int] = mapped_column(Integer, default=-1)
    trained_epoch: Mapped[int | None] = mapped_column(Integer, default=None)
    object_key: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    metrics: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)


class Event(Base):
    """The outbox of live events (status changes, metrics, logs, checkpoints). Producers insert
    in the same transaction as the change; the WebSocket hub tails this table. A broker
    (Redis, PostgreSQL LISTEN/NOTIFY) can replace the tailing without touching producers."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    project_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    job_id: Mapped[uuid.UUID | None] = mapped_column(default=None, index=True)
    type: Mapped[str] = mapped_column(String(40))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Worker(CreatedAtMixin, Base):
    """A job worker process, by its stable name; `last_seen_at` is its own heartbeat."""

    __tablename__ = "workers"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    queues: Mapped[list[str]] = mapped_column(JSON)
    resources: Mapped[dict[str, Any]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
