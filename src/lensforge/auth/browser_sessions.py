"""Browser sessions: the web UI's login, carried by cookies instead of a bearer header.

The session cookie holds a refresh token (opaque, stored hashed, revocable: logout revokes its
whole family). It is httpOnly, so page scripts never see it; SameSite=Lax, and Secure whenever
the server is reached over HTTPS. It is not rotated on use: rotation would race between the
parallel requests of one page.

Cookies ride along on requests another site makes, so a cookie-authenticated request that
changes anything must also prove it comes from our own pages (double-submit CSRF token): the
`X-CSRF-Token` header (or the `csrf_token` form field) must equal the CSRF cookie, which only
scripts of our own origin can read.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

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


def check_csrf(method: str, cookie_value: str | None, submitted: str | None) -> None:
    """Refuse a state-changing, cookie-authenticated request without the matching token."""
    if method.upper() in SAFE_METHODS:
        return
    if not cookie_value or not submitted or not secrets_equal(cookie_value, submitted):
        raise Forbidden(
            f"missing or wrong {CSRF_HEADER}: reload the page and try again",
            code="csrf_failed",
        )
