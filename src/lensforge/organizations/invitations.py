"""Joining an organization takes the person's consent: an admin or manager invites an e-mail
with a role, and the person holding an account with that e-mail accepts (or declines).

Inviting answers the same way whether or not the address has an account, so the answer reveals
nothing about who is registered; an address without an account can sign up later and find the
invitation waiting. An invitation expires after `security.invitation_ttl_days`; inviting the
same address again renews it with the new role.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.orm import Session

from lensforge.auth.policy import Role
from lensforge.auth.principal import Principal
from lensforge.auth.repository import MembershipRepository, UserRepository
from lensforge.config import Settings
from lensforge.errors import Conflict, NotFound
from lensforge.kit.types import utcnow
from lensforge.models import Invitation, Membership, Organization
from lensforge.organizations.repository import InvitationRepository
from lensforge.organizations.service import OrganizationService


class InvitationService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.invitations = InvitationRepository(session)
        self.memberships = MembershipRepository(session)
        self.users = UserRepository(session)

    # --- the organization's side ----------------------------------------------------------

    def invite(self, principal: Principal, email: str, role: Role) -> Invitation:
        OrganizationService.check_can_assign(principal, role)
        email = email.strip().lower()
        user = self.users.get_by_email(email)
        if user is not None and self.memberships.get(principal.organization_id, user.id):
            # Not a leak: the inviter can read the member list anyway.
            raise Conflict("this person is already a member", code="already_member")
        expires_at = utcnow() + timedelta(days=self.settings.security.invitation_ttl_days)
        invitation = self.invitations.find(principal.organization_id, email)
        if invitation is None:
            return self.invitations.add(
                Invitation(
                    organization_id=principal.organization_id,
                    email=email,
                    role=role.value,
                    invited_by_id=principal.user_id,
                    expires_at=expires_at,
                )
            )
        invitation.role = role.value
        invitation.invited_by_id = principal.user_id
        invitation.expires_at = expires_at
        self.session.flush()
        return invitation

    def pending(self, principal: Principal) -> list[Invitation]:
        return list(self.invitations.pending_for_organization(principal.organization_id, utcnow()))

    def cancel(self, principal: Principal, invitation_id: uuid.UUID) -> None:
        invitation = self.invitations.get(invitation_id)
        if invitation is None or invitation.organization_id != principal.organization_id:
            raise NotFound("no such invitation")
        OrganizationService.check_can_assign(principal, Role(invitation.role))
        self.invitations.delete(invitation)

    # --- the invited person's side --------------------------------------------------------

    def mine(self, principal: Principal) -> list[tuple[Invitation, Organization]]:
        return list(self.invitations.pending_for_email(self._email_of(principal), utcnow()))

    def accept(
        self, principal: Principal, invitation_id: uuid.UUID
    ) -> tuple[Membership, Organization]:
        invitation, organization = self._mine(principal, invitation_id)
        membership = self.memberships.get(organization.id, principal.user_id)
        if membership is None:
            membership = self.memberships.add(
                Membership(
                    organization_id=organization.id,
                    user_id=principal.user_id,
                    role=invitation.role,
                )
            )
        self.invitations.delete(invitation)
        return membership, organization

    def decline(self, principal: Principal, invitation_id: uuid.UUID) -> None:
        invitation, _ = self._mine(principal, invitation_id)
        self.invitations.delete(invitation)

    def _mine(
        self, principal: Principal, invitation_id: uuid.UUID
    ) -> tuple[Invitation, Organization]:
        for invitation, organization in self.mine(principal):
            if invitation.id == invitation_id:
                return invitation, organization
        # Someone else's, expired or unknown: all alike.
        raise NotFound("no such invitation (it may have expired or been withdrawn)")

    def _email_of(self, principal: Principal) -> str:
        user = self.users.get(principal.user_id)
        if user is None:
            raise NotFound("account not found")
        return user.email.lower()
