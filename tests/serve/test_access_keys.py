"""Serving keys: API keys and access tokens, checked against the real database, cached briefly."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from lensforge.auth.policy import Action, Role
from lensforge.auth.tokens import issue_access_token
from lensforge.config import Settings
from lensforge.models import ApiKey, Membership
from lensforge.serve.access import Caller, KeyVerifier
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
from tests.serve.ops_support import add_key, add_member, load_key, sessions, wait_until

__all__ = ["sessions"]  # the fixture


def _verifier(
    sessions: sessionmaker[Session], settings: Settings, cache_seconds: float
) -> KeyVerifier:
    tuned = settings.model_copy(
        update={"serving": settings.serving.model_copy(update={"key_cache_seconds": cache_seconds})}
    )
    return KeyVerifier(sessions, tuned)


def _refusal(verifier: KeyVerifier, secret: str) -> ServingError | None:
    try:
        verifier.verify(f"Bearer {secret}", None)
    except ServingError as exc:
        return exc
    return None


def test_an_api_key_by_bearer_or_x_api_key_is_its_owner(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "standard_engineer")
    deployment = str(uuid.uuid4())
    key_id, secret = add_key(sessions, member, deployment_ids=[deployment])
    verifier = _verifier(sessions, settings, 2.0)
    expected = Caller(
        key_id=key_id,
        user_id=member.user_id,
        organization_id=member.organization_id,
        role=Role.STANDARD_ENGINEER,
        scopes=("deployment:infer",),
        deployment_ids=frozenset({deployment}),
    )
    assert verifier.verify(f"Bearer {secret}", None) == expected
    assert verifier.verify(None, secret) == expected
    assert verifier.verify(f"bearer   {secret} ", None) == expected


def test_missing_malformed_and_unknown_credentials_are_refused(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    verifier = _verifier(sessions, settings, 2.0)
    with pytest.raises(ApiKeyMissing) as missing:
        verifier.verify(None, None)
    assert (missing.value.status_code, missing.value.code) == (401, "api_key_missing")
    with pytest.raises(ApiKeyMissing):
        verifier.verify("", "  ")
    with pytest.raises(ApiKeyInvalid):
        verifier.verify("Basic dXNlcjpwYXNz", None)
    with pytest.raises(ApiKeyInvalid):
        verifier.verify("Bearer lfk_0123456789ab_not-the-secret", None)
    with pytest.raises(ApiKeyInvalid):
        verifier.verify("Bearer lfk_short", None)
    with pytest.raises(ApiKeyInvalid) as forged:
        verifier.verify("Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl", None)
    assert forged.value.code == "api_key_invalid"


def test_a_signed_in_users_access_token_is_accepted_without_scopes(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "guest")
    token, _ = issue_access_token(
        settings.secret_key,
        user_id=member.user_id,
        organization_id=member.organization_id,
        ttl_seconds=60,
    )
    caller = _verifier(sessions, settings, 2.0).verify(f"Bearer {token}", None)
    assert caller == Caller(
        key_id=None,
        user_id=member.user_id,
        organization_id=member.organization_id,
        role=Role.GUEST,
        scopes=None,
        deployment_ids=None,
    )
    expired, _ = issue_access_token(
        settings.secret_key,
        user_id=member.user_id,
        organization_id=member.organization_id,
        ttl_seconds=-10,
    )
    with pytest.raises(ApiKeyExpired):
        _verifier(sessions, settings, 2.0).verify(f"Bearer {expired}", None)


def test_revocation_takes_effect_once_the_cache_window_passes(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "standard_engineer")
    key_id, secret = add_key(sessions, member)
    verifier = _verifier(sessions, settings, 1.0)
    assert verifier.verify(f"Bearer {secret}", None).key_id == key_id
    checked_at = time.monotonic()
    with sessions() as session, session.begin():
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
    if time.monotonic() - checked_at < 0.8:  # still inside the window: the cached answer
        assert _refusal(verifier, secret) is None
    assert wait_until(lambda: isinstance(_refusal(verifier, secret), ApiKeyRevoked), timeout=3)
    # Refused once the window has passed (plus this poll's slack).
    assert time.monotonic() - checked_at < 1.0 + 0.5


def test_a_refusal_is_cached_too_then_rechecked(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "standard_engineer")
    key_id, secret = add_key(sessions, member)
    with sessions() as session, session.begin():
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
    verifier = _verifier(sessions, settings, 0.5)
    assert isinstance(_refusal(verifier, secret), ApiKeyRevoked)
    with sessions() as session, session.begin():
        session.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=None))
    # Still the cached refusal right after (the database is not asked again yet)...
    assert isinstance(_refusal(verifier, secret), ApiKeyRevoked)
    # ...and the fresh answer once the window has passed.
    assert wait_until(lambda: _refusal(verifier, secret) is None, timeout=3)


def test_an_expiry_inside_the_cache_window_is_honoured_exactly(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "standard_engineer")
    expires_at = utcnow() + timedelta(seconds=0.6)
    _, secret = add_key(sessions, member, expires_at=expires_at)
    verifier = _verifier(sessions, settings, 3600.0)  # never rechecked during this test
    assert _refusal(verifier, secret) is None
    assert wait_until(lambda: _refusal(verifier, secret) is not None, timeout=3)
    assert utcnow() >= expires_at
    assert isinstance(_refusal(verifier, secret), ApiKeyExpired)


def test_an_expired_key_is_refused_as_expired(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "standard_engineer")
    key_id, secret = add_key(sessions, member)
    with sessions() as session, session.begin():
        session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    refusal = _refusal(_verifier(sessions, settings, 2.0), secret)
    assert isinstance(refusal, ApiKeyExpired)
    assert (refusal.status_code, refusal.code) == (401, "api_key_expired")


def test_a_guests_key_never_runs_predictions(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    guest = add_member(sessions, "guest")
    _, secret = add_key(sessions, guest, scopes=["deployment:infer", "deployment:read"])
    verifier = _verifier(sessions, settings, 2.0)
    caller = verifier.verify(f"Bearer {secret}", None)
    deployment = uuid.uuid4()
    with pytest.raises(PermissionDenied) as denied:
        verifier.authorize(caller, deployment_id=deployment, action=Action.DEPLOYMENT_INFER)
    assert (denied.value.status_code, denied.value.code) == (403, "permission_denied")
    verifier.authorize(caller, deployment_id=deployment, action=Action.DEPLOYMENT_READ)


def test_a_keys_scopes_bound_what_it_may_do(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    engineer = add_member(sessions, "advanced_engineer")
    _, secret = add_key(sessions, engineer, scopes=["deployment:read"])
    verifier = _verifier(sessions, settings, 2.0)
    caller = verifier.verify(f"Bearer {secret}", None)
    with pytest.raises(ScopeDenied) as denied:
        verifier.authorize(caller, deployment_id=uuid.uuid4(), action=Action.DEPLOYMENT_INFER)
    assert (denied.value.status_code, denied.value.code) == (403, "scope_denied")


def test_a_restricted_key_reaches_only_its_deployments(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "standard_engineer")
    mine, other = uuid.uuid4(), uuid.uuid4()
    _, secret = add_key(sessions, member, deployment_ids=[str(mine)])
    verifier = _verifier(sessions, settings, 2.0)
    caller = verifier.verify(f"Bearer {secret}", None)
    verifier.authorize(caller, deployment_id=mine, action=Action.DEPLOYMENT_INFER)
    with pytest.raises(DeploymentNotAllowed) as refused:
        verifier.authorize(caller, deployment_id=other, action=Action.DEPLOYMENT_INFER)
    assert (refused.value.status_code, refused.value.code) == (403, "deployment_not_allowed")


def test_the_owners_current_role_and_membership_decide(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "standard_engineer")
    _, secret = add_key(sessions, member)
    verifier = _verifier(sessions, settings, 0.2)
    deployment = uuid.uuid4()
    verifier.authorize(
        verifier.verify(f"Bearer {secret}", None),
        deployment_id=deployment,
        action=Action.DEPLOYMENT_INFER,
    )
    with sessions() as session, session.begin():
        session.execute(
            update(Membership).where(Membership.user_id == member.user_id).values(role="guest")
        )

    def demoted() -> bool:
        caller = verifier.verify(f"Bearer {secret}", None)
        return caller.role is Role.GUEST

    assert wait_until(demoted, timeout=3)
    with pytest.raises(PermissionDenied):
        verifier.authorize(
            verifier.verify(f"Bearer {secret}", None),
            deployment_id=deployment,
            action=Action.DEPLOYMENT_INFER,
        )
    with sessions() as session, session.begin():
        session.execute(delete(Membership).where(Membership.user_id == member.user_id))
    assert wait_until(lambda: isinstance(_refusal(verifier, secret), ApiKeyInvalid), timeout=3)


def test_last_use_is_recorded_off_the_request_path(
    sessions: sessionmaker[Session], settings: Settings
) -> None:
    member = add_member(sessions, "standard_engineer")
    key_id, secret = add_key(sessions, member)
    assert load_key(sessions, key_id).last_used_at is None
    _verifier(sessions, settings, 2.0).verify(f"Bearer {secret}", None)
    assert wait_until(lambda: load_key(sessions, key_id).last_used_at is not None, timeout=5)


def utcnow() -> datetime:
    return datetime.now(UTC)
