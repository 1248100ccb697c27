"""Routes: /projects and /projects/{id}/members."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Query, status
from pydantic import Field

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.dependencies import SessionDep
from lensforge.kit.pagination import Offset
from lensforge.kit.schemas import Page, Schema
from lensforge.models import ProjectMember, User
from lensforge.projects.service import ProjectService

router = APIRouter(prefix="/projects", tags=["projects"])


class ProjectCreate(Schema):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)


class ProjectUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class ProjectRead(Schema):
    id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    description: str
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ProjectMemberAdd(Schema):
    user_id: uuid.UUID


class ProjectMemberRead(Schema):
    user_id: uuid.UUID
    email: str
    display_name: str
    added_at: datetime


def _member(member: ProjectMember, user: User) -> ProjectMemberRead:
    return ProjectMemberRead(
        user_id=user.id,
        email=user.email,
        display_name=user.display_name,
        added_at=member.created_at,
    )


@router.get("", response_model=Page[ProjectRead])
def list_projects(
    session: SessionDep,
    principal: Principal = requires(Action.PROJECT_READ),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[ProjectRead]:
    rows, total = ProjectService(session).list(principal, limit=limit, offset=offset)
    return Page(
        items=[ProjectRead.model_validate(p) for p in rows], total=total, limit=limit, offset=offset
    )


@router.post("", response_model=ProjectRead, status_code=status.HTTP_201_CREATED)
def create_project(
    body: ProjectCreate, session: SessionDep, principal: Principal = requires(Action.PROJECT_CREATE)
) -> ProjectRead:
    project = ProjectService(session).create(principal, body.name, body.description)
    return ProjectRead.model_validate(project)


@router.get("/{project_id}", response_model=ProjectRead)
def get_project(
    project_id: uuid.UUID, session: SessionDep, principal: Principal = requires(Action.PROJECT_READ)
) -> ProjectRead:
    return ProjectRead.model_validate(ProjectService(session).visible(principal, project_id))


@router.patch("/{project_id}", response_model=ProjectRead)
def update_project(
    project_id: uuid.UUID,
    body: ProjectUpdate,
    session: SessionDep,
    principal: Principal = requires(Action.PROJECT_UPDATE),
) -> ProjectRead:
    project = ProjectService(session).update(
        principal, project_id, name=body.name, description=body.description
    )
    return ProjectRead.model_validate(project)


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_project(
    project_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = requires(Action.PROJECT_DELETE),
) -> None:
    ProjectService(session).delete(principal, project_id)


@router.get("/{project_id}/members", response_model=list[ProjectMemberRead])
def list_members(
    project_id: uuid.UUID, session: SessionDep, principal: Principal = requires(Action.PROJECT_READ)
) -> list[ProjectMemberRead]:
    return [_member(m, u) for m, u in ProjectService(session).members(principal, project_id)]


@router.post(
    "/{project_id}/members", response_model=ProjectMemberRead, status_code=status.HTTP_201_CREATED
)
def add_member(
    project_id: uuid.UUID,
    body: ProjectMemberAdd,
    session: SessionDep,
    principal: Principal = requires(Action.PROJECT_MEMBER_MANAGE),
) -> ProjectMemberRead:
    return _member(*ProjectService(session).add_member(principal, project_id, body.user_id))


@router.delete("/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
def remove_member(
    project_id: uuid.UUID,
    user_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = requires(Action.PROJECT_MEMBER_MANAGE),
) -> None:
    ProjectService(session).remove_member(principal, project_id, user_id)
