"""Periodic housekeeping of the API server: work no request triggers by itself.

Today: expiring upload sessions abandoned past their expiry and freeing their stored parts.
Each sweep is one short transaction in a worker thread, so the event loop never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from lensforge.kit.db import transaction
from lensforge.storage.base import ObjectStore
from lensforge.uploads.service import UploadService

log = structlog.get_logger("lensforge.maintenance")


def sweep_once(sessions: sessionmaker[Session], store: ObjectStore) -> int:
    with transaction(sessions) as session:
        return UploadService(session, store).expire_stale()


async def run_maintenance(
    sessions: sessionmaker[Session], store: ObjectStore, interval_seconds: float
) -> None:
    """Sweep every `interval_seconds` until cancelled; a failed sweep is logged, not fatal."""
    while True:
        try:
            expired = await run_in_threadpool(sweep_once, sessions, store)
            if expired:
                log.info("expired abandoned uploads", count=expired)
        except Exception as exc:  # housekeeping must never take the server down
            log.warning("maintenance sweep failed", error=repr(exc))
        await asyncio.sleep(interval_seconds)


def start_maintenance(
    sessions: sessionmaker[Session], store: ObjectStore, interval_seconds: float
) -> asyncio.Task[None]:
    return asyncio.create_task(run_maintenance(sessions, store, interval_seconds))


async def stop_maintenance(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
