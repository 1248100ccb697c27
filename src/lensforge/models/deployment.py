"""Deployments: a model version served as a live prediction endpoint (docs/serving.md).

A deployment belongs to a project and keeps the history of the model versions it served; the
one answering now is `current_version`. Usage records are kept apart from the deployment rows
(no foreign key): they are the bill, and survive the deployment's deletion.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column, validates

from lensforge.kit.names import name_key
from lensforge.kit.types import utcnow
from lensforge.models.base import Base, CreatedAtMixin, IdMixin

# A deployment's state follows its current version's: `creating` while the model is exported
# and verified on the way, then `ready` or `failed`.
DEPLOYMENT_STATUSES = ("creating", "ready", "failed")


class Deployment(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("organization_id", "name_key", name="uq_deployments_org_name_key"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    # The model name of the inference protocol: unique in the organization, ignoring case, and
    # URL-safe (`[A-Za-z0-9][A-Za-z0-9._-]*`, checked by the service).
    name: Mapped[str] = mapped_column(String(64))
    name_key: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="creating")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    # Deactivated deployments keep everything but answer no prediction.
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # `DeploymentVersion.number` of the version answering now (None until the first is ready).
    current_version: Mapped[int | None] = mapped_column(Integer, default=None)
    # Dynamic batching: at most this many requests run as one batch, the first one waiting at
    # most `max_queue_delay_ms` for others; more than `queue_limit` waiting answers 503.
    max_batch_size: Mapped[int] = mapped_column(Integer, default=8)
    max_queue_delay_ms: Mapped[float] = mapped_column(Float, default=2.0)
    queue_limit: Mapped[int] = mapped_column(Integer, default=64)
    # Token bucket per API key on this deployment (None: the server's default).
    rate_limit_per_second: Mapped[float | None] = mapped_column(Float, default=None)
    rate_limit_burst: Mapped[int | None] = mapped_column(Integer, default=None)
    # Defaults of the image API's parameters (conf, iou, max_det, imgsz).
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # Bumped on every change the serving replicas must notice (version, active, settings).
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    @validates("name")
    def _keep_name_key(self, _key: str, name: str) -> str:
        self.name_key = name_key(name)
        return name


class DeploymentVersion(IdMixin, CreatedAtMixin, Base):
    """One model version a deployment served or serves: the verified export it answers with,
    who deployed it and when. Rows are never rewritten after they are ready: a rollback points
    the deployment back at an old number."""

    __tablename__ = "deployment_versions"
    __table_args__ = (
        UniqueConstraint("deployment_id", "number", name="uq_deployment_versions_number"),
    )

    deployment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="creating")
    status_reason: Mapped[str] = mapped_column(Text, default="")
    # The training job the model comes from, and its verified export (made on the way when the
    # deployment was created from the job).
    source_job_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="SET NULL"), default=None, index=True
    )
    export_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("model_exports.id", ondelete="SET NULL"), default=None, index=True
    )
    # Copied from the export once it is verified, so that serving needs no join and the file
    # stays identified even if the export row goes.
    format: Mapped[str] = mapped_column(String(32), default="onnx")
    artifact_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    # What the pre/post-processing needs: task, class names, input size, keypoint shape.
    task: Mapped[str] = mapped_column(String(32), default="")
    class_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    model_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    # When it last became the current version (deploy, update or rollback).
    activated_at: Mapped[datetime | None] = mapped_column(default=None)


class UsageRecord(Base):
    """One answered (or refused) prediction request: the meter. Written by the serving
    replicas from their local journal, idempotently (the request id is the key)."""

    __tablename__ = "usage_records"
    __table_args__ = (
        Index("ix_usage_records_org_created", "organization_id", "created_at"),
        Index("ix_usage_records_deployment_created", "deployment_id", "created_at"),
    )

    request_id: Mapped[uuid.UUID] = mapped_column(Uuid(), primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(Uuid())
    project_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    deployment_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    deployment_name: Mapped[str] = mapped_column(String(64), default="")
    version: Mapped[int | None] = mapped_column(Integer, default=None)
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(Uuid(), default=None)
    # `image` (POST /v1/infer) or `v2` (the inference protocol) or `ui` (the try-it form).
    route: Mapped[str] = mapped_column(String(16))
    status: Mapped[int] = mapped_column(Integer)
    error_code: Mapped[str | None] = mapped_column(String(64), default=None)
    images: Mapped[int] = mapped_column(Integer, default=0)
    bytes_in: Mapped[int] = mapped_column(BigInteger, default=0)
    bytes_out: Mapped[int] = mapped_column(BigInteger, default=0)
    queue_ms: Mapped[float] = mapped_column(Float, default=0.0)
    compute_ms: Mapped[float] = mapped_column(Float, default=0.0)
    total_ms: Mapped[float] = mapped_column(Float, default=0.0)
    batch_size: Mapped[int] = mapped_column(Integer, default=0)
    replica: Mapped[str] = mapped_column(String(128), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
