"""Applying the outputs of export and inference jobs (report kinds `export`, `predictions`).

The object must already be stored under the job's outputs with the reported size. A results
file is validated whole, streamed line by line against the platform's result schema, before
the run points at it: a malformed result fails the job (error type `internal`) naming the first
offending field, and users never see half-valid results.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from lensforge.datasets.repository import VersionRepository
from lensforge.errors import ValidationFailed
from lensforge.inference.results import InvalidResult, iter_results
from lensforge.jobs.outputs import output_key
from lensforge.jobs.reports import ExportData, PredictionsData
from lensforge.models import InferenceRun, ModelExport, TrainingJob
from lensforge.storage.base import ObjectInfo, ObjectNotFound, ObjectStore
from lensforge.storage.lines import iter_lines


class OutputRefused(Exception):
    """The output cannot be accepted; the job fails with `message` (error type internal)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _stored(store: ObjectStore, job: TrainingJob, sequence: int, name: str, size: int) -> str:
    key = output_key(job.id, name)
    try:
        info: ObjectInfo = store.head(key)
    except ObjectNotFound as exc:
        raise ValidationFailed(
            f"report {sequence}: {name!r} was not uploaded; PUT it to the URL from "
            "/outputs/urls before reporting it",
            details={"sequence": sequence, "name": name},
            code="output_not_uploaded",
        ) from exc
    if info.size != size:
        raise OutputRefused(f"{name!r} was reported with {size} bytes but {info.size} are stored")
    return key


def record_predictions(
    session: Session, store: ObjectStore, job: TrainingJob, sequence: int, data: PredictionsData
) -> None:
    run = session.scalar(select(InferenceRun).where(InferenceRun.job_id == job.id))
    if run is None:
        raise OutputRefused("predictions were reported by a job that is not an inference run")
    key = _stored(store, job, sequence, data.name, data.size)
    version = VersionRepository(session).get_by_id(job.dataset_version_id)
    classes = list(version.classes) if version is not None else []
    count = 0
    try:
        for _ in iter_results(iter_lines(store, key), task=job.task, classes=classes):
            count += 1
    except InvalidResult as exc:
        raise OutputRefused(f"the predictions are not valid: {exc.field}: {exc}") from exc
    if count != data.count:
        raise OutputRefused(f"{data.count} results were reported but the file holds {count}")
    if count != run.image_count:
        raise OutputRefused(f"{run.image_count} images were sent but {count} results came back")
    run.results_key = key
    run.result_count = count


def record_export(
    session: Session, store: ObjectStore, job: TrainingJob, sequence: int, data: ExportData
) -> None:
    export = session.scalar(select(ModelExport).where(ModelExport.job_id == job.id))
    if export is None:
        raise OutputRefused("an export was reported by a job that is not an export")
    if data.format != export.format:
        raise OutputRefused(f"a {data.format} model was reported for a {export.format} export")
    export.artifact_key = _stored(store, job, sequence, data.name, data.size)
    # What the trainer actually exported with (e.g. `imgsz` when none was asked for) completes
    # the options asked for; a new dict, so that the JSON column is written.
    export.options = {**export.options, **data.options}
    export.size_bytes = data.size
    export.sha256 = data.sha256
    export.verification = dict(data.verification)
