"""Routes: /training/jobs (create, list, get, cancel, restart, resume)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request, status

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.dependencies import ObjectStoreDep, SessionDep, SettingsDep
from lensforge.jobs.repository import JobRepository
from lensforge.jobs.schemas import (
    AttemptRead,
    JobCreate,
    JobDetail,
    JobKindName,
    JobRead,
    JobStatusName,
    TransitionRead,
)
from lensforge.jobs.service import JobService
from lensforge.kit.pagination import Offset
from lensforge.kit.schemas import Page
from lensforge.model_artifacts.pretrained import PretrainedWeights
from lensforge.models import TrainingJob
from lensforge.orchestration.base import Orchestrator
from lensforge.trainers.registry import TrainerRegistry

router = APIRouter(prefix="/training/jobs", tags=["training"])


def get_registry(request: Request) -> TrainerRegistry:
    registry: TrainerRegistry = request.app.state.trainer_registry
    return registry


def get_orchestrator(request: Request) -> Orchestrator:
    orchestrator: Orchestrator = request.app.state.orchestrator
    return orchestrator


RegistryDep = Annotated[TrainerRegistry, Depends(get_registry)]
OrchestratorDep = Annotated[Orchestrator, Depends(get_orchestrator)]


def read(job: TrainingJob, orchestrator: Orchestrator) -> JobRead:
    found = JobRead.model_validate(job)
    found.workflow_url = orchestrator.workflow_link(job.workflow_id)
    return found


def detail(session: SessionDep, job: TrainingJob, orchestrator: Orchestrator) -> JobDetail:
    repo = JobRepository(session)
    return JobDetail.model_validate(
        {
            **read(job, orchestrator).model_dump(),
            "attempts": [AttemptRead.model_validate(a) for a in repo.attempts(job.id)],
            "transitions": [TransitionRead.model_validate(t) for t in repo.transitions(job.id)],
        }
    )


@router.post("", response_model=JobDetail, status_code=status.HTTP_201_CREATED)
def create_job(
    body: JobCreate,
    session: SessionDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    background: BackgroundTasks,
    store: ObjectStoreDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.JOB_CREATE),
) -> JobDetail:
    """Create a job pinned to a dataset version; it is validated and queued at once. Weights
    named by `weights` are resolved first (422 `weights_unavailable` when they cannot be had)."""
    pretrained = PretrainedWeights(session, store, settings)
    job = JobService(session, registry).create(principal, body, orchestrator, pretrained)
    background.add_task(orchestrator.submit, job.id)  # after the commit
    return detail(session, job, orchestrator)


@router.get("", response_model=Page[JobRead])
def list_jobs(
    session: SessionDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    principal: Principal = requires(Action.JOB_READ),
    project_id: uuid.UUID | None = None,
    dataset_id: uuid.UUID | None = None,
    trainer: str | None = None,
    job_status: Annotated[list[JobStatusName] | None, Query(alias="status")] = None,
    kind: JobKindName = "training",
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[JobRead]:
    """Jobs of one kind: trainings by default; `kind=export|inference` lists the jobs that
    export and run models."""
    rows, total = JobService(session, registry).list(
        principal,
        project_id=project_id,
        statuses=job_status or [],
        trainer=trainer,
        dataset_id=dataset_id,
        limit=limit,
        offset=offset,
        kind=kind,
    )
    return Page(
        items=[read(j, orchestrator) for j in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{job_id}", response_model=JobDetail)
def get_job(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    principal: Principal = requires(Action.JOB_READ),
) -> JobDetail:
    job = JobService(session, registry).visible(principal, job_id)
    return detail(session, job, orchestrator)


@router.post("/{job_id}/cancel", response_model=JobDetail, status_code=status.HTTP_202_ACCEPTED)
def cancel_job(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    background: BackgroundTasks,
    principal: Principal = requires(Action.JOB_CANCEL),
) -> JobDetail:
    job = JobService(session, registry).cancel(principal, job_id)
    background.add_task(orchestrator.cancel, job.id)
    return detail(session, job, orchestrator)


@router.post("/{job_id}/restart", response_model=JobDetail, status_code=status.HTTP_202_ACCEPTED)
def restart_job(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    background: BackgroundTasks,
    principal: Principal = requires(Action.JOB_RESTART),
) -> JobDetail:
    """Run a finished job again from scratch, as a new attempt."""
    job = JobService(session, registry).restart(principal, job_id)
    background.add_task(orchestrator.submit, job.id)
    return detail(session, job, orchestrator)


@router.post("/{job_id}/resume", response_model=JobDetail, status_code=status.HTTP_202_ACCEPTED)
def resume_job(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    background: BackgroundTasks,
    principal: Principal = requires(Action.JOB_RESTART),
) -> JobDetail:
    """Continue a failed or cancelled job from its last checkpoint, as a new attempt."""
    job = JobService(session, registry).resume(principal, job_id)
    background.add_task(orchestrator.submit, job.id)
    return detail(session, job, orchestrator)
