"""Live job events over the server's WebSocket, with reconnection.

One connection per stream, made with the `websockets` package's synchronous client (the client
stays free of asyncio). The credential goes in the `token` query parameter, read again before
each connection (an access token may have been refreshed meanwhile). Protocol: the server says
`ready`, the client subscribes to a job or project and waits for `subscribed`, then events
flow; see `lensforge.realtime.api`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.sync.client import ClientConnection, connect

from lensforge import __version__
from lensforge.client._http import API_PREFIX, HttpSession
from lensforge.client.errors import (
    APIError,
    AuthenticationError,
    ConnectionFailed,
    LensforgeError,
    NotFoundError,
    PermissionDenied,
    ServerError,
)
from lensforge.client.job_models import JobEvent

WS_PATH = "/ws/training"
FIRST_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
OPEN_TIMEOUT_SECONDS = 10.0
# Messages about the connection itself, not about a job: never handed to the caller.
_CONTROL_TYPES = frozenset({"ready", "subscribed", "unsubscribed", "pong", "ping"})
# Close codes 4000 + an HTTP status: the server refusing the credential or the subscription.
_REFUSALS: dict[int, type[APIError]] = {
    4401: AuthenticationError,
    4403: PermissionDenied,
    4404: NotFoundError,
}


def websocket_url(base_url: str) -> str:
    scheme, rest = base_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest}{API_PREFIX}{WS_PATH}"


class EventStream(Iterator[JobEvent]):
    """Iterate to receive events as they happen; `close()` (from any thread) ends the
    iteration. A dropped connection is made again after a pause that doubles up to
    `max_backoff` seconds; events sent while disconnected are lost (re-read the job, its logs
    and metrics to catch up). Refusals (bad credentials, no access) raise at once.

    `prepare` runs before each connection and returns what to subscribe to, e.g.
    `[{"job_id": ...}]`; it makes ordinary authenticated requests, which refresh an expired
    access token and turn an unknown job or project into `NotFoundError`.
    """

    def __init__(
        self,
        session: HttpSession,
        prepare: Callable[[], list[dict[str, str]]],
        *,
        max_backoff: float = MAX_BACKOFF_SECONDS,
        max_retries: int | None = None,
    ) -> None:
        self._session = session
        self._prepare = prepare
        self._backlog: list[JobEvent] = []
        self._max_backoff = max_backoff
        self._max_retries = max_retries
        self._closed = threading.Event()
        self._connected = threading.Event()
        self._lock = threading.Lock()
        self._ws: ClientConnection | None = None
        # The pause before the next reconnection: doubled by each connection that brought
        # nothing, so a server that closes at once is not hammered; reset by any message.
        self._delay = 0.0
        self.connections = 0
        """Connections made so far (more than 1 after a reconnection)."""

    # --- iteration ---------------------------------------------------------------------------

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> JobEvent:
        while not self._closed.is_set():
            if self._backlog:
                return self._backlog.pop(0)
            ws = self._ws or self._connect()
            if ws is None:
                break
            try:
                raw = ws.recv()
            except ConnectionClosed as exc:
                self._drop(ws)
                _raise_refusal(exc)
                self._delay = min(max(self._delay * 2, FIRST_BACKOFF_SECONDS), self._max_backoff)
                continue
            self._delay = 0.0
            event = _parse(raw)
            if event is not None:
                return event
        raise StopIteration

    def connect(self) -> None:
        """Connect and subscribe now rather than at the first `next()`: events from here on
        are kept for the iteration. Raises refusals as iteration would."""
        if self._ws is None:
            self._connect()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until the stream is connected and subscribed (True), or `timeout` passes."""
        return self._connected.wait(timeout)

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            ws, self._ws = self._ws, None
        if ws is not None:
            ws.close()

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- connections -------------------------------------------------------------------------

    def _connect(self) -> ClientConnection | None:
        delay = FIRST_BACKOFF_SECONDS
        failures = 0
        if self._delay:
            self._closed.wait(self._delay)
        while not self._closed.is_set():
            try:
                ws = self._open()
            except (ConnectionFailed, ServerError, OSError, WebSocketException) as exc:
                failures += 1
                if self._max_retries is not None and failures > self._max_retries:
                    raise _as_error(exc, self._session.base_url) from exc
                self._closed.wait(delay)
                delay = min(delay * 2, self._max_backoff)
                continue
            with self._lock:
                if self._closed.is_set():
                    ws.close()
                    return None
                self._ws = ws
            self.connections += 1
            self._connected.set()
            return ws
        return None

    def _open(self) -> ClientConnection:
        subscriptions = self._prepare()
        credential = self._session.api_key or self._session.access_token
        if credential is None:
            raise AuthenticationError("not authenticated: log in or pass an API key first")
        url = f"{websocket_url(self._session.base_url)}?{urlencode({'token': credential})}"
        try:
            ws = connect(
                url,
                open_timeout=OPEN_TIMEOUT_SECONDS,
                user_agent_header=f"lensforge-client/{__version__}",
            )
            # Entered as a context manager (its exit is `close()`, which the stream calls):
            # websockets 17 warns about connections that are not; 12 to 16 accept either.
            ws.__enter__()
        except InvalidStatus as exc:
            # The server accepts every socket first; a refused handshake comes from a proxy.
            status = exc.response.status_code
            refusal = _REFUSALS.get(4000 + status)
            if refusal is not None:
                raise refusal(
                    f"the event stream was refused with HTTP {status}", status_code=status
                ) from exc
            raise
        try:
            self._backlog = _handshake(ws, subscriptions)
        except BaseException:
            ws.close()
            raise
        return ws

    def _drop(self, ws: ClientConnection) -> None:
        self._connected.clear()
        with self._lock:
            if self._ws is ws:
                self._ws = None
        ws.close()


