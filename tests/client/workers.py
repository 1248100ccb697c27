"""A real local worker for client and CLI tests, started and stopped where the test says."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.orchestration.local import LocalWorker
from lensforge.trainers.registry import load_registry
from tests.fixtures.live_server import LiveServer


@contextmanager
def local_worker(server: LiveServer, jobs_dir: Path, name: str = "test-worker") -> Iterator[None]:
    """A worker on the live server's database, running trainers with this interpreter; when
    the block ends it has stopped and claims nothing more."""
    base = server.settings
    settings = base.model_copy(
        update={
            "trainers": base.trainers.model_copy(update={"environment": "current"}),
            "worker": base.worker.model_copy(
                update={
                    "name": name,
                    "poll_interval_seconds": 0.1,
                    "heartbeat_interval_seconds": 0.5,
                    "jobs_dir": str(jobs_dir),
                }
            ),
        }
    )
    engine = create_db_engine(settings.database_url, pool_size=2)
    worker = LocalWorker(
        settings, create_session_factory(engine), load_registry(settings.trainers.plugin_dirs)
    )
    thread = threading.Thread(target=worker.run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop()
        thread.join(timeout=30)
        engine.dispose()
