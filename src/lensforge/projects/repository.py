from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import delete, exists, func, select
from sqlalchemy.orm import Session

from lensforge.kit.names import name_key
from lensforge.models import Project, ProjectMember, TrainingJob, User


class ProjectRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_in_organization(
        self, organization_id: uuid.UUID, project_id: uuid.UUID
    ) -> Project | None:
        return self.session.scalar(
            select(Project).where(
                Project.id == project_id, Project.organization_id == organization_id
            )
        )

    def name_taken(
        self, organization_id: uuid.UUID, name: str, *, exclude: uuid.UUID | None = None
    ) -> bool:
        query = select(Project.id).where(
            Project.organization_id == organization_id, Project.name_key == name_key(name)
        )
        if exclude is not None:
            query = query.where(Project.id != exclude)
        return self.session.scalar(query) is not None

    def list_visible(
        self, organization_id: uuid.UUID, user_id: uuid.UUID | None, *, limit: int, offset: int
    ) -> tuple[Sequence[Project], int]:
        """Projects of the organization; restricted to those `user_id` is a member of, if given."""
        query = select(Project).where(Project.organization_id == organization_id)
        if user_id is not None:
            query = query.where(
                exists().where(
                    ProjectMember.project_id == Project.id, ProjectMember.user_id == user_id
                )
            )
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Project.name, Project.id).limit(limit).offset(offset)
        ).all()
        return rows, total

    def is_member(self, project_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        return self.session.get(ProjectMember, (project_id, user_id)) is not None

    def members(self, project_id: uuid.UUID) -> Sequence[tuple[ProjectMember, User]]:
        rows = self.session.execute(
            select(ProjectMember, User)
            .join(User, User.id == ProjectMember.user_id)
            .where(ProjectMember.project_id == project_id)
            .order_by(User.email)
        )
        return [(row[0], row[1]) for row in rows]

    def add(self, project: Project) -> Project:
        self.session.add(project)
        self.session.flush()
        return project

    def add_member(self, project_id: uuid.UUID, user_id: uuid.UUID) -> ProjectMember:
        member = ProjectMember(project_id=project_id, user_id=user_id)
        self.session.add(member)
        self.session.flush()
        return member

    def remove_member(self, project_id: uuid.UUID, user_id: uuid.UUID) -> bool:
        member = self.session.get(ProjectMember, (project_id, user_id))
        if member is None:
            return False
        self.session.delete(member)
        self.session.flush()
        return True

    def delete(self, project: Project) -> None:
        # SQLite applies ON DELETE CASCADE one child table at a time, in schema order, and jobs
        # hold RESTRICT references to the project's datasets and artifacts and to each other:
        # the jobs go first (those using another job's model before that job), then the rest
        # cascades.
        in_project = TrainingJob.project_id == project.id
        self.session.execute(
            delete(TrainingJob).where(in_project, TrainingJob.source_job_id.is_not(None))
        )
        self.session.execute(delete(TrainingJob).where(in_project))
        self.session.delete(project)
        self.session.flush()
