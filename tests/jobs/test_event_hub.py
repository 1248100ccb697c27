"""The event hub's fan-out, and the table source's reading of the `events` outbox."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

from fastapi.testclient import TestClient

from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import Event
from lensforge.realtime.hub import EventHub, EventRecord
from lensforge.realtime.table_source import TableTailSource
from tests.fixtures.app import sign_up
from tests.jobs.helpers import sessions

ORG, OTHER_ORG = uuid.uuid4(), uuid.uuid4()
JOB, PROJECT = uuid.uuid4(), uuid.uuid4()


def _event(number: int, organization_id: uuid.UUID = ORG) -> EventRecord:
    payload = {"type": "log", "job_id": str(JOB), "message": f"line {number}"}
    return EventRecord(number, organization_id, PROJECT, JOB, "log", payload)


def test_a_slow_subscriber_is_dropped_and_the_others_keep_going(client: TestClient) -> None:
    async def scenario() -> None:
        hub = EventHub(TableTailSource(sessions(client)), queue_size=3)
        slow, fast = hub.subscribe(ORG), hub.subscribe(ORG)
        stranger = hub.subscribe(OTHER_ORG)
        for subscription in (slow, fast, stranger):
            subscription.job_ids.add(JOB)
        received = []
        for number in range(1, 8):
            hub.publish([_event(number)])
            event = await fast.get()
            assert event is not None
            received.append(event.payload["message"])
        assert received == [f"line {n}" for n in range(1, 8)]
        # The slow one overflowed at the 4th event: dropped, told at once, and forgotten.
        assert slow.dropped
        assert await slow.get() is None
        assert hub.subscriber_count == 2
        # Another organization's subscriber never sees these, even for the same job id.
        assert stranger._queue.empty()

    asyncio.run(scenario())


def test_project_subscribers_get_the_events_of_its_jobs(client: TestClient) -> None:
    async def scenario() -> None:
        hub = EventHub(TableTailSource(sessions(client)))
        watcher = hub.subscribe(ORG)
        watcher.project_ids.add(PROJECT)
        hub.publish([_event(1)])
        assert await watcher.get() == _event(1)
        watcher.project_ids.clear()
        hub.publish([_event(2)])
        assert watcher._queue.empty()

    asyncio.run(scenario())


def test_the_table_source_catches_events_committed_out_of_order(client: TestClient) -> None:
    organization_id = uuid.UUID(sign_up(client).organization_id)
    source = TableTailSource(sessions(client), gap_timeout=60)
    asyncio.run(source.start())
    base = source.last_id + 1000

    def insert(event_id: int, age: timedelta = timedelta(0)) -> None:
        with transaction(sessions(client)) as session:
            session.add(
                Event(
                    id=event_id,
                    organization_id=organization_id,
                    type="log",
                    payload={"type": "log", "n": event_id},
                    created_at=utcnow() - age,
                )
            )

    # On PostgreSQL a transaction holding a lower id may commit after a higher id was read.
    insert(base + 2)
    assert [e.id for e in source.fetch()] == [base + 2]
    insert(base + 1)
    assert [e.id for e in source.fetch()] == [base + 1]
    assert source.fetch() == []
    insert(base + 3)
    assert [e.payload["n"] for e in source.fetch()] == [base + 3]


def test_pruning_keeps_recent_events_and_the_newest_row(client: TestClient) -> None:
    organization_id = uuid.UUID(sign_up(client).organization_id)
    source = TableTailSource(sessions(client), retention=timedelta(hours=24))
    with transaction(sessions(client)) as session:
        for age_hours in (50, 49, 1, 48):
            session.add(
                Event(
                    organization_id=organization_id,
                    type="log",
                    payload={"age": age_hours},
                    created_at=utcnow() - timedelta(hours=age_hours),
                )
            )
    assert source.prune() == 2
    with transaction(sessions(client)) as session:
        ages = [e.payload["age"] for e in session.query(Event).order_by(Event.id)]
    # The newest row stays even though it is old: SQLite must never re-issue its id.
    assert ages == [1, 48]
