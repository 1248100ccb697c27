"""Job rules on the user's side: creating (validated against the pinned data and the trainer),
listing, cancelling, restarting and resuming. Status changes go through `state.transition`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.datasets.service import DatasetService
from lensforge.datasets.splits import SplitConfig, resolve_split_config
from lensforge.errors import Conflict, NotFound, ValidationFailed
from lensforge.jobs.repository import JobRepository
from lensforge.jobs.schemas import JobCreate
from lensforge.jobs.state import ACTIVE, TERMINAL, JobStatus, transition
from lensforge.kit.types import utcnow
from lensforge.model_artifacts.pretrained import PretrainedWeights
from lensforge.models import JobCheckpoint, ModelArtifact, TrainingJob
from lensforge.orchestration.base import LocalOrchestrator, Orchestrator
from lensforge.projects.repository import ProjectRepository
from lensforge.projects.service import ProjectService
from lensforge.trainers.config import field_errors, with_defaults
from lensforge.trainers.registry import TrainerRegistry


def _names_no_weights(body: JobCreate) -> bool:
    """Neither weights nor `basic.pretrained` given (an empty `pretrained` given on purpose
    means from scratch)."""
    basic = body.config.get("basic")
    given = isinstance(basic, dict) and "pretrained" in basic
    return body.weights is None and body.weights_id is None and not given


class JobService:
    def __init__(self, session: Session, registry: TrainerRegistry) -> None:
        self.session = session
        self.registry = registry
        self.jobs = JobRepository(session)

    def visible(self, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
        job = self.jobs.get_in_organization(principal.organization_id, job_id)
        if job is None or not self._project_visible(principal, job.project_id):
            raise NotFound("job not found", code="job_not_found")
        return job

    def _project_visible(self, principal: Principal, project_id: uuid.UUID) -> bool:
        if principal.can(Action.PROJECT_VIEW_ALL):
            return True
        return ProjectRepository(self.session).is_member(project_id, principal.user_id)

    def create(
        self,
        principal: Principal,
        body: JobCreate,
        orchestrator: Orchestrator | None = None,
        pretrained: PretrainedWeights | None = None,
    ) -> TrainingJob:
        project = ProjectService(self.session).visible(principal, body.project_id)
        datasets = DatasetService(self.session)
        dataset = datasets.visible(principal, body.dataset_id)
        number = body.dataset_version or dataset.latest_version_number
        if number < 1:
            raise Conflict("the dataset has no version yet: import data first", code="no_version")
        _, version = datasets.visible_version(principal, dataset.id, number)
        trainer = self.registry.get(body.trainer).manifest
        task = body.task or dataset.task
        problems: list[dict[str, str]] = []
        if task != dataset.task:
            problems.append(
                {"field": "body.task", "message": f"the dataset is for {dataset.task}, not {task}"}
            )
        if task not in trainer.tasks:
            problems.append(
                {
                    "field": "body.task",
                    "message": f"trainer {trainer.name} supports {trainer.tasks}",
                }
            )
        model = trainer.model_named(body.model)
        if model is None:
            problems.append(
                {
                    "field": "body.model",
                    "message": "unknown model; available: "
                    + ", ".join(m.name for m in trainer.models),
                }
            )
        elif task not in model.tasks:
            problems.append(
                {"field": "body.model", "message": f"model {model.name} supports {model.tasks}"}
            )
        problems += [
            {"field": f"body.config.{e['field']}", "message": e["message"]}
            for e in field_errors(trainer, body.config)
        ]
        if body.weights_id is not None and not self._weights_in_project(
            principal, body.weights_id, project.id
        ):
            problems.append(
                {"field": "body.weights_id", "message": "no such model artifact in the project"}
            )
        if body.weights is not None and body.weights_id is not None:
            problems.append(
                {"field": "body.weights", "message": "give weights or weights_id, not both"}
            )
        elif body.weights is not None and pretrained is None:
            problems.append(
                {"field": "body.weights", "message": "weights by name are not available here"}
            )
        if problems:
            raise ValidationFailed(
                "the job is not valid: "
                + "; ".join(f"{p['field']}: {p['message']}" for p in problems),
                details={"fields": problems},
                code="invalid_job",
            )
        weights_id = body.weights_id
        if body.weights is not None and pretrained is not None:
            # Last: a valid job only, so nothing is downloaded for one that is refused anyway.
            weights_id = pretrained.artifact(principal, project, trainer, body.weights).id
        elif _names_no_weights(body) and pretrained is not None:
            default = pretrained.default_artifact(principal, project, trainer, body.model)
            weights_id = None if default is None else default.id
        version_split = SplitConfig.model_validate(version.split_config)
        split = resolve_split_config(body.split, version_split)
        job_id = uuid.uuid4()
        backend = orchestrator or LocalOrchestrator()
        job = self.jobs.add(
            TrainingJob(
                id=job_id,
                # Recorded before the commit: a local worker must never claim a Temporal job.
                orchestrator=backend.name,
                workflow_id=backend.workflow_id(job_id),
                organization_id=principal.organization_id,
                project_id=project.id,
                dataset_id=dataset.id,
                dataset_version_id=version.id,
                dataset_content_hash=version.content_hash,
                name=body.name or f"{trainer.name}-{body.model}-{dataset.name}-v{number}",
                trainer=trainer.name,
                trainer_version=trainer.version,
                model=body.model,
                task=task,
                config=with_defaults(trainer, body.config),
                split_override=body.split.model_dump() if body.split else None,
                split_config=split.model_dump(),
                resources=body.resources.model_dump(),
                queue=body.queue,
                priority=body.priority,
                max_attempts=body.max_attempts,
                retries_left=body.max_attempts - 1,
                status=JobStatus.PENDING.value,
                created_by_id=principal.user_id,
                weights_artifact_id=weights_id,
            )
        )
        transition(self.session, job, JobStatus.QUEUED, "created and validated")
        return job

    def _weights_in_project(
        self, principal: Principal, artifact_id: uuid.UUID, project_id: uuid.UUID
    ) -> bool:
        found = self.session.scalar(
            select(ModelArtifact.id).where(
                ModelArtifact.id == artifact_id,
                ModelArtifact.organization_id == principal.organization_id,
                ModelArtifact.project_id == project_id,
            )
        )
        return found is not None

    def list(
        self,
        principal: Principal,
        *,
        project_id: uuid.UUID | None,
        statuses: Sequence[str],
        trainer: str | None,
        dataset_id: uuid.UUID | None,
        limit: int,
        offset: int,
        kind: str = "training",
    ) -> tuple[Sequence[TrainingJob], int]:
        if project_id is not None:
            ProjectService(self.session).visible(principal, project_id)
        member = None if principal.can(Action.PROJECT_VIEW_ALL) else principal.user_id
        return self.jobs.list(
            principal.organization_id,
            member_user_id=member,
            project_id=project_id,
            statuses=statuses,
            trainer=trainer,
            dataset_id=dataset_id,
            limit=limit,
            offset=offset,
            kind=kind,
        )

    def cancel(self, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
        """Queued: cancelled at once. Preparing or running: the worker stops the trainer
        (cooperatively, then SIGTERM, then SIGKILL) and records the cancellation."""
        job = self.visible(principal, job_id)
        status = JobStatus(job.status)
        if status in TERMINAL:
            raise Conflict(f"the job is already {status.value}", code="job_finished")
        if status in (JobStatus.PENDING, JobStatus.QUEUED):
            transition(self.session, job, JobStatus.CANCELLED, "cancelled before it started")
        elif job.cancel_requested_at is None:
            job.cancel_requested_at = utcnow()
            self.session.flush()
        return job

    def restart(self, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
        """A finished job runs again from scratch, as a new attempt."""
        job = self._finished(principal, job_id)
        self._requeue(job, resume=False, reason="restarted by user")
        return job

    def resume(self, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
        """A failed or cancelled job continues from its last checkpoint, as a new attempt."""
        job = self._finished(principal, job_id)
        if job.status == JobStatus.COMPLETED.value:
            raise Conflict(
                "a completed job cannot be resumed; restart it instead", code="job_completed"
            )
        if not self.registry.get(job.trainer).manifest.capabilities.resume:
            raise Conflict(
                f"trainer {job.trainer} cannot resume; restart instead", code="resume_unsupported"
            )
        last = self.session.scalar(
            select(JobCheckpoint).where(
                JobCheckpoint.job_id == job.id, JobCheckpoint.kind == "last"
            )
        )
        if last is None:
            raise Conflict(
                "the job has no checkpoint to resume from; restart instead", code="no_checkpoint"
            )
        self._requeue(job, resume=True, reason=f"resumed by user from epoch {last.trained_epoch}")
        return job

    def _finished(self, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
        job = self.visible(principal, job_id)
        if JobStatus(job.status) in ACTIVE or job.status in ("pending", "queued"):
            raise Conflict(f"the job is still {job.status}", code="job_not_finished")
        return job

    def _requeue(self, job: TrainingJob, *, resume: bool, reason: str) -> None:
        job.resume_requested = resume
        job.cancel_requested_at = None
        job.retries_left = job.max_attempts - 1
        transition(self.session, job, JobStatus.QUEUED, reason)
