"""API keys: `lfk_<prefix>_<secret>`. The prefix finds the row; only the secret's hash is stored."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from lensforge.auth.access_events import announce_access_change
from lensforge.auth.policy import is_valid_scope, normalize_scope, scopes_cover
from lensforge.auth.repository import ApiKeyRepository
from lensforge.auth.tokens import hash_secret, new_secret, secrets_equal
from lensforge.errors import Conflict, Forbidden, NotFound, Unauthorized, ValidationFailed
from lensforge.kit.types import utcnow
from lensforge.models import ApiKey

KEY_MARKER = "lfk_"
_PREFIX_LENGTH = 12


@dataclass(frozen=True, slots=True)
class CreatedApiKey:
    key: ApiKey
    secret: str  # shown to the user exactly once


def looks_like_api_key(token: str) -> bool:
    return token.startswith(KEY_MARKER)


def create_api_key(
    session: Session,
    *,
    organization_id: uuid.UUID,
    user_id: uuid.UUID,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
    created_by_key: ApiKey | None = None,
) -> CreatedApiKey:
    """A new key for `user_id`. When the caller is itself an API key (`created_by_key`), the new
    key gets at most that key's scopes and lives no longer than it: a key never makes a key
    that is more than itself."""
    scopes = [normalize_scope(scope) for scope in scopes]
    bad = [scope for scope in scopes if not is_valid_scope(scope)]
    if bad:
        raise ValidationFailed(
            f"unknown scope(s): {', '.join(bad)}; "
            "use '*', 'resource:verb', 'resource:*' or '*:verb'",
            details={
                "fields": [{"field": "body.scopes", "message": f"unknown scope {s!r}"} for s in bad]
            },
            code="invalid_scope",
        )
    if expires_at is not None and expires_at <= utcnow():
        raise ValidationFailed(
            "expires_at must be in the future",
            details={"fields": [{"field": "body.expires_at", "message": "in the past"}]},
        )
    if created_by_key is not None:
        expires_at = _within_creator(created_by_key, scopes, expires_at)
    prefix = secrets.token_hex(_PREFIX_LENGTH // 2)
    secret = new_secret()
    key = ApiKeyRepository(session).add(
        ApiKey(
            organization_id=organization_id,
            user_id=user_id,
            name=name,
            prefix=prefix,
            secret_hash=hash_secret(secret),
            scopes=sorted(set(scopes)),
            expires_at=expires_at,
        )
    )
    return CreatedApiKey(key=key, secret=f"{KEY_MARKER}{prefix}_{secret}")


def _within_creator(
    creator: ApiKey, scopes: list[str], expires_at: datetime | None
) -> datetime | None:
    """The new key's expiry, after refusing scopes or an expiry beyond the creating key's."""
    wider = scopes_cover(creator.scopes, scopes)
    if wider:
        raise Forbidden(
            f"an API key can only create keys within its own scopes ({', '.join(creator.scopes)});"
            f" not covered: {', '.join(wider)}",
            details={"scopes": wider, "allowed": list(creator.scopes)},
            code="scope_exceeds_creator",
        )
    if creator.expires_at is None:
        return expires_at
    if expires_at is None:
        return creator.expires_at  # inherits the creator's end rather than outliving it
    if expires_at > creator.expires_at:
        raise Forbidden(
            "an API key cannot create a key that outlives it: "
            f"expires_at must be at most {creator.expires_at.isoformat()}",
            details={"fields": [{"field": "body.expires_at", "message": "after the creator's"}]},
            code="expiry_exceeds_creator",
        )
    return expires_at


def resolve_api_key(session: Session, token: str) -> ApiKey:
    """The live key matching `token`, or Unauthorized with the precise reason."""
    body = token.removeprefix(KEY_MARKER)
    prefix, sep, secret = body.partition("_")
    if not sep or len(prefix) != _PREFIX_LENGTH or not secret:
        raise Unauthorized("the API key is malformed", code="api_key_invalid")
    key = ApiKeyRepository(session).get_by_prefix(prefix)
    if key is None or not secrets_equal(key.secret_hash, hash_secret(secret)):
        raise Unauthorized("the API key is not valid", code="api_key_invalid")
    if key.revoked_at is not None:
        raise Unauthorized("the API key has been revoked", code="api_key_revoked")
    if key.expires_at is not None and key.expires_at <= utcnow():
        raise Unauthorized("the API key has expired", code="api_key_expired")
    return key


def revoke_api_key(session: Session, key: ApiKey) -> ApiKey:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        session.flush()
        announce_access_change(session, key.organization_id)
    return key


def get_api_key(session: Session, organization_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey:
    key = ApiKeyRepository(session).get(key_id)
    if key is None or key.organization_id != organization_id:
        raise NotFound("no such API key")
    return key


# Rotation: how long the replaced key keeps working by default, and at most.
DEFAULT_ROTATION_OVERLAP_SECONDS = 86_400
MAX_ROTATION_OVERLAP_SECONDS = 90 * 86_400


def rotate_api_key(
    session: Session,
    old: ApiKey,
    *,
    overlap_seconds: int | None = None,
    old_expires_at: datetime | None = None,
    expires_at: datetime | None = None,
    created_by_key: ApiKey | None = None,
) -> CreatedApiKey:
    """A new key with the old one's owner, name, scopes and deployments; the old one keeps
    working for `overlap_seconds` (default a day; 0: it ends now) or until `old_expires_at`,
    never later than it would have, so clients can switch without an outage. Refused as
    `create_api_key` would refuse the same key."""
    now = utcnow()
    if old_expires_at is None:
        overlap = DEFAULT_ROTATION_OVERLAP_SECONDS if overlap_seconds is None else overlap_seconds
        old_expires_at = now + timedelta(seconds=overlap)
    if old.revoked_at is not None:
        raise Conflict("a revoked key cannot be rotated", code="api_key_revoked")
    if old.expires_at is not None and old.expires_at <= now:
        raise Conflict("an expired key cannot be rotated", code="api_key_expired")
    successor = session.scalar(select(ApiKey.id).where(ApiKey.rotated_from_id == old.id))
    if successor is not None:
        raise Conflict(
            "this key was already rotated; rotate its successor instead",
            code="api_key_already_rotated",
            details={"successor_id": str(successor)},
        )
    try:
        old_expires_at = old_expires_at.astimezone(UTC)
    except OverflowError as exc:  # an offset that pushes it past the year 9999
        raise ValidationFailed(
            "old_expires_at is out of range",
            details={"fields": [{"field": "body.old_expires_at", "message": "out of range"}]},
        ) from exc
    if old_expires_at < now:
        raise ValidationFailed(
            "old_expires_at must not be in the past",
            details={"fields": [{"field": "body.old_expires_at", "message": "in the past"}]},
        )
    created = create_api_key(
        session,
        organization_id=old.organization_id,
        user_id=old.user_id,
        name=old.name,
        scopes=list(old.scopes),
        expires_at=expires_at,
        created_by_key=created_by_key,
    )
    created.key.deployment_ids = list(old.deployment_ids) if old.deployment_ids else None
    created.key.rotated_from_id = old.id
    old.expires_at = min(old.expires_at, old_expires_at) if old.expires_at else old_expires_at
    session.flush()
    announce_access_change(session, old.organization_id)
    return created
