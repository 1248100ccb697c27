"""The usage meter: events journaled at once, moved into `usage_records` by a background thread,
replayed after a kill, kept while the database is away; never counted twice."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.models import UsageRecord
from lensforge.serve.metering import Meter, UsageEvent
from lensforge.serving.journal import read_segment
from tests.serve.ops_support import sessions, wait_until

__all__ = ["sessions"]  # the fixture


def _event(status: int = 200, **overrides: object) -> UsageEvent:
    values: dict[str, object] = {
        "request_id": uuid.uuid4(),
        "organization_id": uuid.uuid4(),
        "project_id": uuid.uuid4(),
        "deployment_id": uuid.uuid4(),
        "deployment_name": "cats",
        "version": 3,
        "api_key_id": uuid.uuid4(),
        "route": "image",
        "status": status,
        "error_code": None if status < 400 else "rate_limited",
        "images": 2,
        "bytes_in": 2048,
        "bytes_out": 512,
        "queue_ms": 1.5,
        "compute_ms": 12.25,
        "total_ms": 15.0,
        "batch_size": 4,
        "created_at": datetime(2026, 12, 7, 12, 30, 1, 250000, tzinfo=UTC),
    }
    values.update(overrides)
    return UsageEvent(**values)  # type: ignore[arg-type]


def _count(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(UsageRecord)) or 0


def _segments(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.jsonl"))


def test_recorded_events_reach_the_database_in_the_background(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    meter = Meter(tmp_path / "usage", sessions, "replica-a")
    meter.start()
    events = [_event(), _event(), _event(429, api_key_id=None, version=None)]
    for event in events:
        meter.record(event)
    try:
        assert wait_until(lambda: _count(sessions) == 3, timeout=10)
        assert wait_until(lambda: not _segments(tmp_path / "usage"), timeout=5)
    finally:
        meter.stop()
    with sessions() as session:
        row = session.get(UsageRecord, events[0].request_id)
        refused = session.get(UsageRecord, events[2].request_id)
    assert row is not None
    assert refused is not None
    assert (row.organization_id, row.deployment_id, row.api_key_id) == (
        events[0].organization_id,
        events[0].deployment_id,
        events[0].api_key_id,
    )
    assert (row.deployment_name, row.version, row.route, row.status, row.error_code) == (
        "cats",
        3,
        "image",
        200,
        None,
    )
    assert (row.images, row.bytes_in, row.bytes_out, row.batch_size) == (2, 2048, 512, 4)
    assert (row.queue_ms, row.compute_ms, row.total_ms) == (1.5, 12.25, 15.0)
    assert row.created_at == events[0].created_at
    assert row.replica == "replica-a"
    assert (refused.status, refused.error_code, refused.api_key_id) == (429, "rate_limited", None)


def test_a_killed_replicas_journal_is_replayed_exactly_once(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    journal = tmp_path / "usage"
    killed = Meter(journal, sessions, "replica-a")
    inserted, pending = _event(), _event()
    killed.record(inserted)
    killed.flush()  # this one is in the database
    killed.record(pending)
    # Killed after inserting `inserted` but before deleting its segment: that record is on
    # disk again, next to the one that never made it, followed by a line torn by the kill.
    pending_line = _segments(journal)[0].read_text()
    duplicate = pending_line.replace(str(pending.request_id), str(inserted.request_id))
    (journal / "00000000000000000001-1-1.jsonl").write_text(duplicate + pending_line[:40])
    # (no stop: the process is gone)

    restarted = Meter(journal, sessions, "replica-a")
    restarted.start()
    restarted.stop()
    assert _count(sessions) == 2
    with sessions() as session:
        assert session.get(UsageRecord, inserted.request_id) is not None
        assert session.get(UsageRecord, pending.request_id) is not None
    assert not _segments(journal)

    again = Meter(journal, sessions, "replica-a")
    again.start()
    again.stop()
    assert _count(sessions) == 2


def test_records_are_kept_while_the_database_is_unreachable(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    journal = tmp_path / "usage"
    # A database without our tables stands for one that is down: every insert fails.
    broken = create_db_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    meter = Meter(journal, create_session_factory(broken), "replica-a")
    meter.start()
    events = [_event() for _ in range(5)]
    for event in events:
        meter.record(event)
    meter.flush()
    meter.stop()
    broken.dispose()
    kept = [record for segment in _segments(journal) for record in read_segment(segment)]
    assert sorted(r["request_id"] for r in kept) == sorted(str(e.request_id) for e in events)
    assert _count(sessions) == 0

    recovered = Meter(journal, sessions, "replica-a")
    recovered.start()
    recovered.stop()
    assert _count(sessions) == 5
    assert not _segments(journal)


def test_each_record_is_one_appended_line(tmp_path: Path) -> None:
    journal = tmp_path / "usage"
    engine = create_db_engine(f"sqlite:///{tmp_path / 'unused.db'}")
    meter = Meter(journal, create_session_factory(engine), "replica-a")
    first, second = _event(), _event(500)
    meter.record(first)
    meter.record(second)
    (segment,) = _segments(journal)
    lines = segment.read_bytes().splitlines()
    assert [json.loads(line)["request_id"] for line in lines] == [
        str(first.request_id),
        str(second.request_id),
    ]
    engine.dispose()
