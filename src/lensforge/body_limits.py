"""Request-body limits per route class, enforced before and while a body streams in.

Every HTTP request gets a byte limit from the class of its route (small JSON by default; upload
parts, signed uploads, trainer reports and predict images their own). A `Content-Length` above
the limit is refused before anything is read; a chunked body (no length) is counted as it
arrives and refused the moment it passes the limit. Either way the answer is a 413 with the code
`request_body_too_large`, whatever the route did with the interrupted read.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lensforge.config import HttpSettings

BODY_TOO_LARGE_CODE = "request_body_too_large"
BAD_LENGTH_CODE = "bad_content_length"
# More digits than any real length; longer values are garbage, not big bodies.
_MAX_LENGTH_DIGITS = 18


@dataclass(frozen=True)
class RouteClass:
    name: str
    method: str
    pattern: re.Pattern[str]


# Paths under the API prefix; first match wins, anything else is a JSON (or form) route.
_ROUTE_CLASSES = (
    RouteClass("upload_part", "PUT", re.compile(r"^/api/v1/uploads/[^/]+/parts/[^/]+$")),
    RouteClass("signed_upload", "PUT", re.compile(r"^/api/v1/storage/objects/")),
    RouteClass("trainer", "POST", re.compile(r"^/api/v1/trainer/jobs/[^/]+/")),
    # Plots and tables a trainer reports (the route itself holds them to their own, lower limit).
    RouteClass("trainer", "PUT", re.compile(r"^/api/v1/trainer/jobs/[^/]+/artifacts/")),
    RouteClass("predict", "POST", re.compile(r"^/api/v1/training/jobs/[^/]+/predict$")),
    RouteClass("predict", "POST", re.compile(r"^/api/v1/deployments/[^/]+/predict$")),
)


def body_limit(limits: HttpSettings, method: str, path: str) -> int:
    """The most bytes a request body to `method path` may carry."""
    for route in _ROUTE_CLASSES:
        if route.method == method and route.pattern.match(path):
            limit: int = getattr(limits, f"max_{route.name}_body_bytes")
            return limit
    return limits.max_json_body_bytes


class RequestBodyTooLarge(HTTPException):
    """Raised into the route's read; the middleware answers 413 whatever the route made of it."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body exceeds this route's limit of {limit} bytes")
        self.limit = limit


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, limits: HttpSettings) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = body_limit(self.limits, scope["method"], scope["path"])
        declared = _declared_length(scope)
        if declared == _INVALID_LENGTH:
            await _refuse(send, 400, BAD_LENGTH_CODE, "Content-Length must be a number of bytes")
            return
        if declared is not None and declared > limit:
            await _refuse_too_large(send, limit)
            return
        state = _Counter(limit)

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                if state.received > limit:
                    state.exceeded = True
                    raise RequestBodyTooLarge(limit)
            return message

        async def guarded_send(message: Message) -> None:
            if state.exceeded:
                # The route was interrupted mid-read: whatever it answers, the answer is 413.
                if message["type"] == "http.response.start" and not state.answered:
                    state.answered = True
                    await _refuse_too_large(send, limit)
                return
            await send(message)

        await self.app(scope, counted_receive, guarded_send)


@dataclass
class _Counter:
    limit: int
    received: int = 0
    exceeded: bool = False
    answered: bool = False


_INVALID_LENGTH = -1


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            # ASCII digits only: `isdigit` on str would also accept '²'.
            if not value.isdigit() or len(value) > _MAX_LENGTH_DIGITS:
                return _INVALID_LENGTH
            return int(value)
    return None


async def _refuse_too_large(send: Send, limit: int) -> None:
    await _refuse(
        send,
        413,
        BODY_TOO_LARGE_CODE,
        f"the request body exceeds this route's limit of {limit} bytes",
        {"limit": limit},
    )


async def _refuse(send: Send, status: int, code: str, message: str, details: object = None) -> None:
    body = json.dumps({"error": {"code": code, "message": message, "details": details}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                # The rest of the body is never read: the connection cannot be reused.
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
