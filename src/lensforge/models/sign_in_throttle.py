from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from lensforge.models.base import Base


class SignInThrottle(Base):
    """Recent failed sign-ins of one account or one client address. Kept in the database, not
    in memory, because several server processes share one database and an attacker may reach
    any of them. The subject is stored hashed: addresses and e-mails typed by strangers are
    nobody's business."""

    __tablename__ = "sign_in_throttles"

    subject_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "account" or "client"
    failures: Mapped[int] = mapped_column(default=0)
    last_failure_at: Mapped[datetime] = mapped_column(index=True)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
