"""The worker's own row in `workers` (its heartbeat) and the lock that keeps its name unique on
a host: two workers under one name would each take the other's attempts for their own dead
ones at start and kill them."""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path
from typing import IO

from sqlalchemy.orm import Session

from lensforge.config import Settings
from lensforge.kit.types import utcnow
from lensforge.models import Worker


class NameInUse(RuntimeError):
    pass


class NameLock:
    def __init__(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        self.path = folder / f".worker-{safe}.lock"
        self._handle: IO[str] | None = None

    def acquire(self) -> None:
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise NameInUse(
                f"another worker process on this host already runs as this name ({self.path}); "
                "give this one its own name (--name or LENSFORGE_WORKER__NAME)"
            ) from None
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            self._handle.close()  # closing drops the flock
            self._handle = None


def upsert(session: Session, name: str, settings: Settings) -> None:
    now = utcnow()
    resources = {"cpu": settings.worker.cpu_slots, "gpus": list(settings.worker.gpus)}
    row = session.get(Worker, name)
    if row is None:
        session.add(
            Worker(
                name=name,
                hostname=socket.gethostname(),
                pid=os.getpid(),
                queues=list(settings.worker.queues),
                resources=resources,
                started_at=now,
                last_seen_at=now,
                created_at=now,
            )
        )
        return
    row.hostname = socket.gethostname()
    row.pid = os.getpid()
    row.queues = list(settings.worker.queues)
    row.resources = resources
    row.started_at = now
    row.last_seen_at = now


def heartbeat(session: Session, name: str) -> bool:
    """False when the row is gone (deleted by an operator): the caller registers again."""
    row = session.get(Worker, name)
    if row is None:
        return False
    row.last_seen_at = utcnow()
    return True
