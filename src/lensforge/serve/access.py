"""Who calls the serving API, and may they: API keys (`lfk_...`) and signed-in users' access
tokens, checked against the database and cached briefly.

A replica checks each credential at most once per `settings.serving.key_cache_seconds`
(successes and failures alike, keyed by a hash of the token, never the token), so a revoked
key stops working on every replica within that time without a database query per request.
An expiry inside that window is still honoured to the second: the cached entry carries the
expiry and it is compared with the clock on every use.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from lensforge.auth.api_keys import looks_like_api_key, resolve_api_key
from lensforge.auth.policy import Action, Role, role_allows, scopes_allow
from lensforge.auth.repository import MembershipRepository, UserRepository
from lensforge.auth.tokens import decode_access_token
from lensforge.config import Settings
from lensforge.errors import Unauthorized
from lensforge.kit.types import utcnow
from lensforge.models import ApiKey
from lensforge.serving.errors import (
    ApiKeyExpired,
    ApiKeyInvalid,
    ApiKeyMissing,
    ApiKeyRevoked,
    DeploymentNotAllowed,
    PermissionDenied,
    ScopeDenied,
    ServingError,
)

logger = logging.getLogger(__name__)

# `last_used_at` is a hint for people looking at their keys, not an audit log: once a minute
# per key is plenty, and it is written off the request path.
_LAST_USED_EVERY_SECONDS = 60.0
# Bounds memory against a flood of random tokens (each failure is cached too).
_MAX_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Caller:
    """An authenticated caller. `key_id`/`scopes`/`deployment_ids` are None for a signed-in
    user's access token (no narrowing); `role` is the owner's role in `organization_id`."""

    key_id: uuid.UUID | None
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    scopes: tuple[str, ...] | None
    deployment_ids: frozenset[str] | None


@dataclass(frozen=True)
class _Entry:
    checked_at: float  # monotonic
    caller: Caller | None
    # The refusal as its class and message: a fresh exception is raised on each use (re-raising
    # one cached instance would pile up tracebacks).
    error: tuple[type[ServingError], str] | None
    expires_at: datetime | None  # the key's or the access token's


_UNAUTHORIZED_CODES: dict[str, type[ServingError]] = {
    "api_key_revoked": ApiKeyRevoked,
    "api_key_expired": ApiKeyExpired,
    "token_expired": ApiKeyExpired,
}


class KeyVerifier:
    """Turns the `Authorization`/`X-API-Key` headers into a `Caller` and checks the policy."""

    def __init__(self, sessions: sessionmaker[Session], settings: Settings) -> None:
        self._sessions = sessions
        self._secret_key = settings.secret_key
        self._cache_seconds = settings.serving.key_cache_seconds
        self._cache: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self._last_used_written: dict[uuid.UUID, float] = {}

    def verify(self, authorization: str | None, x_api_key: str | None) -> Caller:
        """The caller, or an `ApiKey*` error (401) with the precise reason. Blocking: on a cache
        miss it queries the database, so call it from a worker thread in async code."""
        token = _token(authorization, x_api_key)
        digest = hashlib.sha256(token.encode()).hexdigest()
        now = time.monotonic()
        with self._lock:
            entry = self._cache.get(digest)
        if entry is None or now - entry.checked_at >= self._cache_seconds:
            entry = self._lookup(token, now)
            if self._cache_seconds > 0:
                with self._lock:
                    if len(self._cache) >= _MAX_CACHE_ENTRIES:
                        self._evict(now)
                    self._cache[digest] = entry
        if entry.error is not None:
            error_type, message = entry.error
            raise error_type(message)
        if entry.expires_at is not None and entry.expires_at <= utcnow():
            raise ApiKeyExpired(
                "the API key has expired"
                if entry.caller and entry.caller.key_id
                else "the access token has expired"
            )
        assert entry.caller is not None
        if entry.caller.key_id is not None:
            self._touch(entry.caller.key_id, now)
        return entry.caller

    def authorize(self, caller: Caller, *, deployment_id: uuid.UUID, action: Action) -> None:
        """Raises `DeploymentNotAllowed`, `PermissionDenied` or `ScopeDenied` (403). The
        deployment must already be known to be in the caller's organization."""
        if caller.deployment_ids is not None and str(deployment_id) not in caller.deployment_ids:
            raise DeploymentNotAllowed("this API key is restricted to other deployments")
        if not role_allows(caller.role, action):
            raise PermissionDenied(
                f"the key owner's role '{caller.role.value}' does not allow '{action.value}'"
            )
        if not scopes_allow(list(caller.scopes) if caller.scopes is not None else None, action):
            raise ScopeDenied(f"this API key's scopes do not include '{action.value}'")

    def _lookup(self, token: str, now: float) -> _Entry:
        try:
            caller, expires_at = self._resolve(token)
        except ServingError as exc:
            return _Entry(
                checked_at=now, caller=None, error=(type(exc), exc.message), expires_at=None
            )
        return _Entry(checked_at=now, caller=caller, error=None, expires_at=expires_at)

    def _resolve(self, token: str) -> tuple[Caller, datetime | None]:
        with self._sessions() as session:
            try:
                if looks_like_api_key(token):
                    key = resolve_api_key(session, token)
                    key_id: uuid.UUID | None = key.id
                    user_id, organization_id = key.user_id, key.organization_id
                    scopes: tuple[str, ...] | None = tuple(key.scopes)
                    deployment_ids = (
                        frozenset(key.deployment_ids) if key.deployment_ids is not None else None
                    )
                    expires_at = key.expires_at
                else:
                    claims = decode_access_token(self._secret_key, token)
                    key_id, scopes, deployment_ids = None, None, None
                    user_id, organization_id = claims.user_id, claims.organization_id
                    expires_at = claims.expires_at
            except Unauthorized as exc:
                raise _UNAUTHORIZED_CODES.get(exc.code, ApiKeyInvalid)(exc.message) from exc
            user = UserRepository(session).get(user_id)
            if user is None or not user.is_active:
                raise ApiKeyInvalid("the key's owner is disabled or no longer exists")
            membership = MembershipRepository(session).get(organization_id, user_id)
            if membership is None:
                raise ApiKeyInvalid("the key's owner is no longer a member of its organization")
            caller = Caller(
                key_id=key_id,
                user_id=user_id,
                organization_id=organization_id,
                role=Role(membership.role),
                scopes=scopes,
                deployment_ids=deployment_ids,
            )
        return caller, expires_at

    def _evict(self, now: float) -> None:
        stale = [d for d, e in self._cache.items() if now - e.checked_at >= self._cache_seconds]
        for digest in stale:
            del self._cache[digest]
        if len(self._cache) >= _MAX_CACHE_ENTRIES:
            self._cache.clear()

    def _touch(self, key_id: uuid.UUID, now: float) -> None:
        with self._lock:
            last = self._last_used_written.get(key_id)
            if last is not None and now - last < _LAST_USED_EVERY_SECONDS:
                return
            self._last_used_written[key_id] = now
        threading.Thread(
            target=self._write_last_used, args=(key_id,), name="key-last-used", daemon=True
        ).start()

    def _write_last_used(self, key_id: uuid.UUID) -> None:
        try:
            with self._sessions() as session, session.begin():
                session.execute(
                    update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow())
                )
        except Exception:  # a hint only: never let it disturb serving
            logger.warning("could not record last use of API key %s", key_id, exc_info=True)


def _token(authorization: str | None, x_api_key: str | None) -> str:
    if authorization:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            raise ApiKeyInvalid("the Authorization header must be 'Bearer <API key or token>'")
        return credentials.strip()
    if x_api_key and x_api_key.strip():
        return x_api_key.strip()
    raise ApiKeyMissing(
        "an API key is required: send 'Authorization: Bearer lfk_...' or 'X-API-Key: lfk_...'"
    )
