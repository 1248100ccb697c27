"""Reports a dead trainer wrote to its spool but never delivered.

The SDK appends every report to `<spool_dir>/attempt-<n>/reports.jsonl` and records in
`ack.json` (`{"offset", "sequence"}`) how far the server has accepted them (see
`lensforge.sdk.spool`). When the process died, what lies past the offset never arrived. Its
telemetry (progress, logs, checkpoints) is still true and is ingested; status reports are not:
a `completed` the server never heard of is not trusted from a dead process.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import structlog
from pydantic import ValidationError
from sqlalchemy.orm import Session

from lensforge.errors import LensforgeError
from lensforge.jobs.ingest import apply_reports
from lensforge.jobs.reports import Report
from lensforge.models import JobAttempt, TrainingJob
from lensforge.storage.base import ObjectStore

log = structlog.get_logger("lensforge.worker")

TELEMETRY_KINDS = frozenset({"progress", "log", "checkpoint"})


def unsent_reports(spool_root: Path, attempt_number: int) -> list[dict[str, Any]]:
    folder = f"attempt-{attempt_number}"
    try:
        ack = _read_regular(spool_root, folder, "ack.json")
        offset = int(json.loads(ack)["offset"])
    except (OSError, ValueError, KeyError, TypeError):
        offset = 0  # nothing acknowledged (or a torn ack): the server drops duplicates
    try:
        raw = _read_regular(spool_root, folder, "reports.jsonl")[max(offset, 0) :]
    except OSError:
        return []
    found: list[dict[str, Any]] = []
    for line in raw.split(b"\n"):
        try:
            record = json.loads(line)
        except ValueError:
            continue  # the torn last line of a killed writer
        if isinstance(record, dict) and record.get("kind") in TELEMETRY_KINDS:
            found.append(record)
    return found


def _read_regular(spool_root: Path, folder: str, name: str) -> bytes:
    """`spool_root/folder/name`, read without following links and only if it is a regular
    file: the spool is the trainer's, and a trainer running as another user could otherwise
    make the worker read (or block on) any file it likes."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    root = os.open(spool_root, flags | os.O_DIRECTORY)
    try:
        inner = os.open(folder, flags | os.O_DIRECTORY, dir_fd=root)
        try:
            fd = os.open(name, flags, dir_fd=inner)
        finally:
            os.close(inner)
    finally:
        os.close(root)
    with os.fdopen(fd, "rb") as stream:
        if not stat.S_ISREG(os.fstat(stream.fileno()).st_mode):
            raise OSError(f"{name} is not a regular file")
        return stream.read()


def ingest_unsent(
    session: Session,
    job: TrainingJob,
    attempt: JobAttempt,
    spool_root: Path,
    store: ObjectStore,
) -> int:
    """Apply the dead attempt's undelivered telemetry; returns how many took effect. Each
    report on its own savepoint: one that cannot apply (a checkpoint whose upload never
    finished) must not lose the others."""
    applied = 0
    for record in unsent_reports(spool_root, attempt.number):
        try:
            report = Report.model_validate(record)
        except ValidationError:
            continue
        try:
            with session.begin_nested():
                done, _ = apply_reports(
                    session, job, attempt, [report], store=store, allow_status_changes=False
                )
            applied += len(done)
        except LensforgeError as exc:
            log.info(
                "spooled report not applied",
                job_id=str(job.id),
                attempt=attempt.number,
                sequence=record.get("sequence"),
                why=exc.message,
            )
    return applied
