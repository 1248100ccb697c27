"""A trainer's stdout and stderr (and the worker's own notes about the attempt, such as the
environment build) captured line by line into the job's logs.

Reader threads only append to an in-memory buffer; the worker's loop writes the buffer in one
batch per tick, so a chatty trainer costs one short transaction per tick rather than one per
line (on SQLite every transaction takes the write lock).

Sequence numbers: `job_logs` is unique on (attempt_id, sequence). The SDK's reports own n >= 0
and the server's notes about report n use -(n + 1) (`jobs.ingest`); captured lines count down
from -2**40, a range neither can reach.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import IO

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from lensforge.jobs.events import emit_for
from lensforge.kit.db import transaction
from lensforge.kit.terminal import plain_text
from lensforge.kit.types import utcnow
from lensforge.models import JobAttempt, JobLog

log = structlog.get_logger("lensforge.worker")

MAX_LINE = 8_000
# Lines kept while the database is unreachable; beyond this the oldest are dropped (and
# counted), so a trainer spewing output cannot exhaust the worker's memory.
MAX_BUFFERED = 50_000
_READ_LIMIT = 64 * 1024
CAPTURE_SEQUENCE_START = -(2**40)


@dataclass(frozen=True)
class AttemptRef:
    organization_id: uuid.UUID
    project_id: uuid.UUID
    job_id: uuid.UUID
    attempt_id: uuid.UUID
    attempt_number: int


@dataclass(frozen=True)
class _Line:
    ref: AttemptRef
    sequence: int
    source: str
    level: str
    message: str
    at: datetime


class LogBuffer:
    """Shared by every attempt of one worker; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._lines: list[_Line] = []
        self._next: dict[uuid.UUID, int] = {}
        self.dropped = 0

    def add(self, ref: AttemptRef, source: str, message: str, level: str = "INFO") -> None:
        message = plain_text(message)
        if len(message) > MAX_LINE:
            message = message[:MAX_LINE] + f"... [{len(message) - MAX_LINE} more characters]"
        with self._lock:
            sequence = self._next.get(ref.attempt_id, CAPTURE_SEQUENCE_START)
            self._next[ref.attempt_id] = sequence - 1
            self._lines.append(_Line(ref, sequence, source, level, message, utcnow()))
            if len(self._lines) > MAX_BUFFERED:
                excess = len(self._lines) - MAX_BUFFERED
                del self._lines[:excess]
                self.dropped += excess

    def forget(self, attempt_id: uuid.UUID) -> None:
        with self._lock:
            self._next.pop(attempt_id, None)

    def flush(self, sessions: sessionmaker[Session]) -> int:
        """Write everything buffered; on a database error the lines go back to the buffer."""
        with self._lock:
            lines, self._lines = self._lines, []
        if not lines:
            return 0
        try:
            try:
                with transaction(sessions) as session:
                    _write(session, lines)
            except IntegrityError:
                # An attempt vanished (its project or job was deleted): drop its lines, or they
                # would block every later batch.
                lines = _of_existing_attempts(sessions, lines)
                try:
                    with transaction(sessions) as session:
                        _write(session, lines)
                except IntegrityError as exc:  # never expected: do not retry it forever
                    log.error("dropping log lines the database refuses", error=str(exc))
                    self.dropped += len(lines)
        except BaseException:
            with self._lock:
                self._lines[:0] = lines
            raise
        return len(lines)


def _of_existing_attempts(sessions: sessionmaker[Session], lines: list[_Line]) -> list[_Line]:
    ids = {line.ref.attempt_id for line in lines}
    with transaction(sessions) as session:
        alive = set(session.scalars(select(JobAttempt.id).where(JobAttempt.id.in_(ids))))
    return [line for line in lines if line.ref.attempt_id in alive]


def _write(session: Session, lines: list[_Line]) -> None:
    session.add_all(
        JobLog(
            job_id=line.ref.job_id,
            attempt_id=line.ref.attempt_id,
            attempt_number=line.ref.attempt_number,
            sequence=line.sequence,
            level=line.level,
            message=line.message,
            extra={},
            logged_at=line.at,
            source=line.source,
        )
        for line in lines
    )
    for line in lines:
        emit_for(
            session,
            organization_id=line.ref.organization_id,
            project_id=line.ref.project_id,
            job_id=line.ref.job_id,
            type_="log",
            payload={
                "attempt": line.ref.attempt_number,
                "sequence": line.sequence,
                "level": line.level,
                "message": line.message,
                "source": line.source,
                "at": line.at.isoformat(),
            },
        )


def pump(stream: IO[bytes], ref: AttemptRef, source: str, buffer: LogBuffer) -> threading.Thread:
    """Start a thread copying `stream`'s lines into `buffer` until EOF."""

    def _run() -> None:
        with stream:
            while chunk := stream.readline(_READ_LIMIT):
                text = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
                # Colours and progress-bar redraws ('\r', ESC[K): keep what a terminal would
                # show at the end, as plain text.
                text = plain_text(text)
                if text.strip():
                    buffer.add(ref, source, text)

    thread = threading.Thread(target=_run, name=f"log-{source}-{ref.attempt_id}", daemon=True)
    thread.start()
    return thread
