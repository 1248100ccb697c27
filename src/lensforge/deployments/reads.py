"""Deployment rows as users read them, with the addresses clients call."""

from __future__ import annotations

from lensforge.config import ServingSettings
from lensforge.deployments.schemas import DeploymentRead, DeploymentUrls, DeploymentVersionRead
from lensforge.models import Deployment, DeploymentVersion


def serving_base_url(serving: ServingSettings) -> str:
    """Where clients reach the serving process: its public URL, else its own address."""
    if serving.public_url:
        return serving.public_url.rstrip("/")
    return f"http://{serving.host}:{serving.port}"


def urls(serving: ServingSettings, deployment: Deployment) -> DeploymentUrls:
    base = serving_base_url(serving)
    # Names are URL-safe by construction (service.NAME_PATTERN): no quoting needed.
    return DeploymentUrls(
        image=f"{base}/v1/infer/{deployment.name}", v2=base, model_name=deployment.name
    )


def version_read(version: DeploymentVersion, current_number: int | None) -> DeploymentVersionRead:
    return DeploymentVersionRead(
        number=version.number,
        status=version.status,  # written by the service only
        status_reason=version.status_reason,
        source_job_id=version.source_job_id,
        export_id=version.export_id,
        format=version.format,
        sha256=version.sha256,
        size_bytes=version.size_bytes,
        task=version.task,
        class_names=list(version.class_names or []),
        model_info=dict(version.model_info or {}),
        created_by_id=version.created_by_id,
        created_at=version.created_at,
        activated_at=version.activated_at,
        current=version.number == current_number,
    )


def deployment_read(
    serving: ServingSettings, deployment: Deployment, current: DeploymentVersion | None
) -> DeploymentRead:
    return DeploymentRead(
        id=deployment.id,
        project_id=deployment.project_id,
        name=deployment.name,
        description=deployment.description,
        status=deployment.status,  # written by the service only
        status_reason=deployment.status_reason,
        active=deployment.active,
        current_version=deployment.current_version,
        max_batch_size=deployment.max_batch_size,
        max_queue_delay_ms=deployment.max_queue_delay_ms,
        queue_limit=deployment.queue_limit,
        rate_limit_per_second=deployment.rate_limit_per_second,
        rate_limit_burst=deployment.rate_limit_burst,
        parameters=dict(deployment.parameters or {}),
        created_by_id=deployment.created_by_id,
        created_at=deployment.created_at,
        updated_at=deployment.updated_at,
        urls=urls(serving, deployment),
        version=version_read(current, deployment.current_version) if current else None,
    )
