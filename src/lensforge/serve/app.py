"""The serving process's application (`lensforge serve`): the inference protocol and the image
API over the deployments in the database, with keys, rate limits, metering and metrics.

Every answer carries `X-Request-Id` (the usage record's id); every refusal is
`{"error": message, "code": code}` with its status (tritonclient reads `error`)."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import structlog
from fastapi import FastAPI, Request, Response
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lensforge import __version__
from lensforge.config import Settings, get_settings
from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.logging import configure_logging
from lensforge.serve import image_api, oip
from lensforge.serve.access import KeyVerifier
from lensforge.serve.context import Serving
from lensforge.serve.directory import Directory
from lensforge.serve.limits import RateLimits
from lensforge.serve.metering import Meter
from lensforge.serve.model_files import ModelFiles
from lensforge.serve.url_images import UrlImages
from lensforge.serving.errors import ServingError
from lensforge.serving.metrics import ServingMetrics
from lensforge.serving.runtime import DEFAULT_MEMORY_FACTOR, ModelPool, load_model
from lensforge.storage.factory import create_object_store

log = structlog.get_logger("lensforge.serve")
REQUEST_ID = "X-Request-Id"


def model_cache_dir(settings: Settings) -> Path:
    configured = settings.serving.model_cache_dir
    return Path(configured) if configured else settings.data_dir / "serving" / "models"


def usage_journal_dir(settings: Settings) -> Path:
    configured = settings.serving.usage_journal_dir
    return Path(configured) if configured else settings.data_dir / "serving" / "usage"


def replica_name(settings: Settings) -> str:
    return settings.serving.replica_name or f"{socket.gethostname()}:{settings.serving.port}"


def create_serve_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level, json=settings.log_json)
        engine = create_db_engine(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
        )
        sessions = create_session_factory(engine)
        store = create_object_store(settings)
        threads = settings.serving.intra_op_threads or None
        pool = ModelPool(
            settings.serving.model_memory_budget_bytes,
            loader=partial(_load, threads=threads, spin=settings.serving.onnx_spin_wait),
        )
        metrics = ServingMetrics()
        directory = Directory(
            sessions,
            ModelFiles(store, model_cache_dir(settings)),
            pool,
            refresh_interval_seconds=settings.serving.refresh_interval_seconds,
            on_batch=metrics.batch,
        )
        meter = Meter(usage_journal_dir(settings), sessions, replica_name(settings))
        meter.start()
        limits = RateLimits(settings.serving)
        url_images = UrlImages(settings)
        app.state.serving = Serving(
            settings=settings,
            sessions=sessions,
            directory=directory,
            verifier=KeyVerifier(sessions, settings),
            limits=limits,
            meter=meter,
            metrics=metrics,
            url_images=url_images,
        )
        await directory.start()
        log.info("serve.started", version=__version__, database=engine.dialect.name)
        try:
            yield
        finally:
            await directory.stop()
            await limits.close()
            await url_images.close()
            meter.stop()
            engine.dispose()

    app = FastAPI(
        title="Lensforge serving",
        version=__version__,
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(RequestContext)

    @app.exception_handler(ServingError)
    async def serving_error(request: Request, exc: ServingError) -> Response:
        deployment = request.scope["state"].get("deployment", "")
        if deployment:
            request.app.state.serving.metrics.error(deployment, exc.code)
        return error_response(exc.status_code, exc.message, exc.code, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, str(exc.detail), code, dict(exc.headers or {}))

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        body, content_type = request.app.state.serving.metrics.render()
        return Response(body, media_type=content_type)

    app.include_router(oip.router)
    app.include_router(image_api.router)
    return app


def _load(path: Path, *, threads: int | None, spin: bool) -> Any:
    return load_model(path, threads=threads, memory_factor=DEFAULT_MEMORY_FACTOR, spin=spin)


def error_response(
    status: int, message: str, code: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps({"error": message, "code": code}),
        status_code=status,
        headers=headers,
        media_type="application/json",
    )


class RequestContext:
    """A request id for every request (answered as `X-Request-Id`), the request counted in the
    metrics (by deployment, route and status), and a JSON 500 for anything unexpected."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        identifier = uuid.uuid4()
        state = scope.setdefault("state", {})
        state["request_id"] = identifier
        started = time.perf_counter()
        status = 500
        sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = message["status"]
                sent = True
                headers = list(message.get("headers", []))
                headers.append((REQUEST_ID.lower().encode(), str(identifier).encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("serve.unhandled", path=scope.get("path"))
            if not sent:
                await error_response(500, "internal error", "internal_error")(
                    scope, receive, send_with_id
                )
        finally:
            serving = getattr(scope.get("app"), "state", None)
            parts = getattr(serving, "serving", None) if serving is not None else None
            if parts is not None:
                parts.metrics.request(
                    state.get("deployment", ""),
                    _route_label(scope.get("path", "")),
                    status,
                    time.perf_counter() - started,
                )


def _route_label(path: str) -> str:
    if path.startswith("/v1/infer/"):
        return "image"
    if path.endswith("/infer"):
        return "v2_infer"
    if path.startswith("/v2/models/"):
        return "v2_model"
    if path.startswith("/v2"):
        return "v2_server"
    return "other"
