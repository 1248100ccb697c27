"""Organization members, invitations (nobody joins without consenting, and inviting tells
nothing about who has an account) and the rules around roles."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from httpx import Response

from lensforge.kit.db import transaction
from lensforge.models import Invitation
from tests.fixtures.app import Account, add_to_organization, member_with_role, sign_up


def test_admin_adds_and_changes_members(client: TestClient) -> None:
    admin = sign_up(client)
    other = sign_up(client)
    add_to_organization(client, admin, other, "guest")
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


def _invite(client: TestClient, admin: Account, email: str, role: str = "guest") -> Response:
    return client.post(
        "/api/v1/organizations/current/members",
        json={"email": email, "role": role},
        headers=admin.headers,
    )


def _shape(body: dict[str, Any]) -> dict[str, Any]:
    """An invitation's answer without what differs by nature (id, times, the address)."""
    return {k: v for k, v in body.items() if k not in ("id", "created_at", "expires_at", "email")}


def test_inviting_reveals_nothing_about_who_has_an_account(client: TestClient) -> None:
    """The attack: the answer told whether the address had an account (404 or 201)."""
    admin = sign_up(client)
    stranger = sign_up(client)
    known = _invite(client, admin, stranger.email)
    unknown = _invite(client, admin, "nobody-at-all@example.com")
    assert known.status_code == unknown.status_code == 202, (known.text, unknown.text)
    assert _shape(known.json()) == _shape(unknown.json()) == {"role": "guest"}
    assert set(known.json()) == set(unknown.json())
    assert known.headers.keys() == unknown.headers.keys()
    pending = client.get("/api/v1/organizations/current/invitations", headers=admin.headers)
    assert sorted(i["email"] for i in pending.json()) == sorted(
        [stranger.email, "nobody-at-all@example.com"]
    )


def test_nobody_becomes_a_member_without_accepting(client: TestClient) -> None:
    """The attack: an admin attached any existing account to their organization."""
    admin = sign_up(client)
    stranger = sign_up(client)
    assert _invite(client, admin, stranger.email, "standard_engineer").status_code == 202
    members = client.get("/api/v1/organizations/current/members", headers=admin.headers).json()
    assert stranger.email not in {m["email"] for m in members}
    me = client.get("/api/v1/auth/me", headers=stranger.headers).json()
    assert [m["organization"]["id"] for m in me["memberships"]] == [stranger.organization_id]
    switch = client.post(
        "/api/v1/auth/switch-organization",
        json={"organization_id": admin.organization_id},
        headers=stranger.headers,
    )
    assert switch.status_code == 403
    # The person sees the invitation and may decline it: still not a member, invitation gone.
    mine = client.get("/api/v1/organizations/invitations", headers=stranger.headers).json()
    assert [(i["organization"]["id"], i["role"]) for i in mine] == [
        (admin.organization_id, "standard_engineer")
    ]
    declined = client.post(
        f"/api/v1/organizations/invitations/{mine[0]['id']}/decline", headers=stranger.headers
    )
    assert declined.status_code == 204
    assert client.get("/api/v1/organizations/invitations", headers=stranger.headers).json() == []
    members = client.get("/api/v1/organizations/current/members", headers=admin.headers).json()
    assert stranger.email not in {m["email"] for m in members}


def test_accepting_makes_a_member_with_the_role_offered(client: TestClient) -> None:
    admin = sign_up(client)
    invited = _invite(client, admin, "later@example.com", "advanced_engineer")
    # An address without an account: the person signs up later and finds the invitation.
    newcomer = sign_up(client, "Later@example.com")
    mine = client.get("/api/v1/organizations/invitations", headers=newcomer.headers).json()
    assert [i["id"] for i in mine] == [invited.json()["id"]]
    accepted = client.post(
        f"/api/v1/organizations/invitations/{invited.json()['id']}/accept",
        headers=newcomer.headers,
    )
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["organization"]["id"] == admin.organization_id
    assert accepted.json()["role"] == "advanced_engineer"
    members = client.get("/api/v1/organizations/current/members", headers=admin.headers).json()
    assert {m["email"]: m["role"] for m in members}["later@example.com"] == "advanced_engineer"
    assert (
        client.get("/api/v1/organizations/current/invitations", headers=admin.headers).json() == []
    )
    # Inviting a member again is a conflict (the inviter sees the member list anyway).
    again = _invite(client, admin, newcomer.email)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_member"


def test_only_the_addressee_can_answer_an_invitation(client: TestClient) -> None:
    admin = sign_up(client)
    invited = _invite(client, admin, "addressee@example.com").json()
    intruder = sign_up(client)
    for answer in ("accept", "decline"):
        response = client.post(
            f"/api/v1/organizations/invitations/{invited['id']}/{answer}",
            headers=intruder.headers,
        )
        assert response.status_code == 404, response.text
    # Nor with an API key of the addressee: joining an organization takes a person.
    addressee = sign_up(client, "addressee@example.com")
    key = client.post(
        "/api/v1/api-keys", json={"name": "k", "scopes": ["*"]}, headers=addressee.headers
    ).json()["secret"]
    refused = client.post(
        f"/api/v1/organizations/invitations/{invited['id']}/accept",
        headers={"Authorization": f"Bearer {key}"},
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "api_key_not_allowed"


def test_invitations_expire_and_can_be_withdrawn(client: TestClient) -> None:
    admin = sign_up(client)
    person = sign_up(client)
    invitation = _invite(client, admin, person.email).json()
    withdrawn = client.delete(
        f"/api/v1/organizations/current/invitations/{invitation['id']}", headers=admin.headers
    )
    assert withdrawn.status_code == 204
    assert client.get("/api/v1/organizations/invitations", headers=person.headers).json() == []
    invitation = _invite(client, admin, person.email).json()
    with transaction(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        row = session.get(Invitation, uuid.UUID(invitation["id"]))
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    late = client.post(
        f"/api/v1/organizations/invitations/{invitation['id']}/accept", headers=person.headers
    )
    assert late.status_code == 404


def test_inviting_twice_renews_the_invitation(client: TestClient) -> None:
    admin = sign_up(client)
    first = _invite(client, admin, "twice@example.com", "guest").json()
    second = _invite(client, admin, "twice@example.com", "manager").json()
    assert second["id"] == first["id"]
    assert second["role"] == "manager"


def test_manager_cannot_make_or_touch_admins(client: TestClient) -> None:
    admin = sign_up(client)
    manager = member_with_role(client, admin, "manager")
    other = sign_up(client)
    response = _invite(client, manager, other.email, "admin")
    assert response.status_code == 403
    demote = client.patch(
        f"/api/v1/organizations/current/members/{admin.user_id}",
        json={"role": "guest"},
        headers=manager.headers,
    )
    assert demote.status_code == 403
    ok = _invite(client, manager, other.email, "standard_engineer")
    assert ok.status_code == 202


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
