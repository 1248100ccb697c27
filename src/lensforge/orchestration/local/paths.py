"""Where attempts work and trainers spool, from the worker settings."""

from __future__ import annotations

import hashlib
import socket
import uuid
from pathlib import Path

from lensforge.config import Settings


def jobs_dir(settings: Settings) -> Path:
    return Path(settings.worker.jobs_dir or settings.data_dir / "jobs")


def job_dir(settings: Settings, job_id: uuid.UUID) -> Path:
    return jobs_dir(settings) / str(job_id)


def attempt_dir(settings: Settings, job_id: uuid.UUID, number: int) -> Path:
    return job_dir(settings, job_id) / f"attempt-{number}"


def spool_dir(settings: Settings, job_id: uuid.UUID) -> Path:
    # Per job, not per attempt: the SDK keeps what it could not deliver across attempts.
    return job_dir(settings, job_id) / "spool"


def dataset_cache_dir(settings: Settings) -> Path:
    return Path(settings.worker.dataset_cache_dir or settings.data_dir / "dataset-cache")


def worker_name(settings: Settings) -> str:
    """Stable across restarts (a restarted worker must recognise its own attempts), distinct
    per data directory (two installations on one host are two workers)."""
    if settings.worker.name:
        return settings.worker.name
    digest = hashlib.sha256(str(settings.data_dir.resolve()).encode()).hexdigest()[:8]
    return f"{socket.gethostname()}-{digest}"
