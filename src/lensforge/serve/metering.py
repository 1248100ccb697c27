"""The meter: every request's usage event goes to a local journal at once (`record`, never
blocking on the database), and a background thread moves the journal into `usage_records`.

A killed replica loses nothing it recorded: on the next `start` its leftover segments are
replayed. Inserting is idempotent (the request id is the primary key and existing ids are
skipped), so a segment inserted just before a kill, but not yet deleted, is not counted twice.
While the database is unreachable the segments stay on disk and the thread retries with
back-off.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.models import UsageRecord
from lensforge.serving.journal import Journal, read_segment

logger = logging.getLogger(__name__)

DRAIN_INTERVAL_SECONDS = 0.5
_MAX_BACKOFF_SECONDS = 30.0
_ID_CHUNK = 500  # ids per `IN (...)` when looking for records already inserted


@dataclass
class UsageEvent:
    request_id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID | None
    deployment_id: uuid.UUID | None
    deployment_name: str
    version: int | None
    api_key_id: uuid.UUID | None
    route: str  # image | v2 | ui
    status: int
    error_code: str | None
    images: int
    bytes_in: int
    bytes_out: int
    queue_ms: float
    compute_ms: float
    total_ms: float
    batch_size: int
    created_at: datetime


_UUID_FIELDS = ("request_id", "organization_id", "project_id", "deployment_id", "api_key_id")


def _to_json(event: UsageEvent) -> dict[str, Any]:
    record = asdict(event)
    for name in _UUID_FIELDS:
        if record[name] is not None:
            record[name] = str(record[name])
    record["created_at"] = event.created_at.isoformat()
    return record


def _to_row(record: dict[str, Any], replica: str) -> UsageRecord:
    values = dict(record)
    for name in _UUID_FIELDS:
        if values.get(name) is not None:
            values[name] = uuid.UUID(values[name])
    values["created_at"] = datetime.fromisoformat(values["created_at"])
    for name, size in (("deployment_name", 64), ("route", 16), ("error_code", 64)):
        if isinstance(values.get(name), str):
            values[name] = values[name][:size]
    known = {column.key for column in UsageRecord.__table__.columns}
    return UsageRecord(**{k: v for k, v in values.items() if k in known}, replica=replica)


class Meter:
    def __init__(self, journal_dir: Path, sessions: sessionmaker[Session], replica: str) -> None:
        self._journal = Journal(journal_dir)
        self._sessions = sessions
        self._replica = replica[:128]
        self._drain_lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Replays segments a previous process left (once; on failure the thread retries),
        then starts the background thread."""
        self._drain_logged()
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="usage-meter", daemon=True)
        self._thread.start()

    def record(self, event: UsageEvent) -> None:
        """Appends the event to the journal: a file write, never the database."""
        self._journal.append(_to_json(event))

    def flush(self) -> None:
        """Moves everything recorded so far into the database now (logs and keeps the journal
        if the database is unreachable)."""
        self._drain_logged()

    def stop(self) -> None:
        """Stops the thread and flushes one last time; what cannot be inserted stays on disk
        for the next start."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._drain_logged()
        self._journal.close()

    def _run(self) -> None:
        delay = DRAIN_INTERVAL_SECONDS
        while not self._stopping.wait(delay):
            if self._drain_logged():
                delay = DRAIN_INTERVAL_SECONDS
            else:
                delay = min(_MAX_BACKOFF_SECONDS, delay * 2)

    def _drain_logged(self) -> bool:
        try:
            self._drain()
        except Exception:
            logger.warning(
                "usage records not yet in the database (kept in %s; will retry)",
                self._journal.directory,
                exc_info=True,
            )
            return False
        return True

    def _drain(self) -> None:
        with self._drain_lock:
            segments = self._journal.rotate()
            if not segments:
                return
            records: dict[str, dict[str, Any]] = {}
            for segment in segments:
                for record in read_segment(segment):
                    if "request_id" in record:
                        records.setdefault(str(record["request_id"]), record)
            self._insert(records)
            for segment in segments:
                segment.unlink(missing_ok=True)

    def _insert(self, records: dict[str, dict[str, Any]]) -> None:
        if not records:
            return
        rows: dict[uuid.UUID, UsageRecord] = {}
        for record in records.values():
            try:
                row = _to_row(record, self._replica)
            except (AttributeError, KeyError, TypeError, ValueError):
                # One malformed line must not hold the whole journal back forever.
                logger.warning("dropping a malformed usage record: %r", record)
                continue
            rows[row.request_id] = row
        with self._sessions() as session, session.begin():
            existing = set(_existing_ids(session, list(rows)))
            session.add_all(row for key, row in rows.items() if key not in existing)


def _existing_ids(session: Session, ids: list[uuid.UUID]) -> Iterable[uuid.UUID]:
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        yield from session.scalars(
            select(UsageRecord.request_id).where(UsageRecord.request_id.in_(chunk))
        )
