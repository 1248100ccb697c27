"""Liveness and readiness probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from lensforge import __version__
from lensforge.auth.dependencies import PUBLIC
from lensforge.kit.schemas import Schema
from lensforge.orchestration.base import Orchestrator
from lensforge.storage.base import ObjectStore

router = APIRouter(tags=["health"], dependencies=[PUBLIC])


class Health(Schema):
    status: str
    version: str


class Readiness(Schema):
    status: str
    checks: dict[str, str]


@router.get("/health", response_model=Health)
def health() -> Health:
    """Liveness: the process answers."""
    return Health(status="ok", version=__version__)


@router.get("/ready", response_model=Readiness, responses={503: {"model": Readiness}})
def ready(request: Request) -> JSONResponse:
    """Readiness: the database, object storage and the job backend (Temporal) answer."""
    checks: dict[str, str] = {}
    factory: sessionmaker[Session] = request.app.state.session_factory
    try:
        with factory() as session:
            session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # a probe reports every failure instead of raising
        checks["database"] = f"error: {type(exc).__name__}: {exc}"
    store: ObjectStore = request.app.state.object_store
    try:
        store.check()
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = f"error: {type(exc).__name__}: {exc}"
    orchestrator: Orchestrator = request.app.state.orchestrator
    try:
        if (answer := orchestrator.check()) is not None:
            checks[orchestrator.name] = answer
    except Exception as exc:  # Temporal down: no job would start, so not ready
        checks[orchestrator.name] = f"error: {type(exc).__name__}: {exc}"
    ok = all(value == "ok" for value in checks.values())
    body = Readiness(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