def _handshake(ws: ClientConnection, subscriptions: list[dict[str, str]]) -> list[JobEvent]:
    """Wait for `ready`, subscribe, and wait until every subscription is confirmed; returns
    the events that came meanwhile. A refusal raises the matching error."""
    ready, pending, early = False, len(subscriptions), []
    refusal = ""
    while not ready or pending:
        try:
            message = _message(ws.recv(timeout=OPEN_TIMEOUT_SECONDS))
        except ConnectionClosed as exc:
            _raise_refusal(exc, refusal)
            raise ConnectionFailed("the event stream closed while opening") from exc
        except TimeoutError as exc:
            raise ConnectionFailed("the event stream did not answer in time") from exc
        if message is None:
            continue
        kind = message["type"]
        if kind == "ready":
            ready = True
            for item in subscriptions:
                ws.send(json.dumps({"action": "subscribe", **item}))
        elif kind == "subscribed":
            pending -= 1
        elif kind == "error":
            text = str(message.get("message") or "the event stream refused the request")
            if not ready:
                refusal = text  # the close code that follows says which refusal it is
                continue
            code = str(message.get("code") or "subscription_refused")
            cls = NotFoundError if code == "not_found" else APIError
            raise cls(text, status_code=404 if cls is NotFoundError else None, code=code)
        else:
            event = _event(message)
            if event is not None:
                early.append(event)
    return early


def _message(raw: str | bytes) -> dict[str, Any] | None:
    try:
        message: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        return None
    return message


def _event(message: dict[str, Any]) -> JobEvent | None:
    if message["type"] in _CONTROL_TYPES:
        return None
    try:
        return JobEvent.from_message(message)
    except ValueError:
        return None  # a malformed event (say, a job_id that is no UUID) is skipped


def _parse(raw: str | bytes) -> JobEvent | None:
    message = _message(raw)
    if message is None:
        return None
    if message["type"] == "error":
        text = str(message.get("message") or "the event stream reported an error")
        raise APIError(text, code=str(message.get("code") or "stream_error"))
    return _event(message)


def _raise_refusal(exc: ConnectionClosed, message: str = "") -> None:
    close = exc.rcvd
    if close is None:
        return
    refusal = _REFUSALS.get(close.code)
    if refusal is not None:
        raise refusal(
            message or close.reason or "the server refused the event stream",
            status_code=close.code - 4000,
            code=close.reason or "stream_refused",
        ) from exc


def _as_error(exc: Exception, url: str) -> LensforgeError:
    if isinstance(exc, LensforgeError):
        return exc
    return ConnectionFailed(
        f"cannot open the event stream at {url}: {exc}", code="connection_failed"
    )
