"""`lensforge worker --orchestrator temporal`: one process polling the task queues of its
resource pool (`--queue gpu-a100`), plus a queue of its own for clean-up of the folders it
keeps. It needs the database and object storage like a local worker (it records attempts,
logs and outcomes); the trainers it starts never see either.

Capacity: the worker's `cpu_slots` and `gpus` are advertised in the `workers` table and
enforced by the trainer step (a job that does not fit is handed back to Temporal, which retries
it after a back-off, on this or another worker of the queue).

Stopping (SIGTERM/SIGINT): polling stops, running trainers get SIGTERM and SIGKILL after
`kill_grace_seconds`, and their jobs are re-queued without spending a retry; the workflow then
runs the next attempt on another worker, resuming from the last checkpoint. A worker killed
outright takes its trainers with it (PDEATHSIG); Temporal notices the missing heartbeats after
`temporal.heartbeat_timeout_seconds` and runs the step again elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import structlog
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.orchestration.local import registration
from lensforge.orchestration.local.paths import worker_name
from lensforge.orchestration.temporal.activities import JobActivities
from lensforge.orchestration.temporal.connection import connect
from lensforge.orchestration.temporal.names import host_queue, worker_queues
from lensforge.orchestration.temporal.workflows import WORKFLOWS
from lensforge.storage.base import ObjectStore
from lensforge.trainers.registry import TrainerRegistry

log = structlog.get_logger("lensforge.worker")

# Beyond the trainer slots: validate, prepare, finalize and clean-up steps run beside trainers.
_SHORT_STEP_SLOTS = 4


class TemporalWorker:
    def __init__(
        self,
        settings: Settings,
        sessions: sessionmaker[Session],
        registry: TrainerRegistry,
        store: ObjectStore | None = None,
    ) -> None:
        if store is None:
            from lensforge.storage.factory import create_object_store

            store = create_object_store(settings)
        self.name = worker_name(settings)
        self.queues = worker_queues(settings, list(settings.worker.queues))
        # Advertised as it polls: the resolved task queues.
        self.settings = settings.model_copy(
            update={"worker": settings.worker.model_copy(update={"queues": self.queues})}
        )
        self.sessions = sessions
        self.activities = JobActivities(self.settings, sessions, registry, store, self.name)

    async def run(self, stop: asyncio.Event) -> None:
        client = await self._connect(stop)
        if client is None:
            return
        worker = self.settings.worker
        concurrency = max(worker.cpu_slots, len(worker.gpus), 1) + _SHORT_STEP_SLOTS
        with ThreadPoolExecutor(concurrency + 1, thread_name_prefix="activity") as executor:
            pollers = [
                Worker(
                    client,
                    task_queue=queue,
                    workflows=WORKFLOWS,
                    activities=self.activities.all(),
                    activity_executor=executor,
                    max_concurrent_activities=concurrency,
                    identity=f"{self.name}@{queue}",
                    # Time for trainers to stop and their jobs to be handed back.
                    graceful_shutdown_timeout=timedelta(seconds=worker.kill_grace_seconds + 5),
                    # A workflow's next step waits this long for this worker (its cache) before
                    # any worker of the queue may take it: short, so a dead worker costs little.
                    sticky_queue_schedule_to_start_timeout=timedelta(seconds=2),
                )
                for queue in self.queues
            ]
            pollers.append(
                Worker(
                    client,
                    task_queue=host_queue(self.name),
                    activities=[self.activities.clean_up_job],
                    activity_executor=executor,
                    max_concurrent_activities=1,
                    identity=f"{self.name}@own",
                )
            )
            async with contextlib.AsyncExitStack() as stack:
                for poller in pollers:
                    await stack.enter_async_context(poller)
                log.info(
                    "temporal worker started",
                    worker=self.name,
                    queues=self.queues,
                    namespace=self.settings.temporal.namespace,
                    cpu_slots=worker.cpu_slots,
                    gpus=list(worker.gpus),
                )
                await self._advertise_until(stop)
            log.info("temporal worker stopped", worker=self.name)

    async def _connect(self, stop: asyncio.Event) -> Client | None:
        """Temporal may start after the worker (or restart): keep trying until stopped."""
        while not stop.is_set():
            try:
                return await connect(self.settings, identity=self.name)
            except Exception as exc:
                log.warning(
                    "cannot reach Temporal yet; retrying",
                    host=self.settings.temporal.host,
                    error=str(exc),
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=2.0)
        return None

    async def _advertise_until(self, stop: asyncio.Event) -> None:
        """The `workers` row: queues and capacity, refreshed as a heartbeat."""
        interval = self.settings.worker.heartbeat_interval_seconds
        registered = False
        while not stop.is_set():
            try:
                await asyncio.to_thread(self._advertise, registered)
                registered = True
            except Exception as exc:
                log.warning("could not update the workers table", error=str(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=interval)

    def _advertise(self, registered: bool) -> None:
        with transaction(self.sessions) as session:
            if not registered or not registration.heartbeat(session, self.name):
                registration.upsert(session, self.name, self.settings)
