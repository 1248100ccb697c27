"""Routes: /exports, /inference, /training/jobs/{id}/predict and /models/capabilities."""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, BackgroundTasks, File, Form, Path, Query, UploadFile, status
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.dependencies import ObjectStoreDep, SessionDep, SettingsDep
from lensforge.errors import Conflict, ValidationFailed
from lensforge.inference.render import render_png
from lensforge.inference.results import ImageResult
from lensforge.jobs.api import OrchestratorDep, RegistryDep
from lensforge.jobs.state import TERMINAL, JobStatus
from lensforge.kit.pagination import INT32_MAX, Offset
from lensforge.kit.schemas import Page
from lensforge.model_work import reads
from lensforge.model_work.capabilities import capabilities
from lensforge.model_work.images import SentImage, store_images
from lensforge.model_work.schemas import (
    Capabilities,
    ExportCreate,
    ExportDownload,
    ExportRead,
    InferenceCreate,
    InferenceParams,
    InferenceRunRead,
    PredictAnswer,
)
from lensforge.model_work.service import ModelWorkService
from lensforge.models import TrainingJob

router = APIRouter(tags=["models"])

# The position of an image in an inference run.
ImageIndex = Annotated[int, Path(ge=0, le=INT32_MAX)]

MAX_WAIT_SECONDS = 300
_POLL_SECONDS = 0.2


@router.get("/models/capabilities", response_model=Capabilities)
def model_capabilities(
    registry: RegistryDep, principal: Principal = requires(Action.TRAINER_READ)
) -> Capabilities:
    """Per trainer: tasks, models, whether it predicts and resumes, and every export format with
    whether it is available (and why not)."""
    return capabilities(registry)


# --- exports ----------------------------------------------------------------------------------


@router.post("/exports", response_model=ExportRead, status_code=status.HTTP_202_ACCEPTED)
def create_export(
    body: ExportCreate,
    session: SessionDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    background: BackgroundTasks,
    principal: Principal = requires(Action.MODEL_EXPORT),
) -> ExportRead:
    """Export a training job's `best` or `last` checkpoint; the export job verifies the result
    against the trained model before it is offered for download."""
    export = ModelWorkService(session, registry, orchestrator).create_export(
        principal,
        job_id=body.job_id,
        checkpoint=body.checkpoint,
        format=body.format,
        options=body.options,
    )
    background.add_task(orchestrator.submit, export.job_id)  # after the commit
    return reads.export_read(session, export)


@router.get("/exports", response_model=Page[ExportRead])
def list_exports(
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.JOB_READ),
    job_id: uuid.UUID | None = Query(None, description="The training job exported."),
    project_id: uuid.UUID | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[ExportRead]:
    rows, total = ModelWorkService(session, registry).list_exports(
        principal, job_id=job_id, project_id=project_id, limit=limit, offset=offset
    )
    return Page(
        items=[reads.export_read(session, e) for e in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/exports/{export_id}", response_model=ExportRead)
def get_export(
    export_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.JOB_READ),
) -> ExportRead:
    """Status, options and the verification report (parity numbers, latency)."""
    export = ModelWorkService(session, registry).visible_export(principal, export_id)
    return reads.export_read(session, export)


@router.get("/exports/{export_id}/download", response_model=ExportDownload)
def download_export(
    export_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.JOB_READ),
) -> ExportDownload:
    """A presigned download of a completed (verified) export."""
    export = ModelWorkService(session, registry).visible_export(principal, export_id)
    read = reads.export_read(session, export)
    if read.status != JobStatus.COMPLETED.value or export.artifact_key is None:
        raise Conflict(
            f"the export is {read.status}; only a completed, verified export can be downloaded",
            code="export_not_ready",
        )
    filename = export.artifact_key.rsplit("/", 1)[-1]
    expires = settings.storage.presign_default_expiry_seconds
    return ExportDownload(
        url=store.presign_get(export.artifact_key, expires_in=expires, filename=filename),
        expires_in=expires,
        filename=filename,
        size=export.size_bytes or 0,
        sha256=export.sha256,
    )


# --- inference --------------------------------------------------------------------------------


