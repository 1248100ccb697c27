"""What the server asks of whatever runs jobs. The local backend's workers poll the database;
a distributed backend (Temporal) starts and cancels workflows. Server, state machine, SDK and
trainers are the same for every backend."""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings


class Orchestrator(Protocol):
    name: str

    def start(self) -> None:
        """Called once when the server starts (connections, background reconciling)."""
        ...

    def close(self) -> None:
        """Called once when the server stops."""
        ...

    def submit(self, job_id: uuid.UUID) -> None:
        """Called after a job became `queued` (and the transaction committed)."""
        ...

    def cancel(self, job_id: uuid.UUID) -> None:
        """Called after a cancel of a running job was recorded (and committed)."""
        ...

    def workflow_id(self, job_id: uuid.UUID) -> str | None:
        """The id the job's run is known by in the backend (recorded on the job at creation)."""
        ...

    def workflow_link(self, workflow_id: str | None) -> str | None:
        """Where a person can watch that run (the Temporal web UI), when there is such a place."""
        ...

    def check(self) -> str | None:
        """For the readiness probe: None when there is nothing to check (jobs need no service
        besides the database), "ok" when the backend answers; raises when it does not."""
        ...


class LocalOrchestrator:
    """Workers claim queued jobs from the database and watch `cancel_requested_at` themselves,
    so there is nothing to push."""

    name = "local"

    def start(self) -> None:
        return None

    def close(self) -> None:
        return None

    def submit(self, job_id: uuid.UUID) -> None:
        return None

    def cancel(self, job_id: uuid.UUID) -> None:
        return None

    def workflow_id(self, job_id: uuid.UUID) -> str | None:
        return None

    def workflow_link(self, workflow_id: str | None) -> str | None:
        return None

    def check(self) -> str | None:
        return None


def create_orchestrator(settings: Settings, sessions: sessionmaker[Session]) -> Orchestrator:
    """The backend `settings.orchestrator` names (Temporal's client is imported only then)."""
    if settings.orchestrator == "temporal":
        from lensforge.orchestration.temporal.orchestrator import TemporalOrchestrator

        return TemporalOrchestrator(settings, sessions)
    return LocalOrchestrator()
