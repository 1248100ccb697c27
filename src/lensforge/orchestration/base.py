"""What the server asks of whatever runs jobs. The local backend's workers poll the database;
a distributed backend (Temporal) starts and cancels workflows. Server, state machine, SDK and
trainers are the same for every backend."""

from __future__ import annotations

import uuid
from typing import Protocol


class Orchestrator(Protocol):
    name: str

    def submit(self, job_id: uuid.UUID) -> None:
        """Called after a job became `queued` (and the transaction committed)."""
        ...

    def cancel(self, job_id: uuid.UUID) -> None:
        """Called after a cancel of a running job was recorded (and committed)."""
        ...


class LocalOrchestrator:
    """Workers claim queued jobs from the database and watch `cancel_requested_at` themselves,
    so there is nothing to push."""

    name = "local"

    def submit(self, job_id: uuid.UUID) -> None:
        return None

    def cancel(self, job_id: uuid.UUID) -> None:
        return None
