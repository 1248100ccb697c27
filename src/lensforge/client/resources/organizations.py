"""`client.organizations`: the organization you act in and its members."""

from __future__ import annotations

import builtins
import uuid

from lensforge.client.models import Member, Organization
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

    def add_member(self, email: str, role: str) -> Member:
        """Add an existing account with `role` (admin, manager, advanced_engineer, ...)."""
        return self._session.call(
            Member,
            "POST",
            "/organizations/current/members",
            json={"email": email, "role": role},
        )

    def change_role(self, user_id: uuid.UUID | str, role: str) -> Member:
        return self._session.call(
            Member,
            "PATCH",
            f"/organizations/current/members/{path_id(user_id)}",
            json={"role": role},
        )

    def remove_member(self, user_id: uuid.UUID | str) -> None:
        self._session.send("DELETE", f"/organizations/current/members/{path_id(user_id)}")
