"""API keys: shown once, stored hashed, scoped, expiring, revocable."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select

from lensforge.auth.tokens import hash_secret
from lensforge.config import Settings
from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.models import ApiKey
from tests.fixtures.app import add_to_organization, sign_up


def _create(client: TestClient, headers: dict[str, str], **body: object) -> dict[str, object]:
    response = client.post("/api/v1/api-keys", json={"name": "ci", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_key_works_as_bearer_and_x_api_key(client: TestClient) -> None:
    account = sign_up(client)
    created = _create(client, account.headers)
    secret = str(created["secret"])
    assert secret.startswith("lfk_")
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.status_code == 200
    assert me.json()["via_api_key"] is True
    assert client.get("/api/v1/auth/me", headers={"X-API-Key": secret}).status_code == 200


def test_secret_is_shown_once_and_stored_hashed(client: TestClient, settings: Settings) -> None:
    account = sign_up(client)
    created = _create(client, account.headers)
    listed = client.get("/api/v1/api-keys", headers=account.headers).json()
    assert len(listed) == 1
    assert "secret" not in listed[0]
    engine = create_db_engine(settings.database_url)
    with create_session_factory(engine)() as session:
        row = session.scalars(select(ApiKey)).one()
        secret = str(created["secret"])
        assert secret.split("_", 2)[2] not in row.secret_hash
        assert row.secret_hash == hash_secret(secret.split("_", 2)[2])
    engine.dispose()


def test_revoked_key_is_refused(client: TestClient) -> None:
    account = sign_up(client)
    created = _create(client, account.headers)
    revoked = client.delete(f"/api/v1/api-keys/{created['id']}", headers=account.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    response = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {created['secret']}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_revoked"


def test_expired_key_is_refused(client: TestClient, settings: Settings) -> None:
    account = sign_up(client)
    created = _create(client, account.headers)
    engine = create_db_engine(settings.database_url)
    with create_session_factory(engine)() as session:
        row = session.get(ApiKey, __import__("uuid").UUID(str(created["id"])))
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.commit()
    engine.dispose()
    response = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {created['secret']}"}
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "api_key_expired"


def test_expiry_in_the_past_is_rejected(client: TestClient) -> None:
    account = sign_up(client)
    response = client.post(
        "/api/v1/api-keys",
        json={"name": "old", "expires_at": "2000-01-01T00:00:00Z"},
        headers=account.headers,
    )
    assert response.status_code == 422


def test_tampered_key_is_refused(client: TestClient) -> None:
    account = sign_up(client)
    secret = str(_create(client, account.headers)["secret"])
    tampered = secret[:-2] + ("AA" if not secret.endswith("AA") else "BB")
    for token in (tampered, "lfk_short", "lfk_000000000000_nope"):
        response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, token


def test_scopes_narrow_the_role(client: TestClient) -> None:
    account = sign_up(client)
    read_only = str(_create(client, account.headers, scopes=["*:read"])["secret"])
    headers = {"Authorization": f"Bearer {read_only}"}
    assert client.get("/api/v1/projects", headers=headers).status_code == 200
    denied = client.post("/api/v1/projects", json={"name": "nope"}, headers=headers)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "scope_denied"
    projects_only = str(_create(client, account.headers, scopes=["project:*"])["secret"])
    created = client.post(
        "/api/v1/projects",
        json={"name": "ok"},
        headers={"Authorization": f"Bearer {projects_only}"},
    )
    assert created.status_code == 201


def test_unknown_scope_is_rejected(client: TestClient) -> None:
    account = sign_up(client)
    response = client.post(
        "/api/v1/api-keys", json={"name": "x", "scopes": ["rocket:launch"]}, headers=account.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_scope"


def test_keys_of_another_organization_cannot_be_revoked(client: TestClient) -> None:
    alice = sign_up(client)
    mallory = sign_up(client)
    key = _create(client, alice.headers)
    response = client.delete(f"/api/v1/api-keys/{key['id']}", headers=mallory.headers)
    assert response.status_code == 404
    assert client.get("/api/v1/api-keys", headers=mallory.headers).json() == []


def _key_headers(created: dict[str, object]) -> dict[str, str]:
    return {"Authorization": f"Bearer {created['secret']}"}


def test_a_key_of_any_scope_cannot_switch_organization(client: TestClient) -> None:
    """The attack: a `*:read` key asked for a token pair and got an unrestricted admin login,
    in its own organization and in another one of its owner's."""
    account = sign_up(client)
    other = sign_up(client)
    add_to_organization(client, other, account, "admin")
    for scopes in (["*:read"], ["*"], ["organization:*"], ["*:*"]):
        key = _key_headers(_create(client, account.headers, scopes=scopes))
        for organization_id in (account.organization_id, other.organization_id):
            response = client.post(
                "/api/v1/auth/switch-organization",
                json={"organization_id": organization_id},
                headers=key,
            )
            assert response.status_code == 403, (scopes, response.text)
            assert response.json()["error"]["code"] == "api_key_not_allowed"
            assert "access_token" not in response.text
    # An interactive login still switches.
    switched = client.post(
        "/api/v1/auth/switch-organization",
        json={"organization_id": other.organization_id},
        headers=account.headers,
    )
    assert switched.status_code == 200, switched.text


