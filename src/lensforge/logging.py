"""Structured logs (structlog) with a request id bound to every line of a request."""

from __future__ import annotations

import atexit
import logging
import logging.handlers
import queue
import sys
import uuid
from collections.abc import Awaitable, Callable
from typing import TextIO

import structlog
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import Response

from lensforge.log_redaction import redact_fields, redact_text

REQUEST_ID_HEADER = "X-Request-ID"


# Lines waiting for the writer thread. When the sink (a terminal, a pipe to a slow collector)
# cannot keep up, newer lines are dropped and counted rather than blocking requests.
_QUEUE_CAPACITY = 10_000


class _RedactingFormatter(structlog.stdlib.ProcessorFormatter):
    """Renders a record, then scrubs credential-shaped text from the whole line (tracebacks and
    exception messages included)."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_text(super().format(record))


class _DroppingQueueHandler(logging.handlers.QueueHandler):
    """Formats in the caller (cheap: no locals, plain traceback), writes in a thread."""

    dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put_nowait(record)
        except queue.Full:
            _DroppingQueueHandler.dropped += 1


# The running writer thread (at most one); a list so that reconfiguring needs no `global`.
_listeners: list[logging.handlers.QueueListener] = []


def configure_logging(
    level: str = "INFO", *, json: bool = False, stream: TextIO | None = None
) -> None:
    """Route every log line through one formatter and one writer thread.

    Exceptions are rendered as plain tracebacks, never with local variables (rich's pretty
    tracebacks print every local of every frame: megabytes per error, seconds of a blocked event
    loop, and tokens in the clear). The event loop only formats and enqueues a line; a
    background thread does the (possibly blocking) write to stderr.
    """
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_fields,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
    )
    # JSON: the traceback becomes a plain `exception` string (dict_tracebacks would add locals).
    exception_rendering: list[structlog.types.Processor] = (
        [structlog.processors.format_exc_info] if json else []
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = _RedactingFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            *exception_rendering,
            renderer,
        ],
    )
    stop_logging()
    writer = logging.StreamHandler(stream or sys.stderr)
    line_queue: queue.Queue[logging.LogRecord] = queue.Queue(_QUEUE_CAPACITY)
    handler = _DroppingQueueHandler(line_queue)
    handler.setFormatter(formatter)
    listener = logging.handlers.QueueListener(line_queue, writer)
    listener.start()
    _listeners.append(listener)
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(level.upper())
    # uvicorn's access log duplicates ours (which carries the request id).
    logging.getLogger("uvicorn.access").disabled = True


def stop_logging() -> None:
    """Write out the lines still queued and stop the writer thread (also at interpreter exit)."""
    while _listeners:
        _listeners.pop().stop()


atexit.register(stop_logging)


class RequestIdMiddleware(BaseHTTPMiddleware):
    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        # Accept a caller's id only if it is short and plain, so logs cannot be injected into.
        request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else None
        request_id = request_id or uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        request.state.request_id = request_id
        log = structlog.get_logger("lensforge.http")
        response = await call_next(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        log.info(
            "request",
            method=request.method,
            path=request.url.path,
            status=response.status_code,
        )
        return response
