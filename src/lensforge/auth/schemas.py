from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import EmailStr, Field

from lensforge.auth.policy import Role
from lensforge.kit.schemas import Schema


class SignupRequest(Schema):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    display_name: str = Field(min_length=1, max_length=200)
    organization_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="Name of the organization created for you; defaults to your display name.",
    )


class LoginRequest(Schema):
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    organization_id: uuid.UUID | None = Field(
        default=None, description="Organization to act in; defaults to your first one."
    )


class RefreshRequest(Schema):
    refresh_token: str = Field(min_length=1, max_length=512)


class SwitchOrganizationRequest(Schema):
    organization_id: uuid.UUID


class TokenPair(Schema):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int
    organization_id: uuid.UUID


class UserRead(Schema):
    id: uuid.UUID
    email: str
    display_name: str
    created_at: datetime


class OrganizationRead(Schema):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime


class MembershipRead(Schema):
    organization: OrganizationRead
    role: Role


class SignupResponse(Schema):
    user: UserRead
    organization: OrganizationRead
    tokens: TokenPair


class Me(Schema):
    user: UserRead
    organization: OrganizationRead
    role: Role
    via_api_key: bool
    scopes: list[str] | None
    memberships: list[MembershipRead]
