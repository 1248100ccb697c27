"""Routes: /api-keys (create: the secret is shown once; list; revoke; rotate)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import Field, model_validator

from lensforge.auth.api_keys import (
    DEFAULT_ROTATION_OVERLAP_SECONDS,
    MAX_ROTATION_OVERLAP_SECONDS,
    create_api_key,
    get_api_key,
    revoke_api_key,
    rotate_api_key,
)
from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action, Role
from lensforge.auth.principal import Principal
from lensforge.auth.repository import ApiKeyRepository
from lensforge.dependencies import SessionDep
from lensforge.errors import Conflict, NotFound
from lensforge.kit.schemas import Schema, UtcDateTime
from lensforge.openapi_errors import error_responses

router = APIRouter(prefix="/api-keys", tags=["api-keys"])


class ApiKeyCreate(Schema):
    name: str = Field(min_length=1, max_length=200)
    scopes: list[str] = Field(
        default_factory=lambda: ["*"],
        max_length=50,
        description="Actions this key may perform, e.g. ['*'], ['*:read'], ['dataset:*'].",
    )
    expires_at: UtcDateTime | None = Field(
        default=None, description="Optional expiry; without a timezone offset it is read as UTC."
    )


class ApiKeyRead(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    scopes: list[str]
    user_id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    deployment_ids: list[str] | None = Field(
        default=None, description="The only deployments this key reaches (null: any)."
    )
    rotated_from_id: uuid.UUID | None = Field(
        default=None, description="The key this one replaced by rotation."
    )


class ApiKeyCreated(ApiKeyRead):
    secret: str = Field(description="The full key. It is shown only in this response.")


class ApiKeyRotate(Schema):
    overlap_seconds: int | None = Field(
        default=None,
        ge=0,
        le=MAX_ROTATION_OVERLAP_SECONDS,
        description=f"How long the old key keeps working (default "
        f"{DEFAULT_ROTATION_OVERLAP_SECONDS}; 0: it stops now).",
    )
    old_expires_at: UtcDateTime | None = Field(
        default=None, description="Instead of an overlap: when the old key stops working."
    )
    expires_at: UtcDateTime | None = Field(default=None, description="The new key's expiry.")

    @model_validator(mode="after")
    def _one_end(self) -> ApiKeyRotate:
        if self.overlap_seconds is not None and self.old_expires_at is not None:
            raise ValueError("give overlap_seconds or old_expires_at, not both")
        return self


@router.post("", response_model=ApiKeyCreated, status_code=status.HTTP_201_CREATED)
def create(
    body: ApiKeyCreate, session: SessionDep, principal: Principal = requires(Action.API_KEY_MANAGE)
) -> ApiKeyCreated:
    """Create a key (at most the caller's own scopes and lifetime when the caller is a key)."""
    creator = (
        ApiKeyRepository(session).get(principal.api_key_id)
        if principal.api_key_id is not None
        else None
    )
    created = create_api_key(
        session,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
        created_by_key=creator,
    )
    return ApiKeyCreated(
        **ApiKeyRead.model_validate(created.key).model_dump(), secret=created.secret
    )


@router.get("", response_model=list[ApiKeyRead])
def list_keys(
    session: SessionDep, principal: Principal = requires(Action.API_KEY_READ)
) -> list[ApiKeyRead]:
    """Your keys; an admin sees every key of the organization."""
    owner = None if principal.role is Role.ADMIN else principal.user_id
    keys = ApiKeyRepository(session).list(principal.organization_id, owner)
    return [ApiKeyRead.model_validate(key) for key in keys]


@router.delete("/{key_id}", response_model=ApiKeyRead)
def revoke(
    key_id: uuid.UUID, session: SessionDep, principal: Principal = requires(Action.API_KEY_MANAGE)
) -> ApiKeyRead:
    """Revoke a key at once. Admins may revoke anyone's key in the organization."""
    key = get_api_key(session, principal.organization_id, key_id)
    if key.user_id != principal.user_id and principal.role is not Role.ADMIN:
        raise NotFound("no such API key")
    return ApiKeyRead.model_validate(revoke_api_key(session, key))


@router.post(
    "/{key_id}/rotate",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(Conflict),
)
def rotate(
    key_id: uuid.UUID,
    session: SessionDep,
    body: ApiKeyRotate | None = None,
    principal: Principal = requires(Action.API_KEY_MANAGE),
) -> ApiKeyCreated:
    """A new key with the same name, scopes and deployments (its secret shown once); the old
    key keeps working until the end of the overlap, then answers `api_key_expired`."""
    body = body or ApiKeyRotate()
    key = get_api_key(session, principal.organization_id, key_id)
    if key.user_id != principal.user_id and principal.role is not Role.ADMIN:
        raise NotFound("no such API key")
    if key.deployment_ids is not None:
        principal.require(Action.DEPLOYMENT_MANAGE)  # as making a deployment's key needs
    creator = (
        ApiKeyRepository(session).get(principal.api_key_id)
        if principal.api_key_id is not None
        else None
    )
    created = rotate_api_key(
        session,
        key,
        overlap_seconds=body.overlap_seconds,
        old_expires_at=body.old_expires_at,
        expires_at=body.expires_at,
        created_by_key=creator,
    )
    return ApiKeyCreated(
        **ApiKeyRead.model_validate(created.key).model_dump(), secret=created.secret
    )
