"""Turning export and inference rows into what users read: their status is their job's, and an
inference run's results are read from its JSON Lines object, streamed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from lensforge.errors import Conflict, NotFound
from lensforge.jobs.state import TERMINAL
from lensforge.model_work.keys import input_image_key
from lensforge.model_work.schemas import ExportRead, InferenceRunRead
from lensforge.models import InferenceRun, ModelExport, TrainingJob
from lensforge.storage.base import ObjectStore
from lensforge.storage.lines import iter_lines


def _job(session: Session, job_id: Any) -> TrainingJob:
    job = session.get(TrainingJob, job_id)
    assert job is not None  # a record's job is deleted only with the record (CASCADE)
    return job


def _outputs_as_new_as(
    session: Session, record: ModelExport | InferenceRun, job: TrainingJob
) -> None:
    """Read `record` again after its job when the job is finished. On PostgreSQL each statement
    sees what was committed before it (READ COMMITTED): the record, read before a trainer's
    last reports committed, and then the job, read after, would show a completed export with
    no verification report. The outputs are reported before the outcome, so a read after the
    job's sees them."""
    if job.status in {status.value for status in TERMINAL}:
        session.refresh(record)


def export_read(session: Session, export: ModelExport) -> ExportRead:
    job = _job(session, export.job_id)
    _outputs_as_new_as(session, export, job)
    return ExportRead(
        id=export.id,
        project_id=export.project_id,
        source_job_id=export.source_job_id,
        job_id=export.job_id,
        checkpoint=export.checkpoint,
        format=export.format,
        options=export.options,
        status=job.status,  # the CHECK constraint admits only these
        status_reason=job.status_reason,
        size=export.size_bytes,
        sha256=export.sha256,
        verification=export.verification,
        created_at=export.created_at,
        finished_at=job.finished_at,
    )


def run_read(session: Session, run: InferenceRun) -> InferenceRunRead:
    job = _job(session, run.job_id)
    _outputs_as_new_as(session, run, job)
    return InferenceRunRead.model_validate(
        {
            "id": run.id,
            "project_id": run.project_id,
            "source_job_id": run.source_job_id,
            "job_id": run.job_id,
            "source": run.source,
            "params": run.params,
            "images": run.images,
            "image_count": run.image_count,
            "result_count": run.result_count,
            "status": job.status,
            "status_reason": job.status_reason,
            "created_at": run.created_at,
            "finished_at": job.finished_at,
        }
    )


def _results_key(run: InferenceRun) -> str:
    if run.results_key is None:
        raise Conflict(
            "the run has no results yet", code="results_not_ready", details={"run_id": str(run.id)}
        )
    return run.results_key


def iter_result_lines(store: ObjectStore, run: InferenceRun) -> Iterator[bytes]:
    return iter_lines(store, _results_key(run))


def results_page(
    store: ObjectStore, run: InferenceRun, *, offset: int, limit: int
) -> list[dict[str, Any]]:
    page: list[dict[str, Any]] = []
    for index, line in enumerate(iter_result_lines(store, run)):
        if index >= offset + limit:
            break
        if index >= offset:
            page.append(json.loads(line))
    return page


def image_key_at(run: InferenceRun, index: int) -> str:
    """The stored image `index` of the run (404 outside the run's images)."""
    if not 0 <= index < run.image_count:
        raise NotFound(f"the run has images 0..{run.image_count - 1}", code="image_not_found")
    return input_image_key(run.organization_id, run.input_origin, run.images[index]["sha256"])


def result_at(store: ObjectStore, run: InferenceRun, index: int) -> dict[str, Any]:
    image_key_at(run, index)  # the same 404 for an index outside the run
    found = results_page(store, run, offset=index, limit=1)
    if not found:
        raise NotFound("no result for this image", code="image_not_found")
    return found[0]
