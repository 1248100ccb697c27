"""Membership rules: who may add whom with which role, and never an organization without admin."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from lensforge.auth.access_events import announce_access_change
from lensforge.auth.policy import ASSIGNABLE_BY, Role
from lensforge.auth.principal import Principal
from lensforge.auth.repository import MembershipRepository, OrganizationRepository, UserRepository
from lensforge.errors import Conflict, Forbidden, NotFound
from lensforge.models import Membership, Organization, User


class OrganizationService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.organizations = OrganizationRepository(session)
        self.memberships = MembershipRepository(session)
        self.users = UserRepository(session)

    def current(self, principal: Principal) -> Organization:
        organization = self.organizations.get(principal.organization_id)
        if organization is None:
            raise NotFound("organization not found")
        return organization

    def rename(self, principal: Principal, name: str) -> Organization:
        organization = self.current(principal)
        organization.name = name.strip()
        self.session.flush()
        return organization

    def members(self, principal: Principal) -> list[tuple[Membership, User]]:
        return list(self.memberships.for_organization(principal.organization_id))

    def change_role(
        self, principal: Principal, user_id: uuid.UUID, role: Role
    ) -> tuple[Membership, User]:
        membership, user = self._member(principal, user_id)
        self.check_can_assign(principal, role)
        self._check_can_touch(principal, membership)
        if membership.role == Role.ADMIN.value and role is not Role.ADMIN:
            self._keep_an_admin(principal.organization_id)
        membership.role = role.value
        self.session.flush()
        announce_access_change(self.session, principal.organization_id)
        return membership, user

    def remove_member(self, principal: Principal, user_id: uuid.UUID) -> None:
        membership, _ = self._member(principal, user_id)
        self._check_can_touch(principal, membership)
        if membership.role == Role.ADMIN.value:
            self._keep_an_admin(principal.organization_id)
        self.memberships.delete(membership)
        announce_access_change(self.session, principal.organization_id)

    def _member(self, principal: Principal, user_id: uuid.UUID) -> tuple[Membership, User]:
        membership = self.memberships.get(principal.organization_id, user_id)
        user = self.users.get(user_id)
        if membership is None or user is None:
            raise NotFound("no such member in this organization")
        return membership, user

    @staticmethod
    def check_can_assign(principal: Principal, role: Role) -> None:
        if role not in ASSIGNABLE_BY.get(principal.role, frozenset()):
            raise Forbidden(
                f"your role '{principal.role.value}' cannot grant the role '{role.value}'",
                code="permission_denied",
            )

    @staticmethod
    def _check_can_touch(principal: Principal, membership: Membership) -> None:
        if membership.role == Role.ADMIN.value and principal.role is not Role.ADMIN:
            raise Forbidden("only an admin can change or remove an admin", code="permission_denied")

    def _keep_an_admin(self, organization_id: uuid.UUID) -> None:
        if self.memberships.count_role(organization_id, Role.ADMIN.value) <= 1:
            raise Conflict("an organization must keep at least one admin", code="last_admin")
