"""The event hub: reads events from an `EventSource` and fans them out to subscribers.

Producers never talk to the hub: they insert into the `events` outbox in the same transaction
as the change (`lensforge.jobs.events.emit`), so an event exists exactly when its change
committed. The hub only needs *a* source of committed events; today that is `TableTailSource`
(polling the table), which works on SQLite and PostgreSQL with no extra service. A source
backed by PostgreSQL LISTEN/NOTIFY or Redis pub/sub can replace it by implementing the
`EventSource` protocol below: nothing else changes (subscribers, WebSocket, producers).

Each subscriber has a bounded queue. A subscriber that cannot keep up (its queue is full) is
dropped and told so, rather than slowing every other subscriber or growing memory without end;
its client reconnects and re-reads state through the REST API.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from lensforge.auth.access_events import ACCESS_CHANGED

log = structlog.get_logger("lensforge.realtime")

DEFAULT_QUEUE_SIZE = 1000
_ERROR_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class EventRecord:
    id: int
    organization_id: uuid.UUID
    project_id: uuid.UUID | None
    job_id: uuid.UUID | None
    type: str
    payload: dict[str, Any]


class EventSource(Protocol):
    """Where committed events come from, in commit order as far as the source can tell."""

    async def start(self) -> None:
        """Begin at "now": events committed before this call are not delivered."""
        ...

    async def next_batch(self) -> Sequence[EventRecord]:
        """Wait a little for new events and return them (possibly none)."""
        ...

    async def close(self) -> None: ...


class Subscription:
    """One client's interest: the jobs and projects it watches, in one organization."""

    def __init__(self, organization_id: uuid.UUID, queue_size: int) -> None:
        self.organization_id = organization_id
        self.job_ids: set[uuid.UUID] = set()
        self.project_ids: set[uuid.UUID] = set()
        self.dropped = False
        # None is the end-of-stream marker: dropped, or the hub stopped.
        self._queue: asyncio.Queue[EventRecord | None] = asyncio.Queue(queue_size + 1)
        self._limit = queue_size

    def wants(self, event: EventRecord) -> bool:
        if event.organization_id != self.organization_id:
            return False
        if event.type == ACCESS_CHANGED:
            return True  # never sent on: it makes the connection re-check its access now
        return (event.job_id is not None and event.job_id in self.job_ids) or (
            event.project_id is not None and event.project_id in self.project_ids
        )

    def offer(self, event: EventRecord) -> bool:
        """Queue without waiting; False when the subscriber is too far behind."""
        if self._queue.qsize() >= self._limit:
            return False
        self._queue.put_nowait(event)
        return True

    def end(self) -> None:
        # Discard what is queued: a dropped client re-reads state anyway, and the end marker
        # must be seen now, not after a backlog.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self) -> EventRecord | None:
        return await self._queue.get()


class EventHub:
    def __init__(self, source: EventSource, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> None:
        self.source = source
        self.queue_size = queue_size
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.source.start()
        self._task = asyncio.create_task(self._run(), name="lensforge-event-hub")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.source.close()
        for subscriptions in self._subscriptions.values():
            for subscription in subscriptions:
                subscription.end()
        self._subscriptions.clear()

    def subscribe(self, organization_id: uuid.UUID) -> Subscription:
        subscription = Subscription(organization_id, self.queue_size)
        self._subscriptions[organization_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.organization_id)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscriptions[subscription.organization_id]

    @property
    def subscriber_count(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())

    def publish(self, events: Sequence[EventRecord]) -> None:
        """Hand each event to every subscriber that wants it, never waiting on one."""
        for event in events:
            for subscription in list(self._subscriptions.get(event.organization_id, ())):
                if subscription.wants(event) and not subscription.offer(event):
                    log.warning(
                        "dropping a slow subscriber",
                        organization_id=str(subscription.organization_id),
                        queued=self.queue_size,
                    )
                    subscription.dropped = True
                    subscription.end()
                    self.unsubscribe(subscription)

    async def _run(self) -> None:
        while True:
            try:
                events = await self.source.next_batch()
            except asyncio.CancelledError:
                raise
            except Exception:
                # A database hiccup must not end live updates for good: retry after a pause.
                log.exception("reading events failed; retrying")
                await asyncio.sleep(_ERROR_BACKOFF_SECONDS)
                continue
            self.publish(events)
