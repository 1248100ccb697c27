"""Deployments on the control plane: create from a verified ONNX export or from a training job
(exported on the way), update to a new version, roll back, activate, tune, delete. Serving
replicas poll `Deployment.updated_at`, so every change here bumps it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lensforge.auth.access_events import announce_access_change
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.deployments.model_facts import (
    check_ready_export,
    describe_model,
    take_file,
)
from lensforge.deployments.schemas import (
    DeploymentCreate,
    DeploymentSettings,
    ModelChoice,
)
from lensforge.deployments.settle import make_current, settle_pending
from lensforge.errors import Conflict, NotFound, ValidationFailed
from lensforge.kit.names import name_key
from lensforge.kit.types import utcnow
from lensforge.model_work.service import ModelWorkService
from lensforge.models import (
    ApiKey,
    Deployment,
    DeploymentVersion,
    ModelExport,
    ProjectMember,
    TrainingJob,
)
from lensforge.orchestration.base import Orchestrator
from lensforge.projects.repository import ProjectRepository
from lensforge.storage.base import ObjectStore
from lensforge.trainers.registry import TrainerRegistry

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Made on the way from a training job: ONNX with a dynamic batch, so dynamic batching can
# run any batch size through one session.
JOB_EXPORT_FORMAT = "onnx"
JOB_EXPORT_OPTIONS = {"dynamic": True}


@dataclass(frozen=True)
class NewVersion:
    version: DeploymentVersion
    # The export job to hand to the orchestrator once the request committed (None: the
    # version was made from an existing export and is ready).
    export_job_id: uuid.UUID | None


def check_name(name: str) -> None:
    problem = None
    if not NAME_PATTERN.fullmatch(name):
        problem = (
            "1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit "
            "(it is part of the URL and the inference protocol's model name)"
        )
    else:
        try:
            uuid.UUID(name)
            problem = "must not look like an id (deployments are found by name or by id)"
        except ValueError:
            pass
    if problem is not None:
        raise ValidationFailed(
            f"invalid deployment name {name!r}: {problem}",
            code="invalid_deployment_name",
            details={"fields": [{"field": "name", "message": problem}]},
        )


class DeploymentService:
    def __init__(
        self,
        session: Session,
        registry: TrainerRegistry,
        orchestrator: Orchestrator | None = None,
    ) -> None:
        self.session = session
        self.model_work = ModelWorkService(session, registry, orchestrator)

    # --- reading ------------------------------------------------------------------------------

    def _project_visible(self, principal: Principal, project_id: uuid.UUID) -> bool:
        if principal.can(Action.PROJECT_VIEW_ALL):
            return True
        return ProjectRepository(self.session).is_member(project_id, principal.user_id)

    def _key_reach(self, principal: Principal) -> list[str] | None:
        """The deployments a deployment's key is restricted to (None: no restriction)."""
        if principal.api_key_id is None:
            return None
        return self.session.scalar(
            select(ApiKey.deployment_ids).where(ApiKey.id == principal.api_key_id)
        )

    def visible(
        self, principal: Principal, deployment_id: uuid.UUID, *, settle: bool = False
    ) -> Deployment:
        """The deployment if it is in the caller's organization and a project they see; else
        404 (another organization's deployment does not exist for the caller)."""
        deployment = self.session.scalar(
            select(Deployment).where(
                Deployment.id == deployment_id,
                Deployment.organization_id == principal.organization_id,
            )
        )
        reach = self._key_reach(principal)
        if (
            deployment is None
            or not self._project_visible(principal, deployment.project_id)
            or (reach is not None and str(deployment.id) not in reach)
        ):
            raise NotFound("deployment not found", code="deployment_not_found")
        if settle and settle_pending(self.session, deployment_id=deployment.id):
            self.session.refresh(deployment)
        return deployment

    def list(
        self,
        principal: Principal,
        *,
        project_id: uuid.UUID | None,
        status: str | None,
        active: bool | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[Deployment], int]:
        settle_pending(self.session, organization_id=principal.organization_id)
        query = select(Deployment).where(Deployment.organization_id == principal.organization_id)
        if not principal.can(Action.PROJECT_VIEW_ALL):
            query = query.where(
                Deployment.project_id.in_(
                    select(ProjectMember.project_id).where(
                        ProjectMember.user_id == principal.user_id
                    )
                )
            )
        reach = self._key_reach(principal)
        if reach is not None:
            query = query.where(Deployment.id.in_([_as_uuid(d) for d in reach]))
        if project_id is not None:
            query = query.where(Deployment.project_id == project_id)
        if status is not None:
            query = query.where(Deployment.status == status)
        if active is not None:
            query = query.where(Deployment.active == active)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(Deployment.created_at.desc(), Deployment.id).limit(limit).offset(offset)
        ).all()
        return rows, total

    def versions(self, deployment: Deployment) -> Sequence[DeploymentVersion]:
        """The history, newest first."""
        return self.session.scalars(
            select(DeploymentVersion)
            .where(DeploymentVersion.deployment_id == deployment.id)
            .order_by(DeploymentVersion.number.desc())
        ).all()

    # --- creating and updating ----------------------------------------------------------------

    def create(
        self, principal: Principal, body: DeploymentCreate, store: ObjectStore
    ) -> tuple[Deployment, NewVersion]:
        name = body.name
        check_name(name)
        self._check_name_free(principal.organization_id, name)
        source, export = self._resolve(principal, body)
        deployment = Deployment(
            organization_id=principal.organization_id,
            project_id=source.project_id,
            name=name,
            description=body.description or "",
            status="creating",
            active=True,
            parameters={},
            created_by_id=principal.user_id,
        )
        _apply_settings(deployment, body)
        try:
            with self.session.begin_nested():
                self.session.add(deployment)
                self.session.flush()
        except IntegrityError as exc:  # the same name created at the same moment
            raise _name_taken(name) from exc
        made = self._new_version(
            principal, deployment, source, export, body.checkpoint, store, number=1
        )
        return deployment, made

    def add_version(
        self,
        principal: Principal,
        deployment_id: uuid.UUID,
        choice: ModelChoice,
        store: ObjectStore,
    ) -> tuple[Deployment, NewVersion]:
        deployment = self.visible(principal, deployment_id, settle=True)
        pending = self.session.scalar(
            select(DeploymentVersion.number).where(
                DeploymentVersion.deployment_id == deployment.id,
                DeploymentVersion.status == "creating",
            )
        )
        if pending is not None:
            raise Conflict(
                f"version {pending} is still being exported and verified; wait for it, or roll "
                "back to cancel it",
                code="deployment_update_in_progress",
                details={"version": pending},
            )
        source, export = self._resolve(principal, choice)
        if source.project_id != deployment.project_id:
            raise ValidationFailed(
                "the model belongs to another project than the deployment",
                code="model_of_another_project",
                details={"fields": [{"field": "job_id", "message": "of another project"}]},
            )
        last = self.session.scalar(
            select(func.max(DeploymentVersion.number)).where(
                DeploymentVersion.deployment_id == deployment.id
            )
        )
        made = self._new_version(
            principal, deployment, source, export, choice.checkpoint, store, number=(last or 0) + 1
        )
        return deployment, made

    def _resolve(
        self, principal: Principal, choice: ModelChoice
    ) -> tuple[TrainingJob, ModelExport | None]:
        """The training job the model comes from (visible to the caller) and the export to
        serve when one was given, after refusing an export that cannot be served."""
        if choice.export_id is not None:
            export = self.model_work.visible_export(principal, choice.export_id)
            check_ready_export(self.session, export)
            job = self.session.get(TrainingJob, export.source_job_id)
            assert job is not None  # an export goes with its job (CASCADE)
            return job, export
        assert choice.job_id is not None  # the schema asks for exactly one of the two
        return self.model_work.training_job(principal, choice.job_id), None

    def _new_version(
        self,
        principal: Principal,
        deployment: Deployment,
        source: TrainingJob,
        export: ModelExport | None,
        checkpoint: str | None,
        store: ObjectStore,
        *,
        number: int,
    ) -> NewVersion:
        version = DeploymentVersion(
            deployment_id=deployment.id,
            number=number,
            status="creating",
            source_job_id=source.id,
            created_by_id=principal.user_id,
        )
        export_job_id = None
        if export is None:
            export = self.model_work.create_export(
                principal,
                job_id=source.id,
                checkpoint=checkpoint or "best",
                format=JOB_EXPORT_FORMAT,
                options=dict(JOB_EXPORT_OPTIONS),
            )
            version.export_id = export.id
            export_job_id = export.job_id
            describe_model(self.session, store, version, source, export.options or {})
        else:
            describe_model(self.session, store, version, source, export.options or {})
            take_file(self.session, version, export)
            version.status = "ready"
        self.session.add(version)
        self.session.flush()
        if version.status == "ready":
            make_current(deployment, version)
        elif deployment.current_version is None:
            deployment.status = "creating"
            deployment.status_reason = ""
        deployment.updated_at = utcnow()
        self.session.flush()
        return NewVersion(version=version, export_job_id=export_job_id)

    def rollback(
        self, principal: Principal, deployment_id: uuid.UUID, number: int | None
    ) -> Deployment:
        """Point the deployment back at a ready version: the given one, or the one that was
        current before the current one. A version still being made is cancelled (it would
        otherwise take over when ready)."""
        deployment = self.visible(principal, deployment_id, settle=True)
        versions = self.versions(deployment)
        if number is None:
            earlier = [
                v
                for v in versions
                if v.status == "ready"
                and v.number != deployment.current_version
                and v.activated_at is not None
            ]
            if not earlier:
                raise Conflict(
                    "there is no earlier version to roll back to",
                    code="no_previous_version",
                )
            target = max(earlier, key=lambda v: (v.activated_at or utcnow(), v.number))
        else:
            found = next((v for v in versions if v.number == number), None)
            if found is None:
                raise NotFound(f"the deployment has no version {number}", code="version_not_found")
            if found.status != "ready":
                raise Conflict(
                    f"version {number} is {found.status}; only a ready version can serve",
                    code="version_not_ready",
                    details={"version": number, "status": found.status},
                )
            if found.number == deployment.current_version:
                raise Conflict(
                    f"version {number} is already the current version",
                    code="version_already_current",
                    details={"version": number},
                )
            target = found
        for version in versions:
            if version.status == "creating":
                version.status = "failed"
                version.status_reason = f"cancelled: rolled back to version {target.number}"
        make_current(deployment, target)
        self.session.flush()
        return deployment

    # --- settings, state, deletion ------------------------------------------------------------

    def set_active(
        self, principal: Principal, deployment_id: uuid.UUID, active: bool
    ) -> Deployment:
        deployment = self.visible(principal, deployment_id, settle=True)
        if deployment.active != active:
            deployment.active = active
            deployment.updated_at = utcnow()
            self.session.flush()
        return deployment

    def update_settings(
        self, principal: Principal, deployment_id: uuid.UUID, body: DeploymentSettings
    ) -> Deployment:
        deployment = self.visible(principal, deployment_id, settle=True)
        if not body.model_fields_set:
            return deployment  # nothing asked: nothing for the replicas to reload
        if body.description is not None:
            deployment.description = body.description
        _apply_settings(deployment, body)
        deployment.updated_at = utcnow()
        self.session.flush()
        return deployment

    def delete(self, principal: Principal, deployment_id: uuid.UUID) -> None:
        """The deployment and its versions go; usage records stay (they are the bill). Keys
        made for this deployment alone can reach nothing any more: they are revoked."""
        deployment = self.visible(principal, deployment_id)
        target = str(deployment.id)
        now = utcnow()
        keys = self.session.scalars(
            select(ApiKey).where(ApiKey.organization_id == deployment.organization_id)
        ).all()
        revoked = False
        for key in keys:
            if not key.deployment_ids or target not in key.deployment_ids:
                continue
            remaining = [d for d in key.deployment_ids if d != target]
            if remaining:
                key.deployment_ids = remaining
            elif key.revoked_at is None:
                key.revoked_at = now
                revoked = True
        self.session.delete(deployment)
        self.session.flush()
        if revoked:
            announce_access_change(self.session, deployment.organization_id)

    def _check_name_free(self, organization_id: uuid.UUID, name: str) -> None:
        taken = self.session.scalar(
            select(Deployment.id).where(
                Deployment.organization_id == organization_id,
                Deployment.name_key == name_key(name),
            )
        )
        if taken is not None:
            raise _name_taken(name)


