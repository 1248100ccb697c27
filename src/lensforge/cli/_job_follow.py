"""Following a running job from the terminal: live events from the WebSocket, with the job
polled now and then, so the end is noticed even while the event stream is down.

The stream is read in a background thread that hands events over through a queue; the main
thread waits on the queue with a timeout, so Ctrl-C always reaches it at once.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from lensforge.client import JobDetail, JobEvent, LensforgeClient, LensforgeError, LogLine
from lensforge.client.job_models import LOG_LEVELS

POLL_SECONDS = 2.0
CONNECT_WAIT_SECONDS = 5.0
# After the job ended: how long to keep taking events (its last log lines may trail the
# status change), stopping early once the queue has been quiet for `_QUIET_SECONDS`.
_DRAIN_SECONDS = 2.0
_QUIET_SECONDS = 0.3
_TICK_SECONDS = 0.2
CATCH_UP_MARGIN = timedelta(minutes=1)

EventHandler = Callable[[JobEvent], None]
JobHandler = Callable[[JobDetail], None]


class Follower:
    """Events of one job until it ends. `handle_event` sees every event (in order),
    `handle_job` the job each time it is polled, `catch_up` runs after the stream was
    re-established and at each poll while it is down (events are lost meanwhile: re-read
    what they would have said there)."""

    def __init__(self, client: LensforgeClient, job_id: uuid.UUID) -> None:
        self.client = client
        self.job_id = job_id
        self._events: queue.Queue[JobEvent | LensforgeError] = queue.Queue()
        self._stream = client.jobs.stream_events(job_id)
        self._thread = threading.Thread(target=self._pump, name="job-events", daemon=True)
        self._connections = 0

    def _pump(self) -> None:
        try:
            for event in self._stream:
                self._events.put(event)
        except LensforgeError as exc:
            self._events.put(exc)

    @contextmanager
    def started(self) -> Iterator[Follower]:
        """Connect first (waiting a little), so nothing happening after the caller reads the
        job's stored state is missed."""
        self._thread.start()
        try:
            if self._stream.wait_connected(CONNECT_WAIT_SECONDS):
                self._connections = self._stream.connections
            yield self
        finally:
            self._stream.close()
            self._thread.join(timeout=2.0)

    def run(
        self,
        handle_event: EventHandler,
        handle_job: JobHandler,
        catch_up: Callable[[], None] | None = None,
    ) -> JobDetail:
        """Dispatch events until the job has ended; returns the finished job."""
        job = self.client.jobs.get(self.job_id)
        handle_job(job)
        polled = time.monotonic()
        while not job.finished:
            event = self._next(_TICK_SECONDS)
            if event is not None:
                handle_event(event)
            reconnected = self._stream.connections > self._connections
            self._connections = self._stream.connections
            if reconnected and self._connections > 1 and catch_up is not None:
                catch_up()
            status_changed = event is not None and event.type == "job_status"
            if status_changed or time.monotonic() - polled >= POLL_SECONDS:
                job = self.client.jobs.get(self.job_id)
                handle_job(job)
                if catch_up is not None and not self._stream.wait_connected(0):
                    catch_up()
                polled = time.monotonic()
        self._drain(handle_event)
        return job

    def _next(self, timeout: float) -> JobEvent | None:
        try:
            item = self._events.get(timeout=timeout)
        except queue.Empty:
            return None
        if isinstance(item, LensforgeError):
            raise item
        return item if item.job_id in (None, self.job_id) else None

    def _drain(self, handle_event: EventHandler) -> None:
        deadline = time.monotonic() + _DRAIN_SECONDS
        while time.monotonic() < deadline:
            try:
                event = self._next(_QUIET_SECONDS)
            except LensforgeError:
                return
            if event is None:
                if self._events.empty():
                    return
                continue
            handle_event(event)


class LogTail:
    """Log lines printed once each, whether they come stored or live: lines are known by
    (attempt, sequence). Filters mirror the API's, for the lines that arrive as events."""

    def __init__(
        self,
        emit: Callable[[LogLine], None],
        *,
        level: str | None = None,
        search: str | None = None,
        attempt: int | None = None,
        since: datetime | None = None,
    ) -> None:
        self._emit = emit
        self._seen: set[tuple[int, int]] = set()
        self._level = level
        self._levels = None if level is None else set(LOG_LEVELS[LOG_LEVELS.index(level) :])
        self._search = search
        self._attempt = attempt
        self._since = since
        self.last_at: datetime | None = None

    def add(self, line: LogLine) -> None:
        key = (line.attempt_number, line.sequence)
        if key in self._seen or not self._wanted(line):
            return
        self._seen.add(key)
        if self.last_at is None or line.logged_at > self.last_at:
            self.last_at = line.logged_at
        self._emit(line)

    def _wanted(self, line: LogLine) -> bool:
        if self._levels is not None and line.level.upper() not in self._levels:
            return False
        if self._search is not None and self._search.lower() not in line.message.lower():
            return False
        if self._since is not None and line.logged_at < self._since:
            return False
        return self._attempt is None or line.attempt_number == self._attempt

    def catch_up(self, client: LensforgeClient, job_id: uuid.UUID) -> None:
        """Stored lines not printed yet, e.g. after the event stream was down. Lines are
        stamped by the trainer's and the worker's clocks and may be stored late, so the
        search starts `CATCH_UP_MARGIN` before the newest line seen (duplicates are dropped)."""
        since = self._since
        if self.last_at is not None:
            recent = self.last_at - CATCH_UP_MARGIN
            since = recent if since is None else max(since, recent)
        for line in client.jobs.iter_logs(
            job_id, level=self._level, since=since, search=self._search, attempt=self._attempt
        ):
            self.add(line)


def log_from_event(event: JobEvent) -> LogLine | None:
    """The log line a `log` event carries (None for other events or a malformed one)."""
    if event.type != "log":
        return None
    data: dict[str, Any] = event.data
    try:
        return LogLine.model_validate(
            {
                "attempt_number": data.get("attempt"),
                "sequence": data.get("sequence"),
                "level": data.get("level", "INFO"),
                "message": data.get("message", ""),
                "source": data.get("source", "trainer"),
                "logged_at": data.get("at"),
                "extra": data.get("metadata") or {},
            }
        )
    except ValueError:
        return None
