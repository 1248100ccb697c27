"""The deployments this replica serves: their rows as last read, and the warm model version
answering for each.

A background task looks every `refresh_interval_seconds` for deployments changed since its last
look (`updated_at`). When a deployment's current version changes (an update, a rollback), the new
version is warmed beside the old one (file fetched and verified, model loaded, one dummy batch
run) and only then does traffic switch; requests queued on the old version finish there. A
warm that fails leaves the old version answering.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import structlog
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.kit.names import name_key
from lensforge.models.deployment import Deployment, DeploymentVersion
from lensforge.serve.model_files import ModelFiles
from lensforge.serving.batching import DynamicBatcher
from lensforge.serving.errors import (
    DeploymentInactive,
    DeploymentNotFound,
    DeploymentNotReady,
    ModelUnavailable,
    ServingError,
)
from lensforge.serving.pipeline import ModelCard, onnx_metadata
from lensforge.serving.protocol import DATATYPES, TensorSpec, batches
from lensforge.serving.runtime import LoadedModel, ModelPool, Signature

log = structlog.get_logger("lensforge.serve.directory")
# A failed warm is retried on the next change of the deployment, or after this long.
_RETRY_FAILED_WARM_SECONDS = 30.0


@dataclass
class ServedVersion:
    """One warm model version of a deployment and its batching queue."""

    deployment_id: uuid.UUID
    number: int
    key: str
    path: Path
    signature: Signature
    card: ModelCard
    batcher: DynamicBatcher
    pool: ModelPool

    def model(self) -> LoadedModel:
        # Looked up per batch, so the pool's budget holds (an evicted model is reloaded).
        return self.pool.get(self.key, self.path)

    @property
    def batching(self) -> bool:
        return self.batcher.stackable


@dataclass
class DeploymentState:
    id: uuid.UUID
    organization_id: uuid.UUID
    project_id: uuid.UUID
    name: str
    name_key: str
    status: str
    status_reason: str
    active: bool
    current_version: int | None
    max_batch_size: int
    max_queue_delay_ms: float
    queue_limit: int
    rate_limit_per_second: float | None
    rate_limit_burst: int | None
    parameters: dict[str, Any]
    updated_at: datetime
    served: ServedVersion | None = None
    warming: dict[int, asyncio.Task[ServedVersion]] = field(default_factory=dict)
    failed: dict[int, tuple[float, str]] = field(default_factory=dict)  # when, why

    @classmethod
    def of(cls, row: Deployment) -> DeploymentState:
        return cls(
            id=row.id,
            organization_id=row.organization_id,
            project_id=row.project_id,
            name=row.name,
            name_key=row.name_key,
            status=row.status,
            status_reason=row.status_reason,
            active=row.active,
            current_version=row.current_version,
            max_batch_size=row.max_batch_size,
            max_queue_delay_ms=row.max_queue_delay_ms,
            queue_limit=row.queue_limit,
            rate_limit_per_second=row.rate_limit_per_second,
            rate_limit_burst=row.rate_limit_burst,
            parameters=dict(row.parameters or {}),
            updated_at=row.updated_at,
        )

    def update_from(self, row: Deployment) -> None:
        fresh = DeploymentState.of(row)
        for name in (
            "name",
            "name_key",
            "status",
            "status_reason",
            "active",
            "current_version",
            "max_batch_size",
            "max_queue_delay_ms",
            "queue_limit",
            "rate_limit_per_second",
            "rate_limit_burst",
            "parameters",
            "updated_at",
        ):
            setattr(self, name, getattr(fresh, name))
        if self.served is not None:
            self.served.batcher.configure(
                max_batch_size=self.max_batch_size,
                max_queue_delay_ms=self.max_queue_delay_ms,
                queue_limit=self.queue_limit,
            )

    def check_serving(self) -> None:
        if not self.active:
            raise DeploymentInactive(f"deployment {self.name!r} is inactive")
        if self.status != "ready" or self.current_version is None:
            reason = f": {self.status_reason}" if self.status_reason else ""
            raise DeploymentNotReady(f"deployment {self.name!r} is {self.status}{reason}")


@dataclass(frozen=True)
class VersionFile:
    number: int
    artifact_key: str
    sha256: str | None
    task: str
    class_names: list[str]
    model_info: dict[str, Any]


class Directory:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        files: ModelFiles,
        pool: ModelPool,
        *,
        refresh_interval_seconds: float = 1.0,
        on_batch: Callable[[str, int], None] | None = None,
    ) -> None:
        self._on_batch = on_batch
        self._sessions = sessions
        self._files = files
        self._pool = pool
        self._interval = refresh_interval_seconds
        self._states: dict[uuid.UUID, DeploymentState] = {}
        self._last_seen: datetime | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.ready = False

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            await self.refresh()
            self.ready = True
        except Exception:  # a database not migrated or not up yet: keep trying, not ready
            log.warning("serve.first_refresh_failed", exc_info=True)
        self._refresher = asyncio.get_running_loop().create_task(self._refresh_forever())

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        for state in self._states.values():
            for task in state.warming.values():
                task.cancel()
            if state.served is not None:
                await state.served.batcher.close()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
                self.ready = True
            except Exception:  # the database away for a moment: serve what we have, retry
                log.warning("serve.refresh_failed", exc_info=True)

    async def refresh(self) -> None:
        rows, ids = await asyncio.to_thread(self._changed_rows, self._last_seen)
        for row in rows:
            self._apply(row)
            if self._last_seen is None or row.updated_at > self._last_seen:
                self._last_seen = row.updated_at
        for gone in set(self._states) - ids:
            await self._drop(gone)

    def _changed_rows(self, since: datetime | None) -> tuple[list[Deployment], set[uuid.UUID]]:
        with self._sessions() as session:
            query = select(Deployment)
            if since is not None:
                # `>=`: rows changed in the same instant as the last one seen are not missed.
                query = query.where(Deployment.updated_at >= since)
            rows = list(session.scalars(query))
            ids = set(session.scalars(select(Deployment.id)))
            session.expunge_all()
        return rows, ids

    def _apply(self, row: Deployment) -> DeploymentState:
        state = self._states.get(row.id)
        if state is None:
            state = DeploymentState.of(row)
            self._states[row.id] = state
        else:
            if row.updated_at != state.updated_at:
                state.failed.clear()  # a change is worth another try
            state.update_from(row)
        if state.active and state.status == "ready" and state.current_version is not None:
            self._start_warm(state, state.current_version)
        return state

    async def _drop(self, deployment_id: uuid.UUID) -> None:
        state = self._states.pop(deployment_id)
        for task in state.warming.values():
            task.cancel()
        if state.served is not None:
            await state.served.batcher.close()
            self._pool.unload(state.served.key)

    # --- lookups ------------------------------------------------------------------------------

    async def resolve(self, organization_id: uuid.UUID, reference: str) -> DeploymentState:
        """The deployment named (ignoring case) or identified by `reference` in the caller's
        organization; another organization's is not found, exactly like an unknown one."""
        found = self._find(organization_id, reference)
        if found is not None:
            return found
        # Created since the last refresh: read it now rather than 404 for a second.
        row = await asyncio.to_thread(self._read_one, organization_id, reference)
        if row is None:
            raise DeploymentNotFound(f"no deployment {reference!r}")
        return self._apply(row)

    def _find(self, organization_id: uuid.UUID, reference: str) -> DeploymentState | None:
        as_id = _as_uuid(reference)
        key = name_key(reference)
        for state in self._states.values():
            if state.organization_id != organization_id:
                continue
            if state.id == as_id or state.name_key == key:
                return state
        return None

    def _read_one(self, organization_id: uuid.UUID, reference: str) -> Deployment | None:
        as_id = _as_uuid(reference)
        match = Deployment.name_key == name_key(reference)
        if as_id is not None:
            match = or_(match, Deployment.id == as_id)
        with self._sessions() as session:
            row = session.scalars(
                select(Deployment).where(Deployment.organization_id == organization_id, match)
            ).first()
            session.expunge_all()
            return row

    async def serving(self, state: DeploymentState) -> ServedVersion:
        """The version answering now: the warm current one, or the previous one while the
        current one warms (an update never makes a request wait or fail)."""
        try:
            state.check_serving()
        except (DeploymentInactive, DeploymentNotReady):
            # The API may have settled or activated it since this replica last looked: a
            # refusal is worth one fresh read, so that "ready" in the API is served at once.
            row = await asyncio.to_thread(self._read_one, state.organization_id, str(state.id))
            if row is not None:
                self._apply(row)
            state.check_serving()
        assert state.current_version is not None
        served = state.served
        if served is not None and served.number == state.current_version:
            return served
        task = self._start_warm(state, state.current_version)
        if served is not None:
            return served
        if task is None:
            _, why = state.failed.get(state.current_version, (0.0, "it failed to load"))
            raise ModelUnavailable(
                f"version {state.current_version} of {state.name!r} cannot be served: {why}"
            )
        return await asyncio.shield(task)

    # --- warming ------------------------------------------------------------------------------

    def _start_warm(
        self, state: DeploymentState, number: int
    ) -> asyncio.Task[ServedVersion] | None:
        if state.served is not None and state.served.number == number:
            return None
        task = state.warming.get(number)
        if task is not None:
            return task
        failed = state.failed.get(number)
        if failed is not None and time.monotonic() - failed[0] < _RETRY_FAILED_WARM_SECONDS:
            return None
        task = asyncio.get_running_loop().create_task(self._warm(state, number))
        # A background warm nobody awaits: its failure is logged and kept in `failed`.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        state.warming[number] = task
        return task

    async def _warm(self, state: DeploymentState, number: int) -> ServedVersion:
        try:
            served = await asyncio.to_thread(self._load, state, number)
        except ServingError as exc:
            state.failed[number] = (time.monotonic(), exc.message)
            log.warning("serve.warm_failed", deployment=state.name, version=number, error=str(exc))
            raise
        except Exception as exc:
            state.failed[number] = (time.monotonic(), repr(exc))
            log.warning("serve.warm_failed", deployment=state.name, version=number, exc_info=True)
            raise ModelUnavailable(f"version {number} of {state.name!r} cannot load") from exc
        finally:
            state.warming.pop(number, None)
        state.failed.pop(number, None)
        previous = state.served
        # Switch only if this is still the version wanted (a rollback may have come meanwhile).
        if state.current_version == number or previous is None:
            state.served = served
            if previous is not None and previous is not served:
                # Queued requests finish on it; nothing new reaches it.
                asyncio.get_running_loop().create_task(previous.batcher.close())
            log.info("serve.version_live", deployment=state.name, version=number)
        return served

    def _load(self, state: DeploymentState, number: int) -> ServedVersion:
        version = self._read_version(state.id, number)
        path = self._files.path(version.artifact_key, version.sha256)
        key = f"{state.id}@{number}"
        model = self._pool.get(key, path)
        card = ModelCard.build(
            task=version.task,
            class_names=version.class_names,
            model_info=version.model_info,
            inputs=model.signature.inputs,
            metadata=onnx_metadata(model.session),
        )
        stackable = batches(model.signature.inputs, model.signature.outputs)
        pool = self._pool
        batcher = DynamicBatcher(
            lambda inputs: pool.get(key, path).run(inputs),
            max_batch_size=state.max_batch_size,
            max_queue_delay_ms=state.max_queue_delay_ms,
            queue_limit=state.queue_limit,
            stackable=stackable,
            on_batch=None if self._on_batch is None else partial(self._on_batch, state.name),
        )
        model.run(_dummy_inputs(model.signature.inputs, card))  # warm: the first run allocates
        return ServedVersion(state.id, number, key, path, model.signature, card, batcher, pool)

    def _read_version(self, deployment_id: uuid.UUID, number: int) -> VersionFile:
        with self._sessions() as session:
            row = session.scalars(
                select(DeploymentVersion).where(
                    DeploymentVersion.deployment_id == deployment_id,
                    DeploymentVersion.number == number,
                )
            ).first()
            if row is None or row.status != "ready" or not row.artifact_key:
                raise ModelUnavailable(f"version {number} has no ready model file")
            return VersionFile(
                number=row.number,
                artifact_key=row.artifact_key,
                sha256=row.sha256,
                task=row.task,
                class_names=list(row.class_names or []),
                model_info=dict(row.model_info or {}),
            )


def _dummy_inputs(specs: tuple[TensorSpec, ...], card: ModelCard) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for spec in specs:
        shape = []
        for index, size in enumerate(spec.shape):
            if size >= 0:
                shape.append(size)
            elif len(spec.shape) == 4 and index in (2, 3):
                shape.append(card.imgsz[index - 2])
            else:
                shape.append(1)
        inputs[spec.name] = np.zeros(shape, DATATYPES.get(spec.datatype, np.dtype("<f4")))
    return inputs


def _as_uuid(reference: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(reference)
    except ValueError:
        return None