def _name_taken(name: str) -> Conflict:
    return Conflict(
        f"a deployment named {name!r} already exists in this organization",
        code="deployment_name_taken",
        details={"fields": [{"field": "name", "message": "taken (names ignore case)"}]},
    )


def _apply_settings(deployment: Deployment, body: DeploymentSettings) -> None:
    """Batching, rate limits and parameters given in the body (rate limits may be set back to
    null: the server's default)."""
    given = body.model_fields_set
    for field in ("max_batch_size", "max_queue_delay_ms", "queue_limit"):
        value = getattr(body, field)
        if value is not None:
            setattr(deployment, field, value)
    for field in ("rate_limit_per_second", "rate_limit_burst"):
        if field in given:
            setattr(deployment, field, getattr(body, field))
    if body.parameters is not None:
        deployment.parameters = body.parameters.model_dump(exclude_none=True)


def current_versions(
    session: Session, deployments: Sequence[Deployment]
) -> dict[uuid.UUID, DeploymentVersion]:
    """Each deployment's current version, in one query."""
    wanted = {d.id: d.current_version for d in deployments if d.current_version is not None}
    if not wanted:
        return {}
    rows = session.scalars(
        select(DeploymentVersion).where(
            or_(
                *(
                    and_(DeploymentVersion.deployment_id == d, DeploymentVersion.number == n)
                    for d, n in wanted.items()
                )
            )
        )
    ).all()
    return {v.deployment_id: v for v in rows}


def _as_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
