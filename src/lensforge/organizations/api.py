"""Routes: /organizations (yours, the current one, its members and invitations, and the
invitations addressed to you)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import EmailStr, Field

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action, Role
from lensforge.auth.principal import Principal
from lensforge.auth.schemas import MembershipRead, OrganizationRead
from lensforge.dependencies import SessionDep, SettingsDep
from lensforge.kit.schemas import Schema
from lensforge.models import Membership, User
from lensforge.organizations.invitations import InvitationService
from lensforge.organizations.service import OrganizationService

router = APIRouter(prefix="/organizations", tags=["organizations"])


class OrganizationUpdate(Schema):
    name: str = Field(min_length=1, max_length=200)


class MemberRead(Schema):
    user_id: uuid.UUID
    email: str
    display_name: str
    role: Role
    joined_at: datetime


class MemberAdd(Schema):
    email: EmailStr
    role: Role


class InvitationRead(Schema):
    id: uuid.UUID
    email: str
    role: Role
    created_at: datetime
    expires_at: datetime


class MyInvitationRead(Schema):
    id: uuid.UUID
    organization: OrganizationRead
    role: Role
    created_at: datetime
    expires_at: datetime


class MemberUpdate(Schema):
    role: Role


def _member(membership: Membership, user: User) -> MemberRead:
    return MemberRead(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=Role(membership.role),
        joined_at=membership.created_at,
    )


@router.get("/current", response_model=OrganizationRead)
def current(
    session: SessionDep, principal: Principal = requires(Action.ORGANIZATION_READ)
) -> OrganizationRead:
    return OrganizationRead.model_validate(OrganizationService(session).current(principal))


@router.patch("/current", response_model=OrganizationRead)
def rename(
    body: OrganizationUpdate,
    session: SessionDep,
    principal: Principal = requires(Action.ORGANIZATION_UPDATE),
) -> OrganizationRead:
    return OrganizationRead.model_validate(
        OrganizationService(session).rename(principal, body.name)
    )


@router.get("/current/members", response_model=list[MemberRead])
def members(
    session: SessionDep, principal: Principal = requires(Action.MEMBER_READ)
) -> list[MemberRead]:
    return [_member(m, u) for m, u in OrganizationService(session).members(principal)]


@router.post(
    "/current/members",
    response_model=InvitationRead,
    status_code=status.HTTP_202_ACCEPTED,
    responses={409: {"description": "Already a member of this organization"}},
)
def invite_member(
    body: MemberAdd,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.MEMBER_MANAGE),
) -> InvitationRead:
    """Invite a person by e-mail to join with a role. The answer is the same whether or not the
    address has an account; the person becomes a member only by accepting
    (`POST /organizations/invitations/{id}/accept`)."""
    invitation = InvitationService(session, settings).invite(principal, body.email, body.role)
    return InvitationRead.model_validate(invitation)


@router.get("/current/invitations", response_model=list[InvitationRead])
def pending_invitations(
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.MEMBER_READ),
) -> list[InvitationRead]:
    """Invitations of this organization not yet accepted, declined or expired."""
    invitations = InvitationService(session, settings).pending(principal)
    return [InvitationRead.model_validate(i) for i in invitations]


@router.delete("/current/invitations/{invitation_id}", status_code=status.HTTP_204_NO_CONTENT)
def withdraw_invitation(
    invitation_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.MEMBER_MANAGE),
) -> None:
    InvitationService(session, settings).cancel(principal, invitation_id)


@router.get("/invitations", response_model=list[MyInvitationRead])
def my_invitations(
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.INVITATION_RESPOND),
) -> list[MyInvitationRead]:
    """Invitations addressed to your e-mail, from any organization."""
    return [
        MyInvitationRead(
            id=invitation.id,
            organization=OrganizationRead.model_validate(organization),
            role=Role(invitation.role),
            created_at=invitation.created_at,
            expires_at=invitation.expires_at,
        )
        for invitation, organization in InvitationService(session, settings).mine(principal)
    ]


@router.post("/invitations/{invitation_id}/accept", response_model=MembershipRead)
def accept_invitation(
    invitation_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.INVITATION_RESPOND),
) -> MembershipRead:
    """Join the inviting organization with the role offered (then switch to it to act there)."""
    membership, organization = InvitationService(session, settings).accept(principal, invitation_id)
    return MembershipRead(
        organization=OrganizationRead.model_validate(organization), role=Role(membership.role)
    )


@router.post("/invitations/{invitation_id}/decline", status_code=status.HTTP_204_NO_CONTENT)
def decline_invitation(
    invitation_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.INVITATION_RESPOND),
) -> None:
    InvitationService(session, settings).decline(principal, invitation_id)


@router.patch("/current/members/{user_id}", response_model=MemberRead)
def change_role(
    user_id: uuid.UUID,
    body: MemberUpdate,
    session: SessionDep,
    principal: Principal = requires(Action.MEMBER_MANAGE),
) -> MemberRead:
    return _member(*OrganizationService(session).change_role(principal, user_id, body.role))


@router.delete("/current/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    user_id: uuid.UUID, session: SessionDep, principal: Principal = requires(Action.MEMBER_MANAGE)
) -> None:
    OrganizationService(session).remove_member(principal, user_id)
