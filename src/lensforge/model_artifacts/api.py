"""Routes: /models/artifacts — uploaded model files (pretrained weights)."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, BackgroundTasks, Query, status

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.dependencies import ObjectStoreDep, SessionDep
from lensforge.kit.pagination import Offset
from lensforge.kit.schemas import Page
from lensforge.model_artifacts.schemas import ArtifactCreate, ArtifactRead
from lensforge.model_artifacts.service import ArtifactService

router = APIRouter(prefix="/models/artifacts", tags=["models"])


@router.post("", response_model=ArtifactRead, status_code=status.HTTP_201_CREATED)
def create_artifact(
    body: ArtifactCreate,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.JOB_CREATE),
) -> ArtifactRead:
    """Record a completed upload of a model file (`.pt`, `.pth`, `.onnx`, `.safetensors`,
    at most 2 GiB) as a model artifact of the project; trainings name it as `weights_id`."""
    artifact = ArtifactService(session).create(
        principal, store, project_id=body.project_id, upload_id=body.upload_id, name=body.name
    )
    return ArtifactRead.model_validate(artifact)


@router.get("", response_model=Page[ArtifactRead])
def list_artifacts(
    session: SessionDep,
    principal: Principal = requires(Action.JOB_READ),
    project_id: uuid.UUID | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[ArtifactRead]:
    rows, total = ArtifactService(session).list(
        principal, project_id=project_id, limit=limit, offset=offset
    )
    return Page(
        items=[ArtifactRead.model_validate(a) for a in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{artifact_id}", response_model=ArtifactRead)
def get_artifact(
    artifact_id: uuid.UUID,
    session: SessionDep,
    principal: Principal = requires(Action.JOB_READ),
) -> ArtifactRead:
    return ArtifactRead.model_validate(ArtifactService(session).visible(principal, artifact_id))


@router.delete("/{artifact_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_artifact(
    artifact_id: uuid.UUID,
    session: SessionDep,
    store: ObjectStoreDep,
    background: BackgroundTasks,
    principal: Principal = requires(Action.JOB_CREATE),
) -> None:
    """Refused (409 `artifact_in_use`) while a job starts from it."""
    unused = ArtifactService(session).delete(principal, artifact_id)
    if unused is not None:
        background.add_task(store.delete, unused)  # after the commit
