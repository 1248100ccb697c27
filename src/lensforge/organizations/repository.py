"""SQL for invitations (memberships themselves live with the other account tables in auth)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lensforge.models import Invitation, Organization


class InvitationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, invitation_id: uuid.UUID) -> Invitation | None:
        return self.session.get(Invitation, invitation_id)

    def find(self, organization_id: uuid.UUID, email: str) -> Invitation | None:
        return self.session.scalar(
            select(Invitation).where(
                Invitation.organization_id == organization_id, Invitation.email == email
            )
        )

    def pending_for_organization(
        self, organization_id: uuid.UUID, now: datetime
    ) -> Sequence[Invitation]:
        return self.session.scalars(
            select(Invitation)
            .where(Invitation.organization_id == organization_id, Invitation.expires_at > now)
            .order_by(Invitation.created_at)
        ).all()

    def pending_for_email(
        self, email: str, now: datetime
    ) -> Sequence[tuple[Invitation, Organization]]:
        rows = self.session.execute(
            select(Invitation, Organization)
            .join(Organization, Organization.id == Invitation.organization_id)
            .where(Invitation.email == email, Invitation.expires_at > now)
            .order_by(Invitation.created_at)
        )
        return [(row[0], row[1]) for row in rows]

    def add(self, invitation: Invitation) -> Invitation:
        self.session.add(invitation)
        self.session.flush()
        return invitation

    def delete(self, invitation: Invitation) -> None:
        self.session.delete(invitation)
        self.session.flush()
