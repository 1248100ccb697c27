"""Browser sessions: the web UI's login, carried by cookies instead of a bearer header.

The session cookie holds a refresh token (opaque, stored hashed, revocable: logout revokes its
whole family). It is httpOnly, so page scripts never see it; SameSite=Lax, and Secure whenever
the server is reached over HTTPS. It is not rotated on use: rotation would race between the
parallel requests of one page.

Cookies ride along on requests another site makes, so a cookie-authenticated request that
changes anything must also prove it comes from our own pages (double-submit CSRF token): the
`X-CSRF-Token` header (or the `csrf_token` form field) must equal the CSRF cookie, which only
scripts of our own origin can read. The token is also bound to the session it was issued for
(`<nonce>.<HMAC(server secret, session, nonce)>`), so a cookie/header pair an attacker planted
or copied from another session (or from before login) is refused: a matching pair is not enough.

Over HTTPS both cookies carry the `__Host-` prefix: the browser then only accepts them Secure,
for the whole host and from the host itself, so a sibling subdomain or a plain-HTTP response
cannot plant or overwrite them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from sqlalchemy.orm import Session
from starlette.requests import HTTPConnection

from lensforge.auth.policy import Role
from lensforge.auth.principal import Principal
from lensforge.auth.repository import (
    MembershipRepository,
    RefreshTokenRepository,
    UserRepository,
)
from lensforge.auth.tokens import hash_secret, secrets_equal
from lensforge.errors import Forbidden, Unauthorized
from lensforge.kit.types import utcnow

SESSION_COOKIE = "lensforge_session"
CSRF_COOKIE = "lensforge_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SECURE_COOKIE_PREFIX = "__Host-"
# Domain separation: the server secret also signs JWTs and storage links.
_CSRF_KEY_LABEL = b"lensforge-csrf-v1"


def cookie_name(base: str, *, secure: bool) -> str:
    """The cookie's name as sent to a browser: `__Host-` prefixed over HTTPS."""
    return f"{SECURE_COOKIE_PREFIX}{base}" if secure else base


def is_secure(connection: HTTPConnection) -> bool:
    return connection.url.scheme in ("https", "wss")


def read_cookie(connection: HTTPConnection, base: str) -> str | None:
    """The cookie under the name this request's scheme uses; over HTTPS the unprefixed name (which
    a subdomain or an HTTP response could have planted) is ignored."""
    return connection.cookies.get(cookie_name(base, secure=is_secure(connection)))


def _csrf_mac(secret: str, session_token: str | None, nonce: str) -> str:
    key = hmac.new(secret.encode(), _CSRF_KEY_LABEL, hashlib.sha256).digest()
    # The session is named by its hash, as stored; no session (login and sign-up forms) is "".
    session_id = hash_secret(session_token) if session_token else ""
    return hmac.new(key, f"{session_id}:{nonce}".encode(), hashlib.sha256).hexdigest()


def new_csrf_token(secret: str, session_token: str | None) -> str:
    """A CSRF token valid only alongside `session_token` (None: before login)."""
    nonce = secrets.token_urlsafe(16)
    return f"{nonce}.{_csrf_mac(secret, session_token, nonce)}"


def csrf_token_valid(secret: str, session_token: str | None, token: str | None) -> bool:
    if not token:
        return False
    nonce, _, mac = token.partition(".")
    if not nonce or not mac:
        return False
    return secrets_equal(mac, _csrf_mac(secret, session_token, nonce))


def resolve_session(session: Session, session_token: str) -> Principal:
    """The principal a session cookie stands for, or Unauthorized (logged out, expired,
    no longer a member, disabled)."""
    token = RefreshTokenRepository(session).get_by_hash(hash_secret(session_token))
    if token is None or token.revoked_at is not None:
        raise Unauthorized("your session has ended; log in again", code="session_invalid")
    if token.expires_at <= utcnow():
        raise Unauthorized("your session has expired; log in again", code="session_expired")
    user = UserRepository(session).get(token.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("this account is disabled or no longer exists", code="account_disabled")
    membership = MembershipRepository(session).get(token.organization_id, token.user_id)
    if membership is None:
        raise Unauthorized("you are no longer a member of this organization", code="not_a_member")
    return Principal(
        user_id=token.user_id,
        organization_id=token.organization_id,
        role=Role(membership.role),
    )


def check_csrf(
    method: str,
    cookie_value: str | None,
    submitted: str | None,
    *,
    secret: str,
    session_token: str | None,
) -> None:
    """Refuse a state-changing, cookie-authenticated request unless the submitted token matches
    the CSRF cookie and was issued for this very session."""
    if method.upper() in SAFE_METHODS:
        return
    if (
        not cookie_value
        or not submitted
        or not secrets_equal(cookie_value, submitted)
        or not csrf_token_valid(secret, session_token, submitted)
    ):
        raise Forbidden(
            f"missing or wrong {CSRF_HEADER}: reload the page and try again",
            code="csrf_failed",
        )
