"""A plot or table a trainer reported about a job (PR curve, confusion matrix, sample
predictions, per-class metrics): shown on the job page. One row per (job, name); reporting the
same name again replaces it (a re-sent upload, or a resumed attempt's newer evaluation)."""

from __future__ import annotations

import uuid

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lensforge.models.base import Base, CreatedAtMixin, IdMixin

ARTIFACT_KINDS = ("plot", "table")


class JobArtifact(IdMixin, CreatedAtMixin, Base):
    __tablename__ = "job_artifacts"
    __table_args__ = (
        UniqueConstraint("job_id", "name", name="uq_job_artifacts_name"),
        CheckConstraint("kind IN ('plot', 'table')", name="kind_known"),
    )

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("training_jobs.id", ondelete="CASCADE"), index=True
    )
    attempt_number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(50))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    object_key: Mapped[str] = mapped_column(String(1024))
