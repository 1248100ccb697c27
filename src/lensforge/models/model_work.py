"""What a user sees of the model work done by export and inference jobs: the exported artifact
with its verification report, and an inference run's inputs and results. Their status is their
job's (one lifecycle for every kind of work, see `TrainingJob.kind`)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lensforge.models.base import Base, CreatedAtMixin, IdMixin


class ModelExport(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "model_exports"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    source_job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    # The export job that produces it (its status is the export's status).
    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), unique=True
    )
    checkpoint: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(32))
    options: Mapped[dict[str, Any]] = mapped_column(JSON)
    artifact_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    size_bytes: Mapped[int | None] = mapped_column(BigInteger, default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    verification: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )


class InferenceRun(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "inference_runs"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    source_job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), unique=True
    )
    # {"checkpoint": "best"|"last"} or {"export_id": "<uuid>"}
    source: Mapped[dict[str, Any]] = mapped_column(JSON)
    # {"conf", "iou", "max_det", "imgsz"}
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # "upload": images stored for this run; "dataset": images of a dataset version.
    input_origin: Mapped[str] = mapped_column(String(16))
    # [{"name", "sha256", "width", "height"}], in the order results are expected.
    images: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    image_count: Mapped[int] = mapped_column(Integer)
    results_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    result_count: Mapped[int | None] = mapped_column(Integer, default=None)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
