"""Authentication and authorization dependencies. Every route declares `requires(action)` or
`PUBLIC`; a test walks all routes to check it, and checks each role against the policy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from lensforge.auth.api_keys import looks_like_api_key, resolve_api_key
from lensforge.auth.browser_sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    check_csrf,
    read_cookie,
    resolve_session,
)
from lensforge.auth.policy import Action, Role
from lensforge.auth.principal import Principal
from lensforge.auth.repository import ApiKeyRepository, MembershipRepository, UserRepository
from lensforge.auth.tokens import decode_access_token
from lensforge.config import Settings
from lensforge.dependencies import SessionDep, SettingsDep
from lensforge.errors import Unauthorized
from lensforge.kit.types import utcnow

_bearer = HTTPBearer(auto_error=False, description="A JWT access token or an API key (lfk_...)")


def get_principal(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    token = credentials.credentials if credentials is not None else request.headers.get("X-API-Key")
    browser_session = read_cookie(request, SESSION_COOKIE)
    if not token and browser_session:
        # The web UI's pages call the API with their session cookie (see browser_sessions).
        check_csrf(
            request.method,
            read_cookie(request, CSRF_COOKIE),
            request.headers.get(CSRF_HEADER),
            secret=settings.secret_key,
            session_token=browser_session,
        )
        principal = resolve_session(session, browser_session)
    else:
        principal = resolve_principal(session, settings, token)
    request.state.principal = principal
    return principal


def resolve_principal(session: Session, settings: Settings, token: str | None) -> Principal:
    """A JWT access token or an API key → who is calling, or Unauthorized with the precise
    reason. Shared by HTTP routes and WebSockets (which carry the token in the URL or a first
    message, since browsers cannot set their headers)."""
    if not token:
        raise Unauthorized(
            "authentication required: send 'Authorization: Bearer <token>'",
            code="not_authenticated",
        )
    if looks_like_api_key(token):
        key = resolve_api_key(session, token)
        user_id, organization_id = key.user_id, key.organization_id
        key.last_used_at = utcnow()
        api_key_id, scopes = key.id, tuple(key.scopes)
    else:
        claims = decode_access_token(settings.secret_key, token)
        user_id, organization_id = claims.user_id, claims.organization_id
        api_key_id, scopes = None, None
    user = UserRepository(session).get(user_id)
    if user is None or not user.is_active:
        raise Unauthorized("this account is disabled or no longer exists", code="account_disabled")
    membership = MembershipRepository(session).get(organization_id, user_id)
    if membership is None:
        raise Unauthorized("you are no longer a member of this organization", code="not_a_member")
    return Principal(
        user_id=user_id,
        organization_id=organization_id,
        role=Role(membership.role),
        api_key_id=api_key_id,
        scopes=scopes,
    )


def recheck_principal(session: Session, principal: Principal) -> Principal:
    """`principal` as it stands now, for a connection that outlives its authentication (a
    WebSocket): the account still active, still a member (with today's role), the API key
    still live. Not the access token's expiry: the connection was admitted while it held."""
    user = UserRepository(session).get(principal.user_id)
    if user is None or not user.is_active:
        raise Unauthorized("this account is disabled or no longer exists", code="account_disabled")
    membership = MembershipRepository(session).get(principal.organization_id, principal.user_id)
    if membership is None:
        raise Unauthorized("you are no longer a member of this organization", code="not_a_member")
    scopes = principal.scopes
    if principal.api_key_id is not None:
        key = ApiKeyRepository(session).get(principal.api_key_id)
        if key is None or key.revoked_at is not None:
            raise Unauthorized("the API key has been revoked", code="api_key_revoked")
        if key.expires_at is not None and key.expires_at <= utcnow():
            raise Unauthorized("the API key has expired", code="api_key_expired")
        scopes = tuple(key.scopes)
    return Principal(
        user_id=principal.user_id,
        organization_id=principal.organization_id,
        role=Role(membership.role),
        api_key_id=principal.api_key_id,
        scopes=scopes,
    )


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def requires(action: Action) -> Any:
    """A dependency that admits only principals whose role (and key scopes) allow `action`."""

    def check(principal: CurrentPrincipal) -> Principal:
        principal.require(action)
        return principal

    check.lensforge_action = action  # type: ignore[attr-defined]  # read by the policy test
    return Depends(check)


def _public() -> None:
    """Marks a route as deliberately reachable without authentication."""


_public.lensforge_public = True  # type: ignore[attr-defined]
PUBLIC: Any = Depends(_public)


def route_action(dependency_call: Callable[..., Any]) -> Action | None:
    action: Action | None = getattr(dependency_call, "lensforge_action", None)
    return action
