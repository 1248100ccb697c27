"""Versions made from a training job wait for their ONNX export: once the export job finishes,
the version becomes `ready` (and current) or `failed` with the export's reason.

`settle_pending` is called on deployment reads (a client polling sees the change at once) and
by a small loop in the API server (so that serving replicas see it without anyone reading).
With nothing pending it is one query over a table that holds one row per version ever made.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from lensforge.deployments.model_facts import export_job_status, take_file, unverified_reason
from lensforge.jobs.state import TERMINAL, JobStatus
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import Deployment, DeploymentVersion, ModelExport

log = structlog.get_logger("lensforge.deployments")


def settle_pending(
    session: Session,
    *,
    organization_id: uuid.UUID | None = None,
    deployment_id: uuid.UUID | None = None,
) -> int:
    """Move every `creating` version whose export finished (optionally of one organization or
    one deployment); the number moved."""
    query = select(DeploymentVersion).where(DeploymentVersion.status == "creating")
    if deployment_id is not None:
        query = query.where(DeploymentVersion.deployment_id == deployment_id)
    elif organization_id is not None:
        query = query.where(
            DeploymentVersion.deployment_id.in_(
                select(Deployment.id).where(Deployment.organization_id == organization_id)
            )
        )
    # Several API servers (and a read beside the loop) may look at once: each version is
    # settled by whoever locks it first (PostgreSQL; SQLite transactions are serial anyway).
    pending = session.scalars(query.with_for_update(skip_locked=True)).all()
    moved = 0
    for version in pending:
        if _settle(session, version):
            moved += 1
    if moved:
        session.flush()
    return moved


def _settle(session: Session, version: DeploymentVersion) -> bool:
    deployment = session.get(Deployment, version.deployment_id)
    assert deployment is not None  # versions go with their deployment (CASCADE)
    export = session.get(ModelExport, version.export_id) if version.export_id else None
    if export is None:
        _fail(deployment, version, "the export made for this version was deleted")
        return True
    status, reason = export_job_status(session, export)
    if JobStatus(status) not in TERMINAL:
        return False
    # The export row was read before its job's status: read it again, so that its file and
    # verification (reported before the outcome) are seen (PostgreSQL's READ COMMITTED).
    session.refresh(export)
    if status != JobStatus.COMPLETED.value:
        _fail(deployment, version, f"the ONNX export {status}: {reason or 'no reason given'}")
        return True
    problem = unverified_reason(export)
    if problem is not None:
        _fail(deployment, version, problem)
        return True
    take_file(session, version, export)
    version.status = "ready"
    version.status_reason = ""
    make_current(deployment, version)
    log.info("deployment version ready", deployment=deployment.name, version=version.number)
    return True


def make_current(deployment: Deployment, version: DeploymentVersion) -> None:
    now = utcnow()
    version.activated_at = now
    deployment.current_version = version.number
    deployment.status = "ready"
    deployment.status_reason = ""
    deployment.updated_at = now


def _fail(deployment: Deployment, version: DeploymentVersion, reason: str) -> None:
    version.status = "failed"
    version.status_reason = reason
    if deployment.current_version is None:
        # Nothing answers yet: the deployment's state is its only version's.
        deployment.status = "failed"
        deployment.status_reason = f"version {version.number}: {reason}"
    deployment.updated_at = utcnow()
    log.info(
        "deployment version failed",
        deployment=deployment.name,
        version=version.number,
        reason=reason,
    )


def settle_once(sessions: sessionmaker[Session]) -> int:
    with transaction(sessions) as session:
        return settle_pending(session)


async def run_settler(sessions: sessionmaker[Session], interval_seconds: float) -> None:
    """Settle every `interval_seconds` until cancelled; a failed pass is logged, not fatal."""
    while True:
        try:
            await run_in_threadpool(settle_once, sessions)
        except Exception as exc:  # a background pass must never take the server down
            log.warning("settling deployment versions failed", error=repr(exc))
        await asyncio.sleep(interval_seconds)


def start_settler(sessions: sessionmaker[Session], interval_seconds: float) -> asyncio.Task[None]:
    return asyncio.create_task(run_settler(sessions, interval_seconds))


async def stop_settler(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
