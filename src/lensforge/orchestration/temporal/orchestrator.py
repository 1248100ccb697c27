"""The server's side of the Temporal backend: creating a job starts its workflow, cancelling
it cancels the workflow.

The Temporal client lives on its own event loop in a background thread: the orchestrator's
methods are called from FastAPI's worker threads (after the request's commit) and from the
CLI, and the client must be used from the loop it was created on. Nothing waits on Temporal
for long: a start that fails (Temporal down, a network split) is logged and made up for by the
reconciler, which every `temporal.reconcile_interval_seconds` makes sure that each queued or
running Temporal job has its workflow. Starting is idempotent (the workflow id is derived from
the job id, and a running workflow with that id is used as it is), so a second server, a
retried request or the reconciler never start a job twice.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.service import RPCError, RPCStatusCode

from lensforge.config import Settings
from lensforge.jobs.state import JobStatus
from lensforge.kit.db import transaction
from lensforge.models import TrainingJob
from lensforge.orchestration.temporal.connection import connect
from lensforge.orchestration.temporal.contract import JobInput
from lensforge.orchestration.temporal.names import (
    task_queue_for,
    workflow_id_for,
    workflow_link,
    workflow_type_for,
)

log = structlog.get_logger("lensforge.temporal")

TEMPORAL = "temporal"
_UNATTENDED = (JobStatus.QUEUED.value, JobStatus.PREPARING.value, JobStatus.RUNNING.value)
_RECONCILE_BATCH = 200


class TemporalOrchestrator:
    name = TEMPORAL

    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings = settings
        self.sessions = sessions
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="temporal-client", daemon=True
        )
        self._client: Client | None = None
        self._connecting: asyncio.Lock | None = None
        self._reconciler: concurrent.futures.Future[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()
        self._reconciler = asyncio.run_coroutine_threadsafe(self._reconcile_forever(), self._loop)

    def close(self) -> None:
        if not self._thread.is_alive():
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._cancel_tasks(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _cancel_tasks(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- the Orchestrator protocol ---------------------------------------------------------------

    def workflow_id(self, job_id: uuid.UUID) -> str | None:
        return workflow_id_for(job_id)

    def workflow_link(self, workflow_id: str | None) -> str | None:
        return workflow_link(self.settings, workflow_id)

    def submit(self, job_id: uuid.UUID) -> None:
        self._call(self.start_workflow(job_id), f"starting the workflow of job {job_id}")

    def cancel(self, job_id: uuid.UUID) -> None:
        self._call(self.cancel_workflow(job_id), f"cancelling the workflow of job {job_id}")

    def check(self) -> str | None:
        """Whether Temporal answers a health check now (a dead server means no job starts)."""
        timeout = self.settings.temporal.connect_timeout_seconds
        future = asyncio.run_coroutine_threadsafe(self._check_health(timeout), self._loop)
        try:
            future.result(timeout=timeout * 2 + 1)
        except concurrent.futures.TimeoutError:
            future.cancel()
            host = self.settings.temporal.host
            raise RuntimeError(f"Temporal at {host} did not answer") from None
        return "ok"

    async def _check_health(self, timeout: float) -> None:
        client = await self.client()
        await client.service_client.check_health(timeout=timedelta(seconds=timeout))

    def _call(self, work: Coroutine[Any, Any, object], what: str) -> None:
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            future.result(timeout=self.settings.temporal.connect_timeout_seconds + 10)
        except Exception as exc:
            future.cancel()
            log.warning(f"{what} failed; the reconciler will retry", error=str(exc))

    # --- on the client's loop ------------------------------------------------------------------

    async def client(self) -> Client:
        if self._client is None:
            if self._connecting is None:
                self._connecting = asyncio.Lock()
            async with self._connecting:
                if self._client is None:
                    self._client = await connect(self.settings, identity="lensforge-server")
        return self._client

    async def start_workflow(self, job_id: uuid.UUID) -> bool:
        """Start the job's workflow unless it runs already; False when the job needs none."""
        job = await asyncio.to_thread(self._read, job_id)
        if job is None:
            return False
        kind, queue, resources = job
        client = await self.client()
        temporal = self.settings.temporal
        await client.start_workflow(
            workflow_type_for(kind),
            JobInput(
                str(job_id),
                heartbeat_timeout_seconds=temporal.heartbeat_timeout_seconds,
                run_timeout_seconds=temporal.run_timeout_seconds,
            ),
            id=workflow_id_for(job_id),
            task_queue=task_queue_for(self.settings, queue, resources),
            # A finished job may run again (restart, resume): a closed workflow's id is reused;
            # a running one is the job's and is left alone.
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            rpc_timeout=timedelta(seconds=temporal.connect_timeout_seconds + 5),
        )
        return True

    async def cancel_workflow(self, job_id: uuid.UUID) -> None:
        client = await self.client()
        try:
            await client.get_workflow_handle(workflow_id_for(job_id)).cancel()
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise  # a job that never got a workflow (or whose workflow ended) has nothing

    def _read(self, job_id: uuid.UUID) -> tuple[str, str, dict[str, Any]] | None:
        with transaction(self.sessions) as session:
            job = session.get(TrainingJob, job_id)
            if job is None or job.orchestrator != TEMPORAL or job.status not in _UNATTENDED:
                return None
            return job.kind, job.queue, dict(job.resources)

    def _unattended(self) -> list[uuid.UUID]:
        with transaction(self.sessions) as session:
            return list(
                session.scalars(
                    select(TrainingJob.id)
                    .where(
                        TrainingJob.orchestrator == TEMPORAL,
                        TrainingJob.status.in_(_UNATTENDED),
                    )
                    .order_by(TrainingJob.queued_at)
                    .limit(_RECONCILE_BATCH)
                )
            )

    async def reconcile(self) -> int:
        """Make sure every queued or running Temporal job has its workflow; returns how many
        jobs were looked at."""
        ids = await asyncio.to_thread(self._unattended)
        for job_id in ids:
            await self.start_workflow(job_id)
        return len(ids)

    async def _reconcile_forever(self) -> None:
        interval = self.settings.temporal.reconcile_interval_seconds
        while True:
            try:
                await self.reconcile()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("could not reconcile jobs with Temporal", error=str(exc))
            await asyncio.sleep(interval)
