"""Routes: /trainer/jobs/{job_id}, the trainer's side of the contract (docs/trainer-contract.md).

Authenticated by the attempt's job token only (see `trainer_auth`); these routes are outside the
user role × action policy.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from lensforge.dependencies import ObjectStoreDep, SessionDep, SettingsDep
from lensforge.jobs.artifact_service import ArtifactService
from lensforge.jobs.artifacts import (
    MAX_PLOT_BYTES,
    NAME_PATTERN,
    ArtifactKind,
    ArtifactTooLarge,
    media_type,
)
from lensforge.jobs.ingest import apply_reports
from lensforge.jobs.trainer_auth import TrainerAuth
from lensforge.jobs.trainer_schemas import (
    ArtifactStored,
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


async def _artifact_body(request: Request) -> bytes:
    """The request body, read up to the largest artifact allowed (a bigger one is refused
    before it is all received; the per-kind limit is checked after)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_PLOT_BYTES:
        raise ArtifactTooLarge(
            f"{declared} bytes; an artifact may have at most {MAX_PLOT_BYTES}",
            details={"size": int(declared), "limit": MAX_PLOT_BYTES},
        )
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_PLOT_BYTES:
            raise ArtifactTooLarge(
                f"more than {MAX_PLOT_BYTES} bytes; an artifact may have at most that",
                details={"limit": MAX_PLOT_BYTES},
            )
    return bytes(body)


@router.put(
    "/artifacts/{name}",
    response_model=ArtifactStored,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
def put_artifact(
    request: Request,
    session: SessionDep,
    store: ObjectStoreDep,
    trainer: TrainerAuth,
    body: Annotated[bytes, Depends(_artifact_body)],
    name: Annotated[str, Path(pattern=NAME_PATTERN, max_length=100)],
    kind: Annotated[ArtifactKind, Query(description="`plot` (PNG/JPEG) or `table` (JSON).")],
    title: Annotated[str | None, Query(max_length=200)] = None,
) -> ArtifactStored:
    """Store a plot (PNG or JPEG, up to 8 MiB) or a table (JSON `{"columns", "rows"}`, up to
    1 MiB) shown on the job page; checked whole (type, decoding, shape) before it is kept. The
    same name again replaces it."""
    row = ArtifactService(session, store).record(
        trainer.job,
        trainer.attempt,
        name=name,
        kind=kind,
        title=title,
        content_type=media_type(request.headers.get("content-type")),
        body=body,
    )
    return ArtifactStored(name=row.name, kind=kind, size=row.size_bytes, sha256=row.sha256)
