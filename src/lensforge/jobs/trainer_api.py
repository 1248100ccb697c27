"""Routes: /trainer/jobs/{job_id}, the trainer's side of the contract (docs/trainer-contract.md).

Authenticated by the attempt's job token only (see `trainer_auth`); these routes are outside the
user role × action policy.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends
from fastapi.responses import Response, StreamingResponse

from lensforge.dependencies import ObjectStoreDep, SessionDep, SettingsDep
from lensforge.jobs.ingest import apply_reports
from lensforge.jobs.trainer_auth import TrainerAuth
from lensforge.jobs.trainer_schemas import (
    CheckpointDownload,
    DatasetUrlsRequest,
    Heartbeat,
    HeartbeatResult,
    InputsResult,
    JobSpec,
    OutputUrlsRequest,
    ReportBatch,
    ReportResult,
    SourceDownload,
    UrlsResult,
    WeightsDownload,
)
from lensforge.jobs.trainer_service import TrainerService

router = APIRouter(prefix="/trainer/jobs/{job_id}", tags=["trainer"])


def _service(
    session: SessionDep, store: ObjectStoreDep, settings: SettingsDep, trainer: TrainerAuth
) -> TrainerService:
    return TrainerService(
        session, store, trainer, expires_in=settings.storage.presign_default_expiry_seconds
    )


ServiceDep = Annotated[TrainerService, Depends(_service)]


@router.get("", response_model=JobSpec)
def job_spec(service: ServiceDep) -> JobSpec:
    """What to train: trainer, model, config, the pinned dataset version, and what to resume."""
    return service.spec()


@router.post("/reports", response_model=ReportResult)
def post_reports(
    body: ReportBatch, session: SessionDep, store: ObjectStoreDep, trainer: TrainerAuth
) -> ReportResult:
    """Apply reports exactly once per (attempt, sequence); re-sent ones come back as
    duplicates, not applied again."""
    applied, duplicates = apply_reports(
        session, trainer.job, trainer.attempt, body.reports, store=store
    )
    return ReportResult(
        applied=applied,
        duplicates=duplicates,
        cancel_requested=trainer.job.cancel_requested_at is not None,
    )


@router.post("/heartbeat", response_model=HeartbeatResult)
def heartbeat(
    service: ServiceDep, body: Annotated[Heartbeat | None, Body()] = None
) -> HeartbeatResult:
    """Proves the trainer alive (the worker's reaper kills silent ones); answers whether the
    user asked to cancel."""
    return HeartbeatResult(cancel_requested=service.heartbeat(body.epoch if body else None))


@router.get(
    "/dataset/manifest",
    response_class=Response,
    responses={200: {"content": {"application/json": {}}, "description": "The manifest."}},
)
def dataset_manifest(service: ServiceDep) -> Response:
    """The pinned version's canonical manifest, each item with its `sha256` and the split this
    job uses."""
    body = service.manifest()
    headers = {"Cache-Control": "private, no-store"}
    if isinstance(body, bytes):
        return Response(body, media_type="application/json", headers=headers)
    return StreamingResponse(body, media_type="application/json", headers=headers)


@router.post("/dataset/urls", response_model=UrlsResult)
def dataset_urls(body: DatasetUrlsRequest, service: ServiceDep) -> UrlsResult:
    """Presigned GETs for images of the pinned version; any other hash refuses the call (403)."""
    return service.dataset_urls(body.sha256)


@router.post("/outputs/urls", response_model=UrlsResult)
def output_urls(body: OutputUrlsRequest, service: ServiceDep) -> UrlsResult:
    """Presigned PUTs under `jobs/<job_id>/outputs/`; names are relative and cannot leave it."""
    return service.output_urls(body.files)


@router.get("/checkpoints/{kind}", response_model=CheckpointDownload)
def checkpoint(kind: Literal["best", "last"], service: ServiceDep) -> CheckpointDownload:
    """A presigned GET of this job's `best` or `last` checkpoint (to resume, or to evaluate)."""
    return service.checkpoint(kind)


@router.get("/source", response_model=SourceDownload)
def source_model(service: ServiceDep) -> SourceDownload:
    """Export and inference jobs: a presigned GET of the checkpoint or exported model they use."""
    return service.source_download()


@router.get("/weights", response_model=WeightsDownload)
def weights(service: ServiceDep) -> WeightsDownload:
    """Training jobs started from uploaded weights: a presigned GET of the model artifact
    (404 `weights_not_found` when the job has none)."""
    return service.weights_download()


@router.get("/inputs", response_model=InputsResult)
def inputs(service: ServiceDep) -> InputsResult:
    """Inference jobs: presigned GETs of exactly the run's images."""
    return service.inputs()
