"""Account helpers for client tests, going through the client itself."""

from __future__ import annotations

import uuid

from lensforge.client import LensforgeClient
from tests.fixtures.app import STRONG_PASSWORD


def new_email() -> str:
    return f"user-{uuid.uuid4().hex[:8]}@example.com"


def signed_up(url: str, email: str | None = None) -> LensforgeClient:
    """A client signed in as a new account, admin of its own organization."""
    client = LensforgeClient(url)
    email = email or new_email()
    client.auth.signup(email, STRONG_PASSWORD, email.split("@")[0])
    return client


def member_with_role(url: str, admin: LensforgeClient, role: str) -> LensforgeClient:
    """A new account added to `admin`'s organization with `role`, logged in there."""
    other = signed_up(url)
    me = other.auth.me()
    invitation = admin.organizations.invite(me.user.email, role)
    other.organizations.accept_invitation(invitation.id)
    organization = admin.organizations.current()
    other.auth.login(me.user.email, STRONG_PASSWORD, organization_id=organization.id)
    return other
