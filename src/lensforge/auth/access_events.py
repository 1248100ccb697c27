"""Announcing that someone's access in an organization changed (a member removed, a role
lowered, a project membership ended, an API key revoked).

The announcement goes through the live-event outbox, in the same transaction as the change, so
that every server process's open WebSockets of that organization re-check their access at once
instead of at their next periodic check (see `lensforge.realtime.api`). It is never sent to
clients.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from lensforge.kit.types import utcnow
from lensforge.models import Event

ACCESS_CHANGED = "access_changed"


def announce_access_change(session: Session, organization_id: uuid.UUID) -> None:
    session.add(
        Event(
            organization_id=organization_id,
            project_id=None,
            job_id=None,
            type=ACCESS_CHANGED,
            payload={"type": ACCESS_CHANGED},
            created_at=utcnow(),
        )
    )
