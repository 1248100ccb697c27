"""What every serving route shares: the process's parts, the caller and deployment lookup, the
body read under the size limit, and the usage record written for each request."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from fastapi import Request
from sqlalchemy.orm import Session, sessionmaker

from lensforge.auth.policy import Action
from lensforge.config import Settings
from lensforge.kit.types import utcnow
from lensforge.serve.access import Caller, KeyVerifier
from lensforge.serve.directory import DeploymentState, Directory
from lensforge.serve.limits import RateLimits
from lensforge.serve.metering import Meter, UsageEvent
from lensforge.serve.url_images import UrlImages
from lensforge.serving.errors import RequestTooLarge, ServingError
from lensforge.serving.metrics import ServingMetrics

T = TypeVar("T")


@dataclass
class Serving:
    """The serving process's parts, on `app.state.serving`."""

    settings: Settings
    sessions: sessionmaker[Session]
    directory: Directory
    verifier: KeyVerifier
    limits: RateLimits
    meter: Meter
    metrics: ServingMetrics
    url_images: UrlImages


def serving_of(request: Request) -> Serving:
    parts: Serving = request.app.state.serving
    return parts


def request_id(request: Request) -> uuid.UUID:
    value: uuid.UUID = request.scope["state"]["request_id"]
    return value


async def caller_of(request: Request) -> Caller:
    """The API key (or access token) of the request; 401 without a valid one."""
    verifier = serving_of(request).verifier
    return await asyncio.to_thread(
        verifier.verify, request.headers.get("authorization"), request.headers.get("x-api-key")
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, refused (413) as soon as it passes `limit`, before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLarge(f"the request body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestTooLarge(f"the request body is larger than {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette's form parser reads a cached body instead of the (consumed) stream.
    request._body = body
    return body


class ClientGone(ServingError):
    """The client disconnected before its answer: its place in the queue is freed."""

    status_code = 499
    code = "client_closed_request"


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`work`, cancelled as soon as the client disconnects (its batching slot freed at once).
    Call after the body is read: the next ASGI message can then only be the disconnect."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(request.receive())
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
        if not task.done() and gone.done() and gone.result().get("type") == "http.disconnect":
            task.cancel()
            raise ClientGone("the client disconnected")
        return await task
    finally:
        gone.cancel()
        if not task.done():
            task.cancel()


@dataclass
class Usage:
    """The usage record of one request, filled in as it goes."""

    route: str
    deployment: DeploymentState
    caller: Caller
    request_id: uuid.UUID
    started: float = field(default_factory=time.perf_counter)
    version: int | None = None
    status: int = 200
    error_code: str | None = None
    images: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    queue_ms: float = 0.0
    compute_ms: float = 0.0
    batch_size: int = 0

    def event(self) -> UsageEvent:
        return UsageEvent(
            request_id=self.request_id,
            organization_id=self.deployment.organization_id,
            project_id=self.deployment.project_id,
            deployment_id=self.deployment.id,
            deployment_name=self.deployment.name,
            version=self.version,
            api_key_id=self.caller.key_id,
            route=self.route,
            status=self.status,
            error_code=self.error_code,
            images=self.images,
            bytes_in=self.bytes_in,
            bytes_out=self.bytes_out,
            queue_ms=self.queue_ms,
            compute_ms=self.compute_ms,
            total_ms=(time.perf_counter() - self.started) * 1000,
            batch_size=self.batch_size,
            created_at=utcnow(),
        )


@asynccontextmanager
async def metered(
    request: Request, *, route: str, reference: str, action: Action | None
) -> AsyncIterator[tuple[Caller, DeploymentState, Usage]]:
    """Who calls and which deployment, then (from there on, refusals included) a usage record
    written when the request ends. With `action`, the caller must be allowed it (for a read,
    `deployment:infer` is enough too: a key that may predict may read what it predicts with)."""
    parts = serving_of(request)
    caller = await caller_of(request)
    deployment = await parts.directory.resolve(caller.organization_id, reference)
    request.scope["state"]["deployment"] = deployment.name
    usage = Usage(route, deployment, caller, request_id(request))
    try:
        if action is not None:
            _authorize(parts.verifier, caller, deployment, action)
        yield caller, deployment, usage
    except ServingError as exc:
        usage.status, usage.error_code = exc.status_code, exc.code
        raise
    except BaseException:
        usage.status, usage.error_code = 500, "internal_error"
        raise
    finally:
        parts.meter.record(usage.event())


def _authorize(
    verifier: KeyVerifier, caller: Caller, deployment: DeploymentState, action: Action
) -> None:
    try:
        verifier.authorize(caller, deployment_id=deployment.id, action=action)
    except ServingError as refused:
        if action is not Action.DEPLOYMENT_READ or refused.status_code != 403:
            raise
        try:
            verifier.authorize(caller, deployment_id=deployment.id, action=Action.DEPLOYMENT_INFER)
        except ServingError:
            raise refused from None
