"""Projects, their members, visibility by role, and isolation between organizations."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient

from tests.fixtures.app import member_with_role, sign_up


def test_create_list_get_update_delete(client: TestClient) -> None:
    admin = sign_up(client)
    created = client.post(
        "/api/v1/projects", json={"name": "Raccoons", "description": "d"}, headers=admin.headers
    )
    assert created.status_code == 201
    project = created.json()
    listed = client.get("/api/v1/projects", headers=admin.headers).json()
    assert listed["total"] == 1
    assert listed["items"][0]["id"] == project["id"]
    updated = client.patch(
        f"/api/v1/projects/{project['id']}", json={"name": "Raccoons v2"}, headers=admin.headers
    )
    assert updated.json()["name"] == "Raccoons v2"
    assert (
        client.delete(f"/api/v1/projects/{project['id']}", headers=admin.headers).status_code == 204
    )
    assert client.get(f"/api/v1/projects/{project['id']}", headers=admin.headers).status_code == 404


def test_duplicate_project_name_is_409(client: TestClient) -> None:
    admin = sign_up(client)
    client.post("/api/v1/projects", json={"name": "P"}, headers=admin.headers)
    response = client.post("/api/v1/projects", json={"name": "p"}, headers=admin.headers)
    assert response.status_code == 409


def test_other_organization_cannot_see_or_touch_a_project(client: TestClient) -> None:
    alice = sign_up(client)
    mallory = sign_up(client)
    project = client.post("/api/v1/projects", json={"name": "secret"}, headers=alice.headers).json()
    pid = project["id"]
    assert client.get("/api/v1/projects", headers=mallory.headers).json()["total"] == 0
    for method, path, body in [
        ("GET", f"/api/v1/projects/{pid}", None),
        ("PATCH", f"/api/v1/projects/{pid}", {"name": "pwned"}),
        ("DELETE", f"/api/v1/projects/{pid}", None),
        ("GET", f"/api/v1/projects/{pid}/members", None),
        ("POST", f"/api/v1/projects/{pid}/members", {"user_id": mallory.user_id}),
    ]:
        response = client.request(method, path, json=body, headers=mallory.headers)
        assert response.status_code == 404, (method, path, response.text)
    assert client.get(f"/api/v1/projects/{pid}", headers=alice.headers).json()["name"] == "secret"


def test_engineers_see_only_their_projects_managers_see_all(client: TestClient) -> None:
    admin = sign_up(client)
    engineer = member_with_role(client, admin, "standard_engineer")
    manager = member_with_role(client, admin, "manager")
    admins = client.post("/api/v1/projects", json={"name": "admins"}, headers=admin.headers).json()
    own = client.post("/api/v1/projects", json={"name": "own"}, headers=engineer.headers).json()
    names = [
        p["name"] for p in client.get("/api/v1/projects", headers=engineer.headers).json()["items"]
    ]
    assert names == ["own"]
    assert (
        client.get(f"/api/v1/projects/{admins['id']}", headers=engineer.headers).status_code == 404
    )
    names = [
        p["name"] for p in client.get("/api/v1/projects", headers=manager.headers).json()["items"]
    ]
    assert names == ["admins", "own"]
    # Adding the engineer as a member makes the project visible to them.
    added = client.post(
        f"/api/v1/projects/{admins['id']}/members",
        json={"user_id": engineer.user_id},
        headers=manager.headers,
    )
    assert added.status_code == 201
    assert (
        client.get(f"/api/v1/projects/{admins['id']}", headers=engineer.headers).status_code == 200
    )
    members = client.get(
        f"/api/v1/projects/{admins['id']}/members", headers=engineer.headers
    ).json()
    assert {m["email"] for m in members} == {admin.email, engineer.email}
    removed = client.delete(
        f"/api/v1/projects/{admins['id']}/members/{engineer.user_id}", headers=manager.headers
    )
    assert removed.status_code == 204
    assert (
        client.get(f"/api/v1/projects/{admins['id']}", headers=engineer.headers).status_code == 404
    )
    _ = own


def test_cannot_add_outsider_as_project_member(client: TestClient) -> None:
    admin = sign_up(client)
    outsider = sign_up(client)
    project = client.post("/api/v1/projects", json={"name": "x"}, headers=admin.headers).json()
    response = client.post(
        f"/api/v1/projects/{project['id']}/members",
        json={"user_id": outsider.user_id},
        headers=admin.headers,
    )
    assert response.status_code == 404


def test_unknown_and_malformed_ids(client: TestClient) -> None:
    admin = sign_up(client)
    assert client.get(f"/api/v1/projects/{uuid.uuid4()}", headers=admin.headers).status_code == 404
    assert client.get("/api/v1/projects/not-a-uuid", headers=admin.headers).status_code == 422


def test_pagination_bounds(client: TestClient) -> None:
    admin = sign_up(client)
    for i in range(3):
        client.post("/api/v1/projects", json={"name": f"p{i}"}, headers=admin.headers)
    page = client.get("/api/v1/projects?limit=2&offset=1", headers=admin.headers).json()
    assert [p["name"] for p in page["items"]] == ["p1", "p2"]
    assert page["total"] == 3
    assert client.get("/api/v1/projects?limit=0", headers=admin.headers).status_code == 422
