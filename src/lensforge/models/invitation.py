from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lensforge.models.base import Base, CreatedAtMixin, IdMixin


class Invitation(IdMixin, CreatedAtMixin, Base):
    """An offer to join an organization with a role, addressed to an e-mail. Nobody becomes a
    member without accepting it; whether the address has an account is never told."""

    __tablename__ = "invitations"
    __table_args__ = (
        UniqueConstraint("organization_id", "email", name="uq_invitations_org_email"),
        CheckConstraint(
            "role IN ('admin', 'manager', 'advanced_engineer', 'standard_engineer', 'guest')",
            name="role_known",
        ),
    )

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(String(320), index=True)  # lower-cased
    role: Mapped[str] = mapped_column(String(32))
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), default=None
    )
    expires_at: Mapped[datetime]