@router.post(
    "/training/jobs/{job_id}/predict",
    response_model=PredictAnswer,
    responses={202: {"model": PredictAnswer, "description": "Still running after `wait`."}},
)
def predict(
    job_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    orchestrator: OrchestratorDep,
    files: Annotated[list[UploadFile], File(description="JPEG, PNG or WebP images (≤ 20)")],
    principal: Principal = requires(Action.MODEL_PREDICT),
    checkpoint: Annotated[Literal["best", "last"] | None, Form()] = None,
    export_id: Annotated[uuid.UUID | None, Form()] = None,
    conf: Annotated[float, Form(ge=0.0, le=1.0)] = 0.25,
    iou: Annotated[float, Form(ge=0.0, le=1.0)] = 0.7,
    max_det: Annotated[int, Form(ge=1, le=10_000)] = 300,
    imgsz: Annotated[int | None, Form(ge=32, le=4096)] = None,
    wait: Annotated[float, Form(ge=0, le=MAX_WAIT_SECONDS)] = 60,
) -> Response:
    """A quick test inference: the images run through the job's `best` (default) or `last`
    checkpoint, or one of its completed exports. Answers 200 with the results when the run ends
    within `wait` seconds, else 202 with the run to follow at `GET /inference/{id}`."""
    service = ModelWorkService(session, registry, orchestrator)
    if checkpoint is not None and export_id is not None:
        raise ValidationFailed(
            "give either checkpoint or export_id, not both",
            code="invalid_model_choice",
            details={"fields": [{"field": "export_id", "message": "conflicts with checkpoint"}]},
        )
    # Every refusal about the model comes before anything is stored.
    service.check_model(principal, job_id, checkpoint, export_id)
    images = store_images(
        store,
        principal.organization_id,
        [SentImage(name=f.filename or "", stream=f.file) for f in files],
    )
    run = service.create_run(
        principal,
        job_id=job_id,
        checkpoint=checkpoint,
        export_id=export_id,
        params=InferenceParams(conf=conf, iou=iou, max_det=max_det, imgsz=imgsz),
        images=images,
        origin="upload",
    )
    session.commit()  # the worker must see the job now, not after the wait
    orchestrator.submit(run.job_id)
    deadline = time.monotonic() + wait
    while True:
        job = session.get(TrainingJob, run.job_id, populate_existing=True)
        done = job is not None and JobStatus(job.status) in TERMINAL
        # End the read at once: on SQLite an open transaction holds the write lock.
        session.commit()
        if done or time.monotonic() >= deadline:
            break
        time.sleep(_POLL_SECONDS)
    session.refresh(run)
    answer = PredictAnswer(run=reads.run_read(session, run), results=None)
    if answer.run.status == JobStatus.COMPLETED.value and run.results_key is not None:
        answer.results = reads.results_page(store, run, offset=0, limit=run.image_count)
    code = status.HTTP_200_OK if answer.run.status in {s.value for s in TERMINAL} else 202
    return JSONResponse(answer.model_dump(mode="json"), status_code=code)


@router.post("/inference", response_model=InferenceRunRead, status_code=status.HTTP_202_ACCEPTED)
def create_inference(
    body: InferenceCreate,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    orchestrator: OrchestratorDep,
    background: BackgroundTasks,
    principal: Principal = requires(Action.MODEL_PREDICT),
) -> InferenceRunRead:
    """An asynchronous inference job over a dataset version's images (optionally one split) or
    the images of an uploaded zip/tar archive; its results are stored and can be paged or
    downloaded."""
    run = ModelWorkService(session, registry, orchestrator).create_batch_run(principal, body, store)
    background.add_task(orchestrator.submit, run.job_id)
    return reads.run_read(session, run)


@router.get("/inference", response_model=Page[InferenceRunRead])
def list_inference(
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.JOB_READ),
    job_id: uuid.UUID | None = Query(None, description="The training job whose model ran."),
    project_id: uuid.UUID | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[InferenceRunRead]:
    rows, total = ModelWorkService(session, registry).list_runs(
        principal, job_id=job_id, project_id=project_id, limit=limit, offset=offset
    )
    return Page(
        items=[reads.run_read(session, r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/inference/{run_id}", response_model=InferenceRunRead)
def get_inference(
    run_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.JOB_READ),
) -> InferenceRunRead:
    return reads.run_read(
        session, ModelWorkService(session, registry).visible_run(principal, run_id)
    )


@router.get("/inference/{run_id}/results", response_model=Page[dict[str, object]])
def inference_results(
    run_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.JOB_READ),
    limit: int = Query(50, ge=1, le=1000),
    offset: Offset = 0,
) -> Page[dict[str, object]]:
    """The results, one per image in the run's order (the platform's result schema)."""
    run = ModelWorkService(session, registry).visible_run(principal, run_id)
    items = reads.results_page(store, run, offset=offset, limit=limit)
    return Page(items=items, total=run.result_count or 0, limit=limit, offset=offset)


@router.get("/inference/{run_id}/results/download", response_class=StreamingResponse)
def download_inference_results(
    run_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.JOB_READ),
) -> Response:
    """Every result as JSON Lines, streamed."""
    run = ModelWorkService(session, registry).visible_run(principal, run_id)
    lines = reads.iter_result_lines(store, run)
    return StreamingResponse(
        (line + b"\n" for line in lines),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="inference-{run.id}.jsonl"'},
    )


@router.get(
    "/inference/{run_id}/images/{index}/rendered",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def rendered_image(
    run_id: uuid.UUID,
    index: ImageIndex,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.JOB_READ),
) -> Response:
    """The image with its predictions drawn (boxes, polygons, keypoints, labels)."""
    run = ModelWorkService(session, registry).visible_run(principal, run_id)
    result = ImageResult.model_validate(reads.result_at(store, run, index))
    with store.open(reads.image_key_at(run, index)) as source:
        png = render_png(source, result)
    return Response(png, media_type="image/png", headers={"Cache-Control": "private, max-age=3600"})


@router.get(
    "/inference/{run_id}/images/{index}/original",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/*": {}}}},
)
def original_image(
    run_id: uuid.UUID,
    index: ImageIndex,
    session: SessionDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.JOB_READ),
) -> Response:
    run = ModelWorkService(session, registry).visible_run(principal, run_id)
    stream = store.open(reads.image_key_at(run, index))
    return StreamingResponse(
        iter(lambda: stream.read(1024 * 1024), b""),
        media_type="application/octet-stream",
        headers={"Cache-Control": "private, max-age=3600"},
        background=BackgroundTask(stream.close),
    )
