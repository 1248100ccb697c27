from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from lensforge.kit.types import utcnow
from lensforge.models.base import Base, CreatedAtMixin, IdMixin

UPLOAD_STATUSES = ("open", "completing", "completed", "aborted", "expired")


class UploadSession(IdMixin, CreatedAtMixin, Base):
    """A resumable upload of one large file (a dataset archive) sent in numbered parts.

    Parts live in object storage under `uploads/<id>/parts/`; completing assembles them into
    `object_key` and removes them.
    """

    __tablename__ = "upload_sessions"
    __table_args__ = (
        CheckConstraint(
            "status IN ('open', 'completing', 'completed', 'aborted', 'expired')",
            name="status_known",
        ),
        CheckConstraint("total_size > 0 AND part_size > 0", name="sizes_positive"),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    project_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    total_size: Mapped[int] = mapped_column(BigInteger)
    part_size: Mapped[int] = mapped_column(Integer)
    content_type: Mapped[str] = mapped_column(String(255))
    expected_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    status: Mapped[str] = mapped_column(String(16), default="open")
    object_key: Mapped[str | None] = mapped_column(String(1024), default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Pushed forward by every part received; a sweeper may expire sessions past it.
    expires_at: Mapped[datetime] = mapped_column(index=True)


class UploadPart(CreatedAtMixin, Base):
    """One received part; its bytes are the object `uploads/<upload_id>/parts/<number>`."""

    __tablename__ = "upload_parts"
    __table_args__ = (CheckConstraint("part_number >= 1", name="part_number_positive"),)

    upload_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("upload_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    part_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
