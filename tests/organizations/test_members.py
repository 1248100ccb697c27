"""Organization members and the rules around roles."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures.app import member_with_role, sign_up


def test_admin_adds_and_changes_members(client: TestClient) -> None:
    admin = sign_up(client)
    other = sign_up(client)
    added = client.post(
        "/api/v1/organizations/current/members",
        json={"email": other.email, "role": "guest"},
        headers=admin.headers,
    )
    assert added.status_code == 201
    changed = client.patch(
        f"/api/v1/organizations/current/members/{other.user_id}",
        json={"role": "advanced_engineer"},
        headers=admin.headers,
    )
    assert changed.json()["role"] == "advanced_engineer"
    members = client.get("/api/v1/organizations/current/members", headers=admin.headers).json()
    assert {(m["email"], m["role"]) for m in members} == {
        (admin.email, "admin"),
        (other.email, "advanced_engineer"),
    }


def test_unknown_role_is_422(client: TestClient) -> None:
    admin = sign_up(client)
    other = sign_up(client)
    response = client.post(
        "/api/v1/organizations/current/members",
        json={"email": other.email, "role": "overlord"},
        headers=admin.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"]["fields"][0]["field"] == "body.role"


def test_adding_unknown_email_or_twice(client: TestClient) -> None:
    admin = sign_up(client)
    missing = client.post(
        "/api/v1/organizations/current/members",
        json={"email": "nobody@example.com", "role": "guest"},
        headers=admin.headers,
    )
    assert missing.status_code == 404
    other = sign_up(client)
    body = {"email": other.email, "role": "guest"}
    assert (
        client.post(
            "/api/v1/organizations/current/members", json=body, headers=admin.headers
        ).status_code
        == 201
    )
    again = client.post("/api/v1/organizations/current/members", json=body, headers=admin.headers)
    assert again.status_code == 409


def test_manager_cannot_make_or_touch_admins(client: TestClient) -> None:
    admin = sign_up(client)
    manager = member_with_role(client, admin, "manager")
    other = sign_up(client)
    response = client.post(
        "/api/v1/organizations/current/members",
        json={"email": other.email, "role": "admin"},
        headers=manager.headers,
    )
    assert response.status_code == 403
    demote = client.patch(
        f"/api/v1/organizations/current/members/{admin.user_id}",
        json={"role": "guest"},
        headers=manager.headers,
    )
    assert demote.status_code == 403
    ok = client.post(
        "/api/v1/organizations/current/members",
        json={"email": other.email, "role": "standard_engineer"},
        headers=manager.headers,
    )
    assert ok.status_code == 201


def test_last_admin_cannot_leave_or_be_demoted(client: TestClient) -> None:
    admin = sign_up(client)
    demote = client.patch(
        f"/api/v1/organizations/current/members/{admin.user_id}",
        json={"role": "manager"},
        headers=admin.headers,
    )
    assert demote.status_code == 409
    assert demote.json()["error"]["code"] == "last_admin"
    remove = client.delete(
        f"/api/v1/organizations/current/members/{admin.user_id}", headers=admin.headers
    )
    assert remove.status_code == 409


def test_rename_organization_admin_only(client: TestClient) -> None:
    admin = sign_up(client)
    manager = member_with_role(client, admin, "manager")
    assert (
        client.patch(
            "/api/v1/organizations/current", json={"name": "New"}, headers=manager.headers
        ).status_code
        == 403
    )
    renamed = client.patch(
        "/api/v1/organizations/current", json={"name": "New"}, headers=admin.headers
    )
    assert renamed.json()["name"] == "New"


def test_members_of_another_organization_are_invisible(client: TestClient) -> None:
    alice = sign_up(client)
    mallory = sign_up(client)
    members = client.get("/api/v1/organizations/current/members", headers=mallory.headers).json()
    assert [m["email"] for m in members] == [mallory.email]
    response = client.patch(
        f"/api/v1/organizations/current/members/{alice.user_id}",
        json={"role": "guest"},
        headers=mallory.headers,
    )
    assert response.status_code == 404
