"""The client against a real server: accounts, projects, API keys, automatic token refresh."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from lensforge.client import (
    AuthenticationError,
    LensforgeClient,
    Project,
    TokenPair,
)
from lensforge.config import Settings
from tests.client.helpers import member_with_role, new_email, signed_up
from tests.fixtures.app import STRONG_PASSWORD
from tests.fixtures.live_server import LiveServer, serve


def test_signup_login_projects_and_api_keys(live_server: LiveServer) -> None:
    email = new_email()
    with LensforgeClient(live_server.url + "/api/v1/") as client:
        assert client.base_url == live_server.url
        signup = client.auth.signup(email, STRONG_PASSWORD, "Ada", organization_name="Lab")
        assert signup.user.email == email
        assert signup.organization.name == "Lab"

    with LensforgeClient(live_server.url) as client:
        pair = client.auth.login(email, STRONG_PASSWORD)
        assert pair.organization_id == signup.organization.id
        me = client.auth.me()
        assert (me.user.id, me.role, me.via_api_key) == (signup.user.id, "admin", False)
        assert [m.organization.name for m in me.memberships] == ["Lab"]

        created = client.projects.create("defects", description="scratches on steel")
        assert isinstance(created, Project)
        assert client.projects.get(created.id) == created
        updated = client.projects.update(created.id, description="dents too")
        assert (updated.name, updated.description) == ("defects", "dents too")
        for index in range(4):
            client.projects.create(f"extra-{index}")
        page = client.projects.list(limit=2, offset=1)
        assert (page.total, len(page.items), page.has_more) == (5, 2, True)
        assert [p.name for p in client.projects.iter(page_size=2)] == [
            "defects",
            *(f"extra-{i}" for i in range(4)),
        ]
        assert [m.email for m in client.projects.list_members(created.id)] == [email]
        client.projects.delete(created.id)
        assert client.projects.list().total == 4

        key = client.api_keys.create(
            "ci", scopes=["*:read"], expires_at=datetime.now(UTC) + timedelta(days=1)
        )
        assert key.secret.startswith("lfk_")
        assert key.secret not in repr(key)
        assert [k.id for k in client.api_keys.list()] == [key.id]

    with LensforgeClient(live_server.url, api_key=key.secret) as by_key:
        me = by_key.auth.me()
        assert (me.via_api_key, me.scopes) == (True, ["*:read"])
        assert by_key.projects.list().total == 4
        with LensforgeClient(live_server.url) as owner:
            owner.auth.login(email, STRONG_PASSWORD)
            revoked = owner.api_keys.revoke(key.id)
            assert revoked.revoked_at is not None
        with pytest.raises(AuthenticationError) as refused:
            by_key.auth.me()
    assert refused.value.status_code == 401
    assert refused.value.code == "api_key_revoked"


def test_organization_members(live_server: LiveServer, admin: LensforgeClient) -> None:
    engineer = member_with_role(live_server.url, admin, "standard_engineer")
    engineer_id = engineer.auth.me().user.id
    roles = {m.user_id: m.role for m in admin.organizations.list_members()}
    assert roles[engineer_id] == "standard_engineer"
    assert admin.organizations.change_role(engineer_id, "manager").role == "manager"
    assert admin.organizations.rename("Renamed").name == "Renamed"
    project = admin.projects.create("shared")
    assert admin.projects.add_member(project.id, engineer_id).user_id == engineer_id
    admin.projects.remove_member(project.id, engineer_id)
    admin.organizations.remove_member(engineer_id)
    assert engineer_id not in {m.user_id for m in admin.organizations.list_members()}
    with pytest.raises(AuthenticationError) as removed:
        engineer.auth.me()
    assert removed.value.code == "not_a_member"


def test_switch_organization_and_logout(live_server: LiveServer, admin: LensforgeClient) -> None:
    other = signed_up(live_server.url)
    other_org = other.organizations.current()
    invitation = other.organizations.invite(admin.auth.me().user.email, "guest")
    assert [i.organization.id for i in admin.organizations.my_invitations()] == [other_org.id]
    admin.organizations.accept_invitation(invitation.id)
    pair = admin.auth.switch_organization(other_org.id)
    assert pair.organization_id == other_org.id
    assert admin.auth.me().role == "guest"
    _, refresh_token = admin.tokens
    admin.auth.logout()
    assert admin.tokens == (None, None)
    with (
        LensforgeClient(live_server.url, token="x", refresh_token=refresh_token) as stale,
        pytest.raises(AuthenticationError) as refused,
    ):
        stale.auth.refresh()
    assert refused.value.code == "token_revoked"


def _short_lived(settings: Settings) -> Settings:
    security = settings.security.model_copy(update={"access_token_ttl_seconds": 1})
    return settings.model_copy(update={"security": security})


def test_expired_access_token_is_refreshed_once(settings: Settings) -> None:
    with serve(_short_lived(settings)) as server:
        email = new_email()
        with signed_up(server.url, email) as first:
            access, refresh = first.tokens
        refreshed: list[TokenPair] = []
        assert access is not None
        with LensforgeClient(
            server.url, token=access, refresh_token=refresh, on_tokens_refreshed=refreshed.append
        ) as client:
            time.sleep(2)
            assert client.auth.me().user.email == email
            assert len(refreshed) == 1
            assert client.tokens == (refreshed[0].access_token, refreshed[0].refresh_token)
            assert refreshed[0].refresh_token != refresh

        # Without a refresh token the expiry reaches the caller, with its precise code.
        with (
            LensforgeClient(server.url, token=access) as client,
            pytest.raises(AuthenticationError) as expired,
        ):
            client.auth.me()
        assert expired.value.code == "token_expired"
