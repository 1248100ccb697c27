from __future__ import annotations

import uuid

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lensforge.models.base import Base, CreatedAtMixin, IdMixin

ROLE_NAMES = ("admin", "manager", "advanced_engineer", "standard_engineer", "guest")


class Membership(IdMixin, CreatedAtMixin, Base):
    """A user's role in one organization."""

    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("organization_id", "user_id", name="uq_memberships_org_user"),
        CheckConstraint(
            "role IN ('admin', 'manager', 'advanced_engineer', 'standard_engineer', 'guest')",
            name="role_known",
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(32))
