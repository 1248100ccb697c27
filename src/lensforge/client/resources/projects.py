"""`client.projects`: projects of the current organization and their members."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterator
from typing import Any

from lensforge.client.models import Page, Project, ProjectMember
from lensforge.client.resources import Resource, iterate_pages, path_id


class Projects(Resource):
    def list(self, *, limit: int = 50, offset: int = 0) -> Page[Project]:
        """One page of the projects you can see, oldest first (`limit` at most 500)."""
        return self._session.call(
            Page[Project], "GET", "/projects", params={"limit": limit, "offset": offset}
        )

    def iter(self, *, page_size: int = 100) -> Iterator[Project]:
        """Every project you can see, fetching pages as needed."""
        return iterate_pages(lambda offset: self.list(limit=page_size, offset=offset))

    def create(self, name: str, *, description: str = "") -> Project:
        return self._session.call(
            Project, "POST", "/projects", json={"name": name, "description": description}
        )

    def get(self, project_id: uuid.UUID | str) -> Project:
        return self._session.call(Project, "GET", f"/projects/{path_id(project_id)}")

    def update(
        self,
        project_id: uuid.UUID | str,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> Project:
        """Change the given fields; those left as None stay as they are."""
        body: dict[str, Any] = {}
        if name is not None:
            body["name"] = name
        if description is not None:
            body["description"] = description
        return self._session.call(Project, "PATCH", f"/projects/{path_id(project_id)}", json=body)

    def delete(self, project_id: uuid.UUID | str) -> None:
        self._session.send("DELETE", f"/projects/{path_id(project_id)}")

    def list_members(self, project_id: uuid.UUID | str) -> builtins.list[ProjectMember]:
        return self._session.call(
            list[ProjectMember], "GET", f"/projects/{path_id(project_id)}/members"
        )

    def add_member(self, project_id: uuid.UUID | str, user_id: uuid.UUID | str) -> ProjectMember:
        """Give a member of the organization access to the project."""
        return self._session.call(
            ProjectMember,
            "POST",
            f"/projects/{path_id(project_id)}/members",
            json={"user_id": path_id(user_id)},
        )

    def remove_member(self, project_id: uuid.UUID | str, user_id: uuid.UUID | str) -> None:
        self._session.send("DELETE", f"/projects/{path_id(project_id)}/members/{path_id(user_id)}")
