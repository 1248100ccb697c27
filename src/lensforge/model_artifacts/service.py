"""Model artifact rules: what may be recorded (a completed upload of a model file in the same
project, under a free name), who sees it (organization, then project membership), and when it
may go (no job references it)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import PurePosixPath

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.errors import Conflict, NotFound, PayloadTooLarge, ValidationFailed
from lensforge.models import ModelArtifact, ProjectMember, TrainingJob
from lensforge.projects.service import ProjectService
from lensforge.storage.base import ObjectStore
from lensforge.uploads.service import UploadService

MAX_ARTIFACT_BYTES = 2 * 1024**3
MODEL_SUFFIXES = (".pt", ".pth", ".onnx", ".safetensors")


def artifact_key(organization_id: uuid.UUID, sha256: str) -> str:
    """Content-addressed: the same file uploaded twice is stored once."""
    return f"orgs/{organization_id}/artifacts/{sha256[:2]}/{sha256}"


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"the project already has a model artifact named {name!r}",
        code="artifact_name_taken",
        details={"name": name},
    )


class ArtifactService:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self,
        principal: Principal,
        store: ObjectStore,
        *,
        project_id: uuid.UUID,
        upload_id: uuid.UUID,
        name: str,
    ) -> ModelArtifact:
        project = ProjectService(self.session).visible(principal, project_id)
        completed = UploadService(self.session).completed_object(
            principal, upload_id, project_id=project.id
        )
        filename = PurePosixPath(completed.filename or "").name
        if not filename.lower().endswith(MODEL_SUFFIXES):
            raise ValidationFailed(
                f"{filename or 'the upload'} is not a model file; "
                f"expected one of {', '.join(MODEL_SUFFIXES)}",
                code="invalid_artifact",
                details={"fields": [{"field": "body.upload_id", "message": "not a model file"}]},
            )
        if completed.size > MAX_ARTIFACT_BYTES:
            raise PayloadTooLarge(
                f"the model file is {completed.size} bytes; at most {MAX_ARTIFACT_BYTES}",
                code="artifact_too_large",
                details={"size": completed.size, "max_size": MAX_ARTIFACT_BYTES},
            )
        if self._named(project.id, name) is not None:
            raise _name_taken(name)
        key = artifact_key(principal.organization_id, completed.sha256)
        store.copy(completed.object_key, key)
        artifact = ModelArtifact(
            organization_id=principal.organization_id,
            project_id=project.id,
            name=name,
            filename=filename,
            size_bytes=completed.size,
            sha256=completed.sha256,
            object_key=key,
            created_by_id=principal.user_id,
        )
        try:
            with self.session.begin_nested():  # a concurrent create of the same name
                self.session.add(artifact)
        except IntegrityError:
            raise _name_taken(name) from None
        return artifact

    def visible(self, principal: Principal, artifact_id: uuid.UUID) -> ModelArtifact:
        artifact = self.session.scalar(
            select(ModelArtifact).where(
                ModelArtifact.id == artifact_id,
                ModelArtifact.organization_id == principal.organization_id,
            )
        )
        if artifact is None or not self._project_visible(principal, artifact.project_id):
            raise NotFound("model artifact not found", code="artifact_not_found")
        return artifact

    def list(
        self, principal: Principal, *, project_id: uuid.UUID | None, limit: int, offset: int
    ) -> tuple[Sequence[ModelArtifact], int]:
        query = select(ModelArtifact).where(
            ModelArtifact.organization_id == principal.organization_id
        )
        if project_id is not None:
            ProjectService(self.session).visible(principal, project_id)
            query = query.where(ModelArtifact.project_id == project_id)
        if not principal.can(Action.PROJECT_VIEW_ALL):
            query = query.where(
                ModelArtifact.project_id.in_(
                    select(ProjectMember.project_id).where(
                        ProjectMember.user_id == principal.user_id
                    )
                )
            )
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(ModelArtifact.created_at.desc(), ModelArtifact.id)
            .limit(limit)
            .offset(offset)
        ).all()
        return rows, total

    def delete(self, principal: Principal, artifact_id: uuid.UUID) -> str | None:
        """Remove the record; return the object key to delete once the transaction committed
        (None while another artifact of the same content still uses it). Deleting the object
        first would leave a record pointing at nothing if the commit failed."""
        artifact = self.visible(principal, artifact_id)
        jobs = (
            self.session.scalar(
                select(func.count())
                .select_from(TrainingJob)
                .where(TrainingJob.weights_artifact_id == artifact.id)
            )
            or 0
        )
        if jobs:
            raise Conflict(
                f"{jobs} job(s) start from this model artifact; delete them first",
                code="artifact_in_use",
                details={"jobs": jobs},
            )
        key = artifact.object_key
        self.session.delete(artifact)
        self.session.flush()
        # The object is shared by every artifact of the same content in the organization.
        shared = self.session.scalar(
            select(func.count()).select_from(ModelArtifact).where(ModelArtifact.object_key == key)
        )
        return None if shared else key

    def _named(self, project_id: uuid.UUID, name: str) -> ModelArtifact | None:
        return self.session.scalar(
            select(ModelArtifact).where(
                ModelArtifact.project_id == project_id, ModelArtifact.name == name
            )
        )

    def _project_visible(self, principal: Principal, project_id: uuid.UUID) -> bool:
        if principal.can(Action.PROJECT_VIEW_ALL):
            return True
        return (
            self.session.scalar(
                select(ProjectMember.project_id).where(
                    ProjectMember.project_id == project_id,
                    ProjectMember.user_id == principal.user_id,
                )
            )
            is not None
        )
