"""Routes: /deployments (the control plane of serving), their keys, usage and live stats, and
/usage for the whole organization. Predictions themselves are answered by the serving process
(`lensforge serve`), not here."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, File, Form, Query, UploadFile, status
from fastapi.responses import Response, StreamingResponse
from sqlalchemy.orm import Session

from lensforge.auth.api_keys_api import ApiKeyCreated, ApiKeyRead
from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.config import ServingSettings
from lensforge.dependencies import ObjectStoreDep, SessionDep, SettingsDep
from lensforge.deployments import keys as deployment_keys
from lensforge.deployments import usage
from lensforge.deployments.reads import deployment_read, version_read
from lensforge.deployments.schemas import (
    DeploymentCreate,
    DeploymentKeyCreate,
    DeploymentRead,
    DeploymentSettings,
    DeploymentStats,
    DeploymentStatusName,
    DeploymentVersionRead,
    RollbackRequest,
    TryItAnswer,
    UsageGroup,
    UsageReport,
    VersionCreate,
)
from lensforge.deployments.service import DeploymentService, current_versions
from lensforge.deployments.try_it import MAX_TRY_IMAGES, TryImage, TryIt
from lensforge.errors import ValidationFailed
from lensforge.jobs.api import OrchestratorDep, RegistryDep
from lensforge.kit.pagination import Offset
from lensforge.kit.schemas import Page, UtcDateTime
from lensforge.models import Deployment

router = APIRouter(tags=["deployments"])

OutputFormat = Literal["json", "csv"]
_CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV (format=csv)."}
}


def _read(session: Session, serving: ServingSettings, deployment: Deployment) -> DeploymentRead:
    current = current_versions(session, [deployment]).get(deployment.id)
    return deployment_read(serving, deployment, current)


@router.post("/deployments", response_model=DeploymentRead, status_code=status.HTTP_201_CREATED)
def create_deployment(
    body: DeploymentCreate,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    store: ObjectStoreDep,
    background: BackgroundTasks,
    principal: Principal = requires(Action.DEPLOYMENT_MANAGE),
) -> DeploymentRead:
    """Deploy a verified, completed ONNX export (ready at once) or a training job's checkpoint
    (`best` by default): then an ONNX export with a dynamic batch is made and verified on the
    way, and the deployment is `creating` until it is `ready` (or `failed`, with the reason)."""
    deployment, made = DeploymentService(session, registry, orchestrator).create(
        principal, body, store
    )
    if made.export_job_id is not None:
        background.add_task(orchestrator.submit, made.export_job_id)  # after the commit
    return _read(session, settings.serving, deployment)


@router.get("/deployments", response_model=Page[DeploymentRead])
def list_deployments(
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_READ),
    project_id: uuid.UUID | None = None,
    status: DeploymentStatusName | None = None,
    active: bool | None = None,
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[DeploymentRead]:
    service = DeploymentService(session, registry)
    rows, total = service.list(
        principal,
        project_id=project_id,
        status=status,
        active=active,
        limit=limit,
        offset=offset,
    )
    current = current_versions(session, rows)
    return Page(
        items=[deployment_read(settings.serving, d, current.get(d.id)) for d in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/deployments/{deployment_id}", response_model=DeploymentRead)
def get_deployment(
    deployment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_READ),
) -> DeploymentRead:
    deployment = DeploymentService(session, registry).visible(principal, deployment_id, settle=True)
    return _read(session, settings.serving, deployment)


@router.patch("/deployments/{deployment_id}", response_model=DeploymentRead)
def update_deployment(
    deployment_id: uuid.UUID,
    body: DeploymentSettings,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_MANAGE),
) -> DeploymentRead:
    """Description, batching, rate limits (null: the server's default) and the image API's
    default parameters. Replicas pick the change up within their refresh interval."""
    deployment = DeploymentService(session, registry).update_settings(
        principal, deployment_id, body
    )
    return _read(session, settings.serving, deployment)


@router.post("/deployments/{deployment_id}/activate", response_model=DeploymentRead)
def activate_deployment(
    deployment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_MANAGE),
) -> DeploymentRead:
    deployment = DeploymentService(session, registry).set_active(principal, deployment_id, True)
    return _read(session, settings.serving, deployment)


@router.post("/deployments/{deployment_id}/deactivate", response_model=DeploymentRead)
def deactivate_deployment(
    deployment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_MANAGE),
) -> DeploymentRead:
    """Keeps everything; predictions are refused (409 `deployment_inactive`) until activated."""
    deployment = DeploymentService(session, registry).set_active(principal, deployment_id, False)
    return _read(session, settings.serving, deployment)


@router.delete("/deployments/{deployment_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_deployment(
    deployment_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_DELETE),
) -> None:
    """The deployment and its versions; its usage records stay, and keys made for it alone are
    revoked."""
    DeploymentService(session, registry).delete(principal, deployment_id)


# --- versions ---------------------------------------------------------------------------------


@router.post(
    "/deployments/{deployment_id}/versions",
    response_model=DeploymentVersionRead,
    status_code=status.HTTP_201_CREATED,
)
def create_version(
    deployment_id: uuid.UUID,
    body: VersionCreate,
    session: SessionDep,
    registry: RegistryDep,
    orchestrator: OrchestratorDep,
    store: ObjectStoreDep,
    background: BackgroundTasks,
    principal: Principal = requires(Action.DEPLOYMENT_MANAGE),
) -> DeploymentVersionRead:
    """Update to a new model version: current once ready (at once from a verified export);
    the current version answers until then."""
    deployment, made = DeploymentService(session, registry, orchestrator).add_version(
        principal, deployment_id, body, store
    )
    if made.export_job_id is not None:
        background.add_task(orchestrator.submit, made.export_job_id)
    return version_read(made.version, deployment.current_version)


@router.get("/deployments/{deployment_id}/versions", response_model=Page[DeploymentVersionRead])
def list_versions(
    deployment_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_READ),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[DeploymentVersionRead]:
    """The history, newest first: who deployed which model when, and when each was current."""
    service = DeploymentService(session, registry)
    deployment = service.visible(principal, deployment_id, settle=True)
    versions = service.versions(deployment)
    return Page(
        items=[
            version_read(v, deployment.current_version) for v in versions[offset : offset + limit]
        ],
        total=len(versions),
        limit=limit,
        offset=offset,
    )


@router.post("/deployments/{deployment_id}/rollback", response_model=DeploymentRead)
def rollback_deployment(
    deployment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    body: RollbackRequest | None = None,
    principal: Principal = requires(Action.DEPLOYMENT_MANAGE),
) -> DeploymentRead:
    """Back to a ready version (default: the one current before the current one)."""
    deployment = DeploymentService(session, registry).rollback(
        principal, deployment_id, body.version if body else None
    )
    return _read(session, settings.serving, deployment)


# --- keys -------------------------------------------------------------------------------------


@router.post(
    "/deployments/{deployment_id}/keys",
    response_model=ApiKeyCreated,
    status_code=status.HTTP_201_CREATED,
)
def create_key(
    deployment_id: uuid.UUID,
    body: DeploymentKeyCreate,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_MANAGE),
) -> ApiKeyCreated:
    """A key that reaches this deployment only (`deployment:infer` by default; or
    `deployment:read`). The secret is shown in this answer only."""
    deployment = DeploymentService(session, registry).visible(principal, deployment_id)
    created = deployment_keys.create_deployment_key(
        session,
        principal,
        deployment,
        name=body.name,
        scopes=body.scopes,
        expires_at=body.expires_at,
    )
    return ApiKeyCreated(
        **ApiKeyRead.model_validate(created.key).model_dump(), secret=created.secret
    )


@router.get("/deployments/{deployment_id}/keys", response_model=list[ApiKeyRead])
def list_keys(
    deployment_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_READ),
) -> list[ApiKeyRead]:
    """The keys restricted to this deployment (never their secrets), revoked ones included."""
    deployment = DeploymentService(session, registry).visible(principal, deployment_id)
    return [
        ApiKeyRead.model_validate(key)
        for key in deployment_keys.deployment_keys(session, deployment)
    ]


# --- usage and stats --------------------------------------------------------------------------

StartQuery = Annotated[
    UtcDateTime | None, Query(description="Default: 30 days (day) or 24 hours (hour) ago.")
]
EndQuery = Annotated[UtcDateTime | None, Query(description="Default: now.")]
GroupQuery = Annotated[UsageGroup, Query(description="One row per day or hour (UTC).")]
FormatQuery = Annotated[OutputFormat, Query(alias="format", description="json or csv.")]


def _usage_answer(report: UsageReport, output: OutputFormat, name: str) -> Response | UsageReport:
    if output == "json":
        return report
    stamp = report.start.strftime("%Y%m%d")
    return StreamingResponse(
        usage.usage_csv(report),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="usage-{name}-{stamp}.csv"'},
    )


@router.get(
    "/deployments/{deployment_id}/usage", response_model=UsageReport, responses=_CSV_RESPONSE
)
def deployment_usage(
    deployment_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_READ),
    start: StartQuery = None,
    end: EndQuery = None,
    group: GroupQuery = "day",
    output: FormatQuery = "json",
) -> Response | UsageReport:
    """Requests, errors, images, bytes, compute time and total-latency percentiles per day or
    hour; `format=csv` for a CSV file."""
    deployment = DeploymentService(session, registry).visible(principal, deployment_id)
    report = usage.usage_report(
        session,
        organization_id=principal.organization_id,
        deployment_id=deployment.id,
        start=start,
        end=end,
        group=group,
    )
    return _usage_answer(report, output, deployment.name)


@router.get("/usage", response_model=UsageReport, responses=_CSV_RESPONSE)
def organization_usage(
    session: SessionDep,
    principal: Principal = requires(Action.USAGE_READ),
    start: StartQuery = None,
    end: EndQuery = None,
    group: GroupQuery = "day",
    output: FormatQuery = "json",
) -> Response | UsageReport:
    """The whole organization's usage per period and deployment (deleted deployments too: the
    records are the bill)."""
    report = usage.usage_report(
        session,
        organization_id=principal.organization_id,
        deployment_id=None,
        start=start,
        end=end,
        group=group,
    )
    return _usage_answer(report, output, "organization")


@router.get("/deployments/{deployment_id}/stats", response_model=DeploymentStats)
def deployment_stats(
    deployment_id: uuid.UUID,
    session: SessionDep,
    registry: RegistryDep,
    principal: Principal = requires(Action.DEPLOYMENT_READ),
    minutes: int = Query(60, ge=1, le=usage.MAX_STATS_MINUTES),
) -> DeploymentStats:
    """A point per minute for the live charts: requests/s, error rate, p50/p95/p99 latency."""
    deployment = DeploymentService(session, registry).visible(principal, deployment_id)
    return usage.live_stats(
        session,
        organization_id=principal.organization_id,
        deployment_id=deployment.id,
        minutes=minutes,
    )


@router.post("/deployments/{deployment_id}/predict", response_model=TryItAnswer)
def try_deployment(
    deployment_id: uuid.UUID,
    session: SessionDep,
    settings: SettingsDep,
    registry: RegistryDep,
    store: ObjectStoreDep,
    images: Annotated[list[UploadFile], File(description="JPEG, PNG or WebP images (at most 4)")],
    principal: Principal = requires(Action.DEPLOYMENT_INFER),
    conf: Annotated[float | None, Form(ge=0.0, le=1.0)] = None,
    render: bool = False,
) -> TryItAnswer:
    """Try the deployment's current version on a few images (the web page's form), answered by
    this server with the serving process's code and metered as route `ui`. Traffic belongs on
    the serving process's image API (`urls.image`)."""
    deployment = DeploymentService(session, registry).visible(principal, deployment_id, settle=True)
    if len(images) > MAX_TRY_IMAGES:
        raise ValidationFailed(
            f"try at most {MAX_TRY_IMAGES} images here; use the image API for more",
            code="too_many_images",
            details={"fields": [{"field": "images", "message": "too many"}]},
        )
    sent = [
        TryImage(name=i.filename or f"image-{n}", data=i.file.read()) for n, i in enumerate(images)
    ]
    version = current_versions(session, [deployment]).get(deployment.id)
    answer = TryIt.shared(settings, store).predict(
        session,
        deployment,
        version,
        sent,
        conf=conf,
        render_images=render,
        api_key_id=principal.api_key_id,
    )
    return TryItAnswer(
        deployment=deployment.name,
        version=answer.version,
        request_id=answer.request_id,
        results=[r.model_dump(mode="json") for r in answer.results],
        rendered=answer.rendered,
    )