def test_no_scope_can_name_the_minting_action(client: TestClient) -> None:
    account = sign_up(client)
    response = client.post(
        "/api/v1/api-keys",
        json={"name": "ci", "scopes": ["session:switch"]},
        headers=account.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_scope"


def test_a_key_creates_keys_only_within_its_own_scopes(client: TestClient) -> None:
    """The attack: a key scoped `api_key:manage` created a `*` key."""
    account = sign_up(client)
    manager = _key_headers(_create(client, account.headers, scopes=["api_key:manage"]))
    for wider in (["*"], ["*:manage"], ["api_key:*"], ["dataset:import"], ["api_key:manag?"]):
        response = client.post(
            "/api/v1/api-keys", json={"name": "wider", "scopes": wider}, headers=manager
        )
        assert response.status_code == 403, (wider, response.text)
        assert response.json()["error"]["code"] == "scope_exceeds_creator"
    same = client.post(
        "/api/v1/api-keys", json={"name": "same", "scopes": ["api_key:manage"]}, headers=manager
    )
    assert same.status_code == 201, same.text
    assert same.json()["scopes"] == ["api_key:manage"]
    # A pattern key hands on narrower patterns and single actions of its own.
    datasets = _key_headers(
        _create(client, account.headers, scopes=["dataset:*", "api_key:manage"])
    )
    for narrower in (["dataset:import"], ["dataset:*"], ["dataset:read", "api_key:manage"]):
        response = client.post(
            "/api/v1/api-keys", json={"name": "narrow", "scopes": narrower}, headers=datasets
        )
        assert response.status_code == 201, (narrower, response.text)
    # An interactive login is not narrowed.
    assert _create(client, account.headers, scopes=["*"])["scopes"] == ["*"]


def test_a_key_cannot_create_a_key_that_outlives_it(client: TestClient) -> None:
    account = sign_up(client)
    ends = datetime.now(UTC) + timedelta(days=1)
    creator = _key_headers(
        _create(client, account.headers, scopes=["*"], expires_at=ends.isoformat())
    )
    later = client.post(
        "/api/v1/api-keys",
        json={"name": "later", "expires_at": (ends + timedelta(days=30)).isoformat()},
        headers=creator,
    )
    assert later.status_code == 403, later.text
    assert later.json()["error"]["code"] == "expiry_exceeds_creator"
    forever = client.post("/api/v1/api-keys", json={"name": "forever"}, headers=creator)
    assert forever.status_code == 201, forever.text
    inherited = datetime.fromisoformat(forever.json()["expires_at"])
    assert abs((inherited - ends).total_seconds()) < 1
    sooner = client.post(
        "/api/v1/api-keys",
        json={"name": "sooner", "expires_at": (ends - timedelta(hours=1)).isoformat()},
        headers=creator,
    )
    assert sooner.status_code == 201, sooner.text
