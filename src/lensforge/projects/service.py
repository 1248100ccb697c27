"""Project rules. A project outside your organization, or one you may not see, is 'not found':
its existence is not revealed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from lensforge.auth.access_events import announce_access_change
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.auth.repository import MembershipRepository
from lensforge.errors import Conflict, NotFound
from lensforge.models import Project, ProjectMember, User
from lensforge.projects.repository import ProjectRepository


class ProjectService:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.projects = ProjectRepository(session)

    def visible(self, principal: Principal, project_id: uuid.UUID) -> Project:
        """The project if this principal may see it; the single gate other domains use too."""
        project = self.projects.get_in_organization(principal.organization_id, project_id)
        if project is None or not self._can_see(principal, project):
            raise NotFound("project not found", code="project_not_found")
        return project

    def _can_see(self, principal: Principal, project: Project) -> bool:
        if principal.can(Action.PROJECT_VIEW_ALL):
            return True
        return self.projects.is_member(project.id, principal.user_id)

    def list(
        self, principal: Principal, *, limit: int, offset: int
    ) -> tuple[Sequence[Project], int]:
        restrict_to = None if principal.can(Action.PROJECT_VIEW_ALL) else principal.user_id
        return self.projects.list_visible(
            principal.organization_id, restrict_to, limit=limit, offset=offset
        )

    def create(self, principal: Principal, name: str, description: str) -> Project:
        name = name.strip()
        if self.projects.name_taken(principal.organization_id, name):
            raise Conflict(f"a project named {name!r} already exists", code="project_name_taken")
        project = self.projects.add(
            Project(
                organization_id=principal.organization_id,
                name=name,
                description=description,
                created_by_id=principal.user_id,
            )
        )
        self.projects.add_member(project.id, principal.user_id)
        return project

    def update(
        self,
        principal: Principal,
        project_id: uuid.UUID,
        *,
        name: str | None,
        description: str | None,
    ) -> Project:
        project = self.visible(principal, project_id)
        if name is not None and name.strip() != project.name:
            if self.projects.name_taken(
                principal.organization_id, name.strip(), exclude=project.id
            ):
                raise Conflict(
                    f"a project named {name!r} already exists", code="project_name_taken"
                )
            project.name = name.strip()
        if description is not None:
            project.description = description
        self.session.flush()
        return project

    def delete(self, principal: Principal, project_id: uuid.UUID) -> None:
        self.projects.delete(self.visible(principal, project_id))

    def members(
        self, principal: Principal, project_id: uuid.UUID
    ) -> Sequence[tuple[ProjectMember, User]]:
        return self.projects.members(self.visible(principal, project_id).id)

    def add_member(
        self, principal: Principal, project_id: uuid.UUID, user_id: uuid.UUID
    ) -> tuple[ProjectMember, User]:
        project = self.visible(principal, project_id)
        if MembershipRepository(self.session).get(principal.organization_id, user_id) is None:
            raise NotFound("no such member in this organization", code="user_not_found")
        if self.projects.is_member(project.id, user_id):
            raise Conflict("this user is already a project member", code="already_member")
        member = self.projects.add_member(project.id, user_id)
        user = self.session.get(User, user_id)
        assert user is not None  # the membership above guarantees it
        return member, user

    def remove_member(
        self, principal: Principal, project_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        project = self.visible(principal, project_id)
        if not self.projects.remove_member(project.id, user_id):
            raise NotFound("this user is not a project member")
        announce_access_change(self.session, project.organization_id)
