"""`TableTailSource`: committed events read by polling the `events` outbox table.

Every poll asks for rows with an id above the last one seen. On PostgreSQL, ids come from a
sequence taken at INSERT time, so a transaction that started earlier can commit a *lower* id
after a higher one was already read. Such holes are remembered for a while (`gap_timeout`) and
asked for again on each poll; a hole left by a rolled-back transaction simply expires. (SQLite
serialises writers, so holes never happen there.)

The table is an outbox, not a history: rows older than `retention` are pruned now and then.
The newest row is always kept, so SQLite (without AUTOINCREMENT) never re-issues an id a
reader has already passed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

import structlog
from sqlalchemy import delete, func, or_, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import Event
from lensforge.realtime.hub import EventRecord

log = structlog.get_logger("lensforge.realtime")

# Remembered holes at most: a mass rollback must not make every poll query huge.
_MAX_GAPS = 10_000


class TableTailSource:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        *,
        poll_interval: float = 0.2,
        batch_size: int = 500,
        gap_timeout: float = 10.0,
        retention: timedelta = timedelta(hours=24),
        prune_interval: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._poll_interval = poll_interval
        self._batch_size = batch_size
        self._gap_timeout = gap_timeout
        self._retention = retention
        self._prune_interval = prune_interval
        self._clock = clock
        self._last_id = 0
        self._gaps: dict[int, float] = {}  # id -> when to stop waiting for it
        self._more_pending = False
        self._next_prune = 0.0

    @property
    def last_id(self) -> int:
        return self._last_id

    async def start(self) -> None:
        self._last_id = await run_in_threadpool(self._max_id)
        # Not at once: a server starting must not begin with a possibly long DELETE.
        self._next_prune = self._clock() + min(60.0, self._prune_interval)

    async def close(self) -> None:
        return None

    async def next_batch(self) -> Sequence[EventRecord]:
        if not self._more_pending:
            await asyncio.sleep(self._poll_interval)
        if self._clock() >= self._next_prune:
            self._next_prune = self._clock() + self._prune_interval
            try:
                removed = await run_in_threadpool(self.prune)
            except Exception:
                log.exception("pruning old events failed")
            else:
                if removed:
                    log.info("pruned old events", removed=removed)
        events = await run_in_threadpool(self.fetch)
        self._more_pending = len(events) >= self._batch_size
        return events

    def _max_id(self) -> int:
        with transaction(self._sessions) as session:
            return session.scalar(select(func.max(Event.id))) or 0

    def fetch(self) -> list[EventRecord]:
        now = self._clock()
        self._gaps = {event_id: until for event_id, until in self._gaps.items() if until > now}
        condition = Event.id > self._last_id
        if self._gaps:
            condition = or_(condition, Event.id.in_(sorted(self._gaps)))
        with transaction(self._sessions) as session:
            rows = session.execute(
                select(
                    Event.id,
                    Event.organization_id,
                    Event.project_id,
                    Event.job_id,
                    Event.type,
                    Event.payload,
                )
                .where(condition)
                .order_by(Event.id)
                .limit(self._batch_size)
            ).all()
        events: list[EventRecord] = []
        for row in rows:
            if row.id > self._last_id:
                self._remember_gap(row.id, now)
                self._last_id = row.id
            else:
                self._gaps.pop(row.id, None)
            events.append(
                EventRecord(
                    id=row.id,
                    organization_id=row.organization_id,
                    project_id=row.project_id,
                    job_id=row.job_id,
                    type=row.type,
                    payload=dict(row.payload),
                )
            )
        return events

    def _remember_gap(self, new_id: int, now: float) -> None:
        until = now + self._gap_timeout
        for missing in range(self._last_id + 1, new_id):
            if len(self._gaps) >= _MAX_GAPS:
                break
            self._gaps[missing] = until

    def prune(self) -> int:
        """Delete events older than the retention, except the newest row."""
        cutoff = utcnow() - self._retention
        with transaction(self._sessions) as session:
            newest = session.scalar(select(func.max(Event.id)))
            if newest is None:
                return 0
            result = session.execute(
                delete(Event).where(Event.created_at < cutoff, Event.id < newest)
            )
            return int(getattr(result, "rowcount", 0) or 0)
