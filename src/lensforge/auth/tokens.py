"""Access tokens (short-lived JWT, HS256) and opaque secrets (refresh tokens, API keys).

Only HS256 is accepted when decoding, so `alg: none` and algorithm-confusion tokens are refused.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from lensforge.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = "lensforge"
ACCESS_AUDIENCE = "lensforge:access"


@dataclass(frozen=True, slots=True)
class AccessClaims:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    expires_at: datetime


def _jwt_key(secret: str) -> bytes:
    # Domain separation: the same server secret also signs storage links, with another label.
    return hmac.new(secret.encode(), b"lensforge-jwt-v1", hashlib.sha256).digest()


def issue_access_token(
    secret: str, *, user_id: uuid.UUID, organization_id: uuid.UUID, ttl_seconds: int
) -> tuple[str, datetime]:
    now = datetime.now(UTC)
    expires_at = now + timedelta(seconds=ttl_seconds)
    payload = {
        "sub": str(user_id),
        "org": str(organization_id),
        "iss": ISSUER,
        "aud": ACCESS_AUDIENCE,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(payload, _jwt_key(secret), algorithm=ALGORITHM), expires_at


def decode_access_token(secret: str, token: str) -> AccessClaims:
    try:
        payload = jwt.decode(
            token,
            _jwt_key(secret),
            algorithms=[ALGORITHM],
            audience=ACCESS_AUDIENCE,
            issuer=ISSUER,
            options={"require": ["exp", "iat", "sub", "org", "aud", "iss"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the access token has expired", code="token_expired") from exc
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"the access token is not valid: {exc}", code="token_invalid") from exc
    try:
        return AccessClaims(
            user_id=uuid.UUID(payload["sub"]),
            organization_id=uuid.UUID(payload["org"]),
            expires_at=datetime.fromtimestamp(payload["exp"], UTC),
        )
    except (ValueError, TypeError) as exc:
        raise Unauthorized("the access token is not valid", code="token_invalid") from exc


def new_secret(nbytes: int = 32) -> str:
    return secrets.token_urlsafe(nbytes)


def hash_secret(value: str) -> str:
    """Refresh tokens and API keys are high-entropy, so a fast hash is enough (unlike passwords)."""
    return hashlib.sha256(value.encode()).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
