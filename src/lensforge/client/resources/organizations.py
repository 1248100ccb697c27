"""`client.organizations`: the organization you act in, its members and invitations, and the
invitations addressed to you."""

from __future__ import annotations

import builtins
import uuid

from lensforge.client.models import Invitation, Member, Membership, MyInvitation, Organization
from lensforge.client.resources import Resource, path_id


class Organizations(Resource):
    def current(self) -> Organization:
        return self._session.call(Organization, "GET", "/organizations/current")

    def rename(self, name: str) -> Organization:
        return self._session.call(
            Organization, "PATCH", "/organizations/current", json={"name": name}
        )

    def list_members(self) -> builtins.list[Member]:
        return self._session.call(list[Member], "GET", "/organizations/current/members")

    def invite(self, email: str, role: str) -> Invitation:
        """Invite `email` to join with `role` (admin, manager, advanced_engineer, ...); the
        person becomes a member when they accept (`accept_invitation`)."""
        return self._session.call(
            Invitation,
            "POST",
            "/organizations/current/members",
            json={"email": email, "role": role},
        )

    def pending_invitations(self) -> builtins.list[Invitation]:
        return self._session.call(list[Invitation], "GET", "/organizations/current/invitations")

    def withdraw_invitation(self, invitation_id: uuid.UUID | str) -> None:
        self._session.send("DELETE", f"/organizations/current/invitations/{path_id(invitation_id)}")

    def my_invitations(self) -> builtins.list[MyInvitation]:
        """Invitations addressed to you (an interactive login; API keys cannot answer them)."""
        return self._session.call(list[MyInvitation], "GET", "/organizations/invitations")

    def accept_invitation(self, invitation_id: uuid.UUID | str) -> Membership:
        return self._session.call(
            Membership, "POST", f"/organizations/invitations/{path_id(invitation_id)}/accept"
        )

    def decline_invitation(self, invitation_id: uuid.UUID | str) -> None:
        self._session.send("POST", f"/organizations/invitations/{path_id(invitation_id)}/decline")

    def change_role(self, user_id: uuid.UUID | str, role: str) -> Member:
        return self._session.call(
            Member,
            "PATCH",
            f"/organizations/current/members/{path_id(user_id)}",
            json={"role": role},
        )

    def remove_member(self, user_id: uuid.UUID | str) -> None:
        self._session.send("DELETE", f"/organizations/current/members/{path_id(user_id)}")
