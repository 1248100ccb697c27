"""WebSocket /ws/training: live job status, progress, logs and checkpoints.

Protocol (JSON text messages):
- authenticate with `?token=<JWT or API key>` in the URL, or, since a URL may end up in logs,
  with a first message `{"type": "auth", "token": ...}` within 10 seconds. The caller needs
  `job:read`. Bad credentials close the socket with 4401, a role or key scope without
  `job:read` with 4403 (after an `error` message saying why).
- the server answers `{"type": "ready", ...}`; then the client sends
  `{"action": "subscribe", "job_id": ...}` or `{"action": "subscribe", "project_id": ...}`
  (answered `subscribed`, or `{"type": "error", "code": "not_found"}` for anything it may not
  see), `unsubscribe` alike, and `{"action": "ping"}` (answered `pong`).
- the server sends the events of subscribed jobs and projects as stored by
  `lensforge.jobs.events.emit`: `job_status`, `training_progress`, `log`, `checkpoint`, each
  with `type` and `job_id`; and `{"type": "ping"}` when idle, so proxies keep the socket open.
- a client too slow to take its events is closed with 1013; it should reconnect and re-read
  the state through the REST API.
- access is re-checked while the socket is open: before delivering an event or a keepalive when
  the last check is older than `security.websocket_access_recheck_seconds` (5 s), and at once
  when a change of access in the organization is announced (a member removed, a role changed, a
  project membership ended, an API key revoked; `lensforge.auth.access_events`). A job or
  project the caller may no longer see is dropped with `{"type": "unsubscribed", ...,
  "reason": "access_revoked"}` and none of its events are sent; a caller who is no longer a
  member, whose account is disabled or whose key is revoked gets an `error` and the socket is
  closed with 1008 (policy violation), the reason being the error code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import State

from lensforge.auth.access_events import ACCESS_CHANGED
from lensforge.auth.dependencies import recheck_principal, resolve_principal
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.errors import LensforgeError, NotFound, Unauthorized
from lensforge.jobs.service import JobService
from lensforge.kit.db import transaction
from lensforge.projects.service import ProjectService
from lensforge.realtime.hub import EventHub, EventRecord, Subscription

router = APIRouter(tags=["realtime"])

AUTH_TIMEOUT_SECONDS = 10.0
KEEPALIVE_SECONDS = 25.0
MAX_SUBSCRIPTIONS = 200
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_TOO_SLOW = 1013
CLOSE_GOING_AWAY = 1001
CLOSE_POLICY_VIOLATION = 1008


class _Socket:
    """Serialises sends: the event pump and the command loop both write."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self._lock = asyncio.Lock()

    async def send(self, message: dict[str, Any]) -> None:
        async with self._lock:
            await self.websocket.send_json(message)

    async def error(self, code: str, message: str, **extra: Any) -> None:
        await self.send({"type": "error", "code": code, "message": message, **extra})

    async def close(self, code: int, reason: str) -> None:
        async with self._lock:
            await self.websocket.close(code=code, reason=reason)


class _Access:
    """The connection's principal, kept current: re-checked when older than the interval, and
    at the next delivery after an access change was announced."""

    def __init__(self, state: State, principal: Principal) -> None:
        self.state = state
        self.principal = principal
        self._interval = state.settings.security.websocket_access_recheck_seconds
        self._checked_at = time.monotonic()
        self._stale = False

    def mark_stale(self) -> None:
        self._stale = True

    def due(self) -> bool:
        return self._stale or time.monotonic() - self._checked_at >= self._interval

    async def recheck(self, subscription: Subscription) -> list[tuple[str, uuid.UUID]]:
        """The subscriptions no longer allowed, after dropping them; raises a LensforgeError
        when the caller may not use this connection at all any more."""
        watched = [("job_id", j) for j in set(subscription.job_ids)]
        watched += [("project_id", p) for p in set(subscription.project_ids)]
        principal, lost = await run_in_threadpool(self._check, watched)
        self.principal = principal
        self._checked_at = time.monotonic()
        self._stale = False
        for field, target in lost:
            (subscription.job_ids if field == "job_id" else subscription.project_ids).discard(
                target
            )
        return lost

    def _check(
        self, watched: list[tuple[str, uuid.UUID]]
    ) -> tuple[Principal, list[tuple[str, uuid.UUID]]]:
        with transaction(self.state.session_factory) as session:
            principal = recheck_principal(session, self.principal)
            principal.require(Action.JOB_READ)
            lost = [
                (field, target)
                for field, target in watched
                if not _visible_in(session, self.state, principal, field, target)
            ]
        return principal, lost


@router.websocket("/ws/training")
async def training_updates(websocket: WebSocket) -> None:
    # Accept first: a refused handshake reaches a browser as a bare failure, without the
    # close code and reason it needs to tell "log in again" from "try later".
    await websocket.accept()
    socket = _Socket(websocket)
    state: State = websocket.app.state
    try:
        principal = await _authenticate(websocket, state)
    except LensforgeError as exc:
        code = CLOSE_UNAUTHORIZED if exc.status_code == 401 else CLOSE_FORBIDDEN
        with contextlib.suppress(WebSocketDisconnect, RuntimeError):
            await socket.error(exc.code, exc.message)
            await socket.close(code, exc.code)
        return
    except WebSocketDisconnect:
        return
    hub: EventHub = state.event_hub
    subscription = hub.subscribe(principal.organization_id)
    try:
        await socket.send(
            {
                "type": "ready",
                "user_id": str(principal.user_id),
                "organization_id": str(principal.organization_id),
            }
        )
        access = _Access(state, principal)
        await _until_first_ends(
            lambda: _pump_events(socket, access, subscription),
            lambda: _serve_commands(socket, access, subscription),
        )
    except (WebSocketDisconnect, RuntimeError):
        pass  # the client went away while we were sending
    finally:
        hub.unsubscribe(subscription)


