"""Typed responses of the Lensforge API.

These duplicate the server's response shapes on purpose: the client must install and import
without the server. They ignore fields they do not know, so a newer server does not break an
older client; roles and statuses are plain strings for the same reason.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(Model):
    id: uuid.UUID
    email: str
    display_name: str
    created_at: datetime


class Organization(Model):
    id: uuid.UUID
    name: str
    slug: str
    created_at: datetime


class TokenPair(Model):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105  (the OAuth2 token type, not a secret)
    expires_in: int
    organization_id: uuid.UUID


class SignupResult(Model):
    user: User
    organization: Organization
    tokens: TokenPair


class Membership(Model):
    organization: Organization
    role: str


class Me(Model):
    user: User
    organization: Organization
    role: str
    via_api_key: bool
    scopes: list[str] | None = None
    memberships: list[Membership] = Field(default_factory=list)


class Member(Model):
    """A member of the current organization."""

    user_id: uuid.UUID
    email: str
    display_name: str
    role: str
    joined_at: datetime


class Invitation(Model):
    """An invitation of the current organization, waiting for the person to accept."""

    id: uuid.UUID
    email: str
    role: str
    created_at: datetime
    expires_at: datetime


class MyInvitation(Model):
    """An invitation addressed to you, from `organization`."""

    id: uuid.UUID
    organization: Organization
    role: str
    created_at: datetime
    expires_at: datetime


class Project(Model):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str
    created_by_id: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime


class ProjectMember(Model):
    user_id: uuid.UUID
    email: str
    display_name: str
    added_at: datetime


class ApiKey(Model):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class CreatedApiKey(ApiKey):
    secret: str = Field(description="The full key; the server shows it only once.", repr=False)


class Page(Model, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


class UploadSession(Model):
    """A resumable upload: parts are numbered from 1, all `part_size` bytes but the last.

    `status` is `open` (accepting parts), `completing` (being assembled), `completed`,
    `aborted` or `expired`. Once completed, `sha256` is the assembled file's checksum.
    """

    id: uuid.UUID
    project_id: uuid.UUID
    filename: str
    content_type: str | None = None
    total_size: int
    part_size: int
    part_count: int
    status: str
    expected_sha256: str | None = None
    sha256: str | None = None
    received_parts: list[int] = Field(default_factory=list)
    missing_parts: list[int] = Field(default_factory=list)
    received_bytes: int = 0
    created_at: datetime | None = None
    updated_at: datetime | None = None
    expires_at: datetime | None = None


class UploadPart(Model):
    """A part the server has stored."""

    part_number: int
    size: int
    sha256: str
    created_at: datetime | None = None
