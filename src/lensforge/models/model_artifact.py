"""A model file a user uploaded (pretrained weights) to start trainings from. The object is
stored once per content (content-addressed key); a job that starts from it keeps it alive."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lensforge.models.base import Base, CreatedAtMixin, IdMixin


class ModelArtifact(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "model_artifacts"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_model_artifacts_name"),)

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    filename: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(1024))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