# Read by the policy test: WebSocket routes authenticate inside, not through a dependency.
training_updates.lensforge_websocket_action = Action.JOB_READ  # type: ignore[attr-defined]


async def _until_first_ends(*tasks: Callable[[], Awaitable[None]]) -> None:
    async with anyio.create_task_group() as group:

        async def run(task: Callable[[], Awaitable[None]]) -> None:
            try:
                await task()
            except (WebSocketDisconnect, RuntimeError):
                pass  # the client went away while we were sending
            finally:
                group.cancel_scope.cancel()

        for task in tasks:
            group.start_soon(run, task)


async def _authenticate(websocket: WebSocket, state: State) -> Principal:
    token = websocket.query_params.get("token")
    if not token:
        token = await _token_from_first_message(websocket)

    def resolve() -> Principal:
        with transaction(state.session_factory) as session:
            principal = resolve_principal(session, state.settings, token)
        principal.require(Action.JOB_READ)
        return principal

    return await run_in_threadpool(resolve)


async def _token_from_first_message(websocket: WebSocket) -> str:
    with anyio.move_on_after(AUTH_TIMEOUT_SECONDS):
        message = await _receive(websocket)
        token = message.get("token") if message.get("type") == "auth" else None
        if isinstance(token, str) and token:
            return token
        raise Unauthorized(
            'authenticate first: ?token=... or {"type": "auth", "token": ...}',
            code="not_authenticated",
        )
    raise Unauthorized("no credentials within the time allowed", code="not_authenticated")


async def _receive(websocket: WebSocket) -> dict[str, Any]:
    """The next client message as a JSON object ({} when it is not one), text or binary."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
    raw = message.get("text") or message.get("bytes") or b""
    try:
        parsed = json.loads(raw)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


async def _pump_events(socket: _Socket, access: _Access, subscription: Subscription) -> None:
    while True:
        record: EventRecord | None = None
        keepalive = True
        with anyio.move_on_after(KEEPALIVE_SECONDS):
            record = await subscription.get()
            keepalive = False
        if not keepalive and record is None:
            if subscription.dropped:
                await socket.close(CLOSE_TOO_SLOW, "too slow to receive events; reconnect")
            else:
                await socket.close(CLOSE_GOING_AWAY, "the server is shutting down")
            return
        if record is not None and record.type == ACCESS_CHANGED:
            access.mark_stale()
        if access.due() and not await _recheck(socket, access, subscription):
            return
        if keepalive:
            await socket.send({"type": "ping"})
        elif record is not None and record.type != ACCESS_CHANGED and subscription.wants(record):
            await socket.send(record.payload)


async def _recheck(socket: _Socket, access: _Access, subscription: Subscription) -> bool:
    """Re-check access; False (the socket closed) when the caller lost it altogether."""
    try:
        lost = await access.recheck(subscription)
    except LensforgeError as exc:
        await socket.error(exc.code, exc.message)
        await socket.close(CLOSE_POLICY_VIOLATION, exc.code)
        return False
    for field, target in lost:
        await socket.send({"type": "unsubscribed", field: str(target), "reason": "access_revoked"})
    return True


async def _serve_commands(socket: _Socket, access: _Access, subscription: Subscription) -> None:
    while True:
        try:
            message = await _receive(socket.websocket)
        except WebSocketDisconnect:
            return
        action = message.get("action")
        if action == "ping":
            await socket.send({"type": "pong"})
        elif action in ("subscribe", "unsubscribe"):
            await _change_subscription(socket, access, subscription, message)
        else:
            await socket.error(
                "bad_request",
                "expected {'action': 'subscribe'|'unsubscribe', 'job_id'|'project_id': ...}"
                " or {'action': 'ping'}",
            )


async def _change_subscription(
    socket: _Socket, access: _Access, subscription: Subscription, message: dict[str, Any]
) -> None:
    action = message["action"]
    field = "job_id" if "job_id" in message else "project_id"
    try:
        target = uuid.UUID(str(message.get(field)))
    except ValueError:
        await socket.error("bad_request", "give a job_id or a project_id (a UUID)", action=action)
        return
    ids = subscription.job_ids if field == "job_id" else subscription.project_ids
    if action == "unsubscribe":
        ids.discard(target)
        await socket.send({"type": "unsubscribed", field: str(target)})
        return
    if len(subscription.job_ids) + len(subscription.project_ids) >= MAX_SUBSCRIPTIONS:
        await socket.error("too_many_subscriptions", f"at most {MAX_SUBSCRIPTIONS} per connection")
        return
    if not await run_in_threadpool(_visible, access.state, access.principal, field, target):
        await socket.error(
            "not_found", f"{field.removesuffix('_id')} not found", **{field: str(target)}
        )
        return
    ids.add(target)
    await socket.send({"type": "subscribed", field: str(target)})


def _visible(state: State, principal: Principal, field: str, target: uuid.UUID) -> bool:
    with transaction(state.session_factory) as session:
        return _visible_in(session, state, principal, field, target)


def _visible_in(
    session: Session, state: State, principal: Principal, field: str, target: uuid.UUID
) -> bool:
    try:
        if field == "job_id":
            JobService(session, state.trainer_registry).visible(principal, target)
        else:
            ProjectService(session).visible(principal, target)
    except NotFound:
        return False
    return True
