"""Routes: /organizations (yours, the current one, its members)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import EmailStr, Field

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action, Role
from lensforge.auth.principal import Principal
from lensforge.auth.schemas import OrganizationRead
from lensforge.dependencies import SessionDep
from lensforge.kit.schemas import Schema
from lensforge.models import Membership, User
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


@router.post("/current/members", response_model=MemberRead, status_code=status.HTTP_201_CREATED)
def add_member(
    body: MemberAdd, session: SessionDep, principal: Principal = requires(Action.MEMBER_MANAGE)
) -> MemberRead:
    """Add an existing account to this organization with a role."""
    return _member(*OrganizationService(session).add_member(principal, body.email, body.role))


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
