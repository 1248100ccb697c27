"""The FastAPI application: `create_app()` wires settings, database, storage and routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from lensforge import __version__
from lensforge.body_limits import BodyLimitMiddleware
from lensforge.config import Settings, get_settings
from lensforge.datasets.importer import ImportContext, resume_unfinished_imports
from lensforge.datasets.sources import s3_egress_policy
from lensforge.deployments.settle import start_settler, stop_settler
from lensforge.errors import LensforgeError
from lensforge.kit import migrate
from lensforge.kit.background import BackgroundRunner
from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.logging import RequestIdMiddleware, configure_logging
from lensforge.maintenance import start_maintenance, stop_maintenance
from lensforge.openapi_errors import document_error_responses
from lensforge.orchestration.base import create_orchestrator
from lensforge.realtime.hub import EventHub
from lensforge.realtime.table_source import TableTailSource
from lensforge.routes import api_router
from lensforge.storage.factory import create_object_store
from lensforge.trainers.registry import load_registry
from lensforge.web.api_docs import mount_api_docs
from lensforge.web.routes import html_error, mount_web_ui, wants_html

API_PREFIX = "/api/v1"

log = structlog.get_logger("lensforge.app")


def create_app(settings: Settings | None = None, *, run_migrations: bool = True) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json=settings.log_json)
        _ = settings.secret_key  # fail at start, not at first login, on a weak secret
        _ = s3_egress_policy(settings)  # and on a malformed S3 import allow-list
        engine = create_db_engine(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        if run_migrations:
            migrate.upgrade(engine)
        sessions = create_session_factory(engine)
        store = create_object_store(settings)
        background = BackgroundRunner(
            settings.datasets.import_workers,
            name="lensforge-import",
            per_group=settings.datasets.import_workers_per_organization,
        )
        import_context = ImportContext(
            settings=settings, store=store, sessions=sessions, secrets={}
        )
        app.state.settings = settings
        app.state.engine = engine
        app.state.session_factory = sessions
        app.state.object_store = store
        app.state.background = background
        app.state.import_context = import_context
        app.state.trainer_registry = load_registry(settings.trainers.plugin_dirs)
        orchestrator = create_orchestrator(settings, sessions)
        orchestrator.start()
        app.state.orchestrator = orchestrator
        event_hub = EventHub(TableTailSource(sessions))
        await event_hub.start()
        app.state.event_hub = event_hub
        resumed = resume_unfinished_imports(import_context, background)
        log.info(
            "started",
            version=__version__,
            database=engine.dialect.name,
            storage=settings.storage.backend,
            resumed_imports=resumed,
        )
        maintenance = start_maintenance(sessions, store, settings.maintenance_interval_seconds)
        # Deployment versions waiting for their export turn ready (or failed) without a read.
        settler = start_settler(sessions, settings.serving.refresh_interval_seconds)
        try:
            yield
        finally:
            await stop_settler(settler)
            await stop_maintenance(maintenance)
            orchestrator.close()
            await event_hub.stop()
            background.shutdown(wait=True)
            engine.dispose()

    app = FastAPI(
        title="Lensforge",
        version=__version__,
        description="Self-hostable platform for training vision models.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        # Served by mount_api_docs from local assets instead of FastAPI's CDN-backed pages.
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(BodyLimitMiddleware, limits=settings.http)
    _install_error_handlers(app)
    app.include_router(api_router, prefix=API_PREFIX)
    mount_api_docs(app, API_PREFIX)
    mount_web_ui(app)
    _document_errors(app)
    return app


def _document_errors(app: FastAPI) -> None:
    """The OpenAPI document lists the error answers of every operation (see openapi_errors)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_error_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LensforgeError)
    async def _domain_error(_request: Request, exc: LensforgeError) -> JSONResponse:
        if exc.status_code >= 500:
            log.error("server error", code=exc.code, message=exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if exc.status_code == 401 else None
        headers = getattr(exc, "headers", None) or headers  # e.g. Retry-After on a 429
        return JSONResponse(
            _error_body(exc.code, exc.message, exc.details),
            status_code=exc.status_code,
            headers=headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = [
            {
                "field": ".".join(str(part) for part in error["loc"]),
                "message": error["msg"],
                "type": error["type"],
            }
            for error in exc.errors()
        ]
        return JSONResponse(
            _error_body("validation_error", "the request is not valid", {"fields": fields}),
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if wants_html(request) and exc.status_code in (404, 405):
            return html_error(request, exc.status_code, "There is no such page.")
        # 400 comes from FastAPI when a body cannot be parsed as its media type.
        codes = {400: "malformed_body", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        return JSONResponse(
            _error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", path=request.url.path)
        if wants_html(request):
            return html_error(request, 500, "Something went wrong on the server; see its log.")
        return JSONResponse(
            _error_body(
                "internal_error",
                "an unexpected error occurred; see the server log",
                {"request_id": getattr(request.state, "request_id", None)},
            ),
            status_code=500,
        )
