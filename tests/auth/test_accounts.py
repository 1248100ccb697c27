"""Sign-up, login, refresh, logout, /me, and every bad-input case of the issue, on both databases."""

from __future__ import annotations

import base64
import json
import time

import jwt
from fastapi.testclient import TestClient

from lensforge.config import Settings
from tests.fixtures.app import STRONG_PASSWORD, add_to_organization, login, sign_up


def test_signup_creates_user_and_organization_as_admin(client: TestClient) -> None:
    account = sign_up(client, "Ada@Example.com", organization_name="Analytical Engines")
    me = client.get("/api/v1/auth/me", headers=account.headers).json()
    assert me["user"]["email"] == "ada@example.com"
    assert me["organization"]["name"] == "Analytical Engines"
    assert me["organization"]["slug"] == "analytical-engines"
    assert me["role"] == "admin"
    assert me["via_api_key"] is False
    assert [m["role"] for m in me["memberships"]] == ["admin"]


def test_duplicate_email_is_409_case_insensitively(client: TestClient) -> None:
    sign_up(client, "grace@example.com")
    response = client.post(
        "/api/v1/auth/signup",
        json={"email": "GRACE@example.com", "password": STRONG_PASSWORD, "display_name": "G"},
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "email_taken"


def test_weak_password_is_422_with_reasons(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/signup",
        json={"email": "weak@example.com", "password": "password", "display_name": "W"},
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "weak_password"
    assert "at least" in error["message"]
    assert "commonly used" in error["message"]


def test_invalid_body_gives_field_level_errors(client: TestClient) -> None:
    response = client.post("/api/v1/auth/signup", json={"email": "not-an-email", "password": ""})
    assert response.status_code == 422
    fields = {f["field"] for f in response.json()["error"]["details"]["fields"]}
    assert {"body.email", "body.password", "body.display_name"} <= fields


def test_malformed_json_is_422_not_500(client: TestClient) -> None:
    response = client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_login_wrong_password_and_unknown_email_are_indistinguishable(client: TestClient) -> None:
    sign_up(client, "known@example.com")
    wrong = client.post(
        "/api/v1/auth/login", json={"email": "known@example.com", "password": "nope"}
    )
    unknown = client.post(
        "/api/v1/auth/login", json={"email": "who@example.com", "password": "nope"}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["error"] == unknown.json()["error"]


def test_login_then_me(client: TestClient) -> None:
    created = sign_up(client, "lin@example.com")
    account = login(client, "LIN@example.com")
    assert account.user_id == created.user_id
    assert account.organization_id == created.organization_id


def test_refresh_rotates_and_reuse_revokes_the_session(client: TestClient) -> None:
    account = sign_up(client)
    first = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert first.status_code == 200
    new_refresh = first.json()["refresh_token"]
    # The old token was rotated away: presenting it again looks like theft.
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert replay.status_code == 401
    assert replay.json()["error"]["code"] == "token_revoked"
    # ...and the whole session family died with it.
    after = client.post("/api/v1/auth/refresh", json={"refresh_token": new_refresh})
    assert after.status_code == 401


def test_logout_revokes_refresh_token(client: TestClient) -> None:
    account = sign_up(client)
    assert (
        client.post(
            "/api/v1/auth/logout", json={"refresh_token": account.refresh_token}
        ).status_code
        == 204
    )
    response = client.post("/api/v1/auth/refresh", json={"refresh_token": account.refresh_token})
    assert response.status_code == 401
    # Logging out twice is fine.
    assert (
        client.post(
            "/api/v1/auth/logout", json={"refresh_token": account.refresh_token}
        ).status_code
        == 204
    )


def test_missing_token_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_forged_token_is_401(client: TestClient) -> None:
    account = sign_up(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})
    forged = jwt.encode(
        claims, "some-other-secret-that-is-long-enough-0123456789", algorithm="HS256"
    )
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_invalid"


def test_alg_none_token_is_401(client: TestClient) -> None:
    account = sign_up(client)
    claims = jwt.decode(account.access_token, options={"verify_signature": False})

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    token = f"{header}.{b64(json.dumps(claims).encode())}."
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_expired_token_is_401(client: TestClient, settings: Settings) -> None:
    from lensforge.auth.tokens import issue_access_token

    account = sign_up(client)
    import uuid

    token, _ = issue_access_token(
        settings.secret_key,
        user_id=uuid.UUID(account.user_id),
        organization_id=uuid.UUID(account.organization_id),
        ttl_seconds=-10,
    )
    response = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_expired"


def test_garbage_bearer_is_401(client: TestClient) -> None:
    response = client.get("/api/v1/auth/me", headers={"Authorization": "Bearer abc.def"})
    assert response.status_code == 401


def test_switch_organization(client: TestClient) -> None:
    admin = sign_up(client)
    other = sign_up(client)
    add_to_organization(client, admin, other, "guest")
    switched = client.post(
        "/api/v1/auth/switch-organization",
        json={"organization_id": admin.organization_id},
        headers=other.headers,
    )
    assert switched.status_code == 200
    me = client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {switched.json()['access_token']}"}
    ).json()
    assert me["organization"]["id"] == admin.organization_id
    assert me["role"] == "guest"
    # An organization you do not belong to is refused.
    third = sign_up(client)
    refused = client.post(
        "/api/v1/auth/switch-organization",
        json={"organization_id": third.organization_id},
        headers=other.headers,
    )
    assert refused.status_code == 403


def test_signup_can_be_disabled(client: TestClient, settings: Settings) -> None:
    settings.security.allow_signup = False
    response = client.post(
        "/api/v1/auth/signup",
        json={"email": "late@example.com", "password": STRONG_PASSWORD, "display_name": "L"},
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "signup_disabled"


def test_removed_member_loses_access_immediately(client: TestClient) -> None:
    admin = sign_up(client)
    other = sign_up(client)
    add_to_organization(client, admin, other, "standard_engineer")
    member = login(client, other.email, admin.organization_id)
    assert client.get("/api/v1/projects", headers=member.headers).status_code == 200
    removed = client.delete(
        f"/api/v1/organizations/current/members/{member.user_id}", headers=admin.headers
    )
    assert removed.status_code == 204
    time.sleep(0)  # the check is per request; no cache to wait for
    assert client.get("/api/v1/projects", headers=member.headers).status_code == 401
