"""Exports and inference runs on the user's side: each is done by a job of its own kind, built
from the training job whose model it uses, so it runs through the same orchestrator, trainer
environment, lifecycle and live events as training."""

from __future__ import annotations

import copy
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from jsonschema import Draft202012Validator
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.datasets.service import DatasetService
from lensforge.errors import Conflict, NotFound, ValidationFailed
from lensforge.jobs.repository import JobRepository
from lensforge.jobs.service import JobService
from lensforge.jobs.state import JobStatus, transition
from lensforge.model_work.capabilities import export_formats
from lensforge.model_work.images import store_archive_images
from lensforge.model_work.schemas import InferenceCreate, InferenceParams
from lensforge.models import (
    DatasetItem,
    DatasetVersion,
    InferenceRun,
    JobCheckpoint,
    ModelExport,
    ProjectMember,
    TrainingJob,
)
from lensforge.orchestration.base import LocalOrchestrator, Orchestrator
from lensforge.storage.base import ObjectStore
from lensforge.trainers.manifest import TrainerManifest
from lensforge.trainers.registry import TrainerRegistry
from lensforge.uploads.service import UploadService

# Model work is short and someone is usually waiting for it: ahead of training in its queue.
INFERENCE_PRIORITY_BOOST = 50
EXPORT_PRIORITY_BOOST = 10
# One retry, for a lost worker only (a reported failure is never retried).
MODEL_JOB_ATTEMPTS = 2
FP32_TOLERANCE = 1e-3
FP16_TOLERANCE = 5e-2
MIN_AGREEMENT = 0.95
VERIFY_SAMPLES = 8
MAX_BATCH_IMAGES = 100_000
# Archive images are checked and stored inside the request: keep it to what that can afford.
MAX_UPLOAD_BATCH_IMAGES = 5_000


# Exports and inference runs share the columns the reads below use.
_Record = TypeVar("_Record", ModelExport, InferenceRun)


class CapabilityUnavailable(ValidationFailed):
    code = "capability_unavailable"


class ModelWorkService:
    def __init__(
        self,
        session: Session,
        registry: TrainerRegistry,
        orchestrator: Orchestrator | None = None,
    ) -> None:
        self.session = session
        self.registry = registry
        self.jobs = JobService(session, registry)
        self.orchestrator = orchestrator or LocalOrchestrator()

    # --- the model used -----------------------------------------------------------------------

    def training_job(self, principal: Principal, job_id: uuid.UUID) -> TrainingJob:
        job = self.jobs.visible(principal, job_id)
        if job.kind != "training":
            raise ValidationFailed(
                f"job {job_id} is an {job.kind} job; give the training job whose model to use",
                code="not_a_training_job",
                details={"fields": [{"field": "job_id", "message": "not a training job"}]},
            )
        return job

    def _checkpoint(self, job: TrainingJob, name: str) -> JobCheckpoint:
        row = self.session.scalar(
            select(JobCheckpoint).where(JobCheckpoint.job_id == job.id, JobCheckpoint.kind == name)
        )
        if row is None:
            raise Conflict(
                f"the job has no {name} checkpoint yet (it is {job.status})",
                code="no_checkpoint",
                details={"checkpoint": name, "job_status": job.status},
            )
        return row

    def _manifest(self, job: TrainingJob) -> TrainerManifest:
        return self.registry.get(job.trainer).manifest

    def _model_job(
        self,
        principal: Principal,
        source: TrainingJob,
        *,
        kind: str,
        name: str,
        model_source: dict[str, Any],
        inputs: dict[str, Any],
        priority_boost: int,
    ) -> TrainingJob:
        job_id = uuid.uuid4()
        return JobRepository(self.session).add(
            TrainingJob(
                id=job_id,
                # The backend that runs training runs model work too (a local worker must never
                # claim a Temporal job, and the reverse).
                orchestrator=self.orchestrator.name,
                workflow_id=self.orchestrator.workflow_id(job_id),
                kind=kind,
                source_job_id=source.id,
                source=model_source,
                inputs=inputs,
                organization_id=source.organization_id,
                project_id=source.project_id,
                dataset_id=source.dataset_id,
                dataset_version_id=source.dataset_version_id,
                dataset_content_hash=source.dataset_content_hash,
                name=name[:200],
                trainer=source.trainer,
                trainer_version=self._manifest(source).version,
                model=source.model,
                task=source.task,
                config={},
                split_override=None,
                split_config=dict(source.split_config),
                # Exporting and predicting a few images need no GPU of their own.
                resources={"cpu": 1, "gpu": 0},
                queue=source.queue,
                priority=min(source.priority + priority_boost, 100),
                max_attempts=MODEL_JOB_ATTEMPTS,
                retries_left=MODEL_JOB_ATTEMPTS - 1,
                status=JobStatus.PENDING.value,
                created_by_id=principal.user_id,
            )
        )

    def _queue(self, job: TrainingJob, source: TrainingJob) -> None:
        """After the record exists, so the `export_status` event can name it."""
        transition(self.session, job, JobStatus.QUEUED, f"{job.kind} of job {source.name}")

    # --- exports ------------------------------------------------------------------------------

    def create_export(
        self,
        principal: Principal,
        *,
        job_id: uuid.UUID,
        checkpoint: str,
        format: str,
        options: dict[str, Any],
    ) -> ModelExport:
        source = self.training_job(principal, job_id)
        manifest = self._manifest(source)
        offered = {f.format: f for f in export_formats(manifest)}
        choice = offered.get(format)
        if choice is None or not choice.available:
            available = sorted(name for name, f in offered.items() if f.available)
            reason = choice.reason if choice is not None else f"unknown format {format!r}"
            raise CapabilityUnavailable(
                f"cannot export to {format}: {reason}; available: {', '.join(available) or 'none'}",
                details={
                    "fields": [{"field": "format", "message": reason}],
                    "available": available,
                },
            )
        options = _validated_options(manifest, format, options)
        stored = self._checkpoint(source, checkpoint)
        half = bool(options.get("half"))
        job = self._model_job(
            principal,
            source,
            kind="export",
            name=f"export-{format}-{source.name}",
            model_source={"checkpoint": checkpoint},
            inputs={
                "format": format,
                "options": options,
                "checkpoint_epoch": stored.trained_epoch,
                "verify": {
                    "samples": VERIFY_SAMPLES,
                    "max_abs_diff": FP16_TOLERANCE if half else FP32_TOLERANCE,
                    "min_agreement": MIN_AGREEMENT,
                },
            },
            priority_boost=EXPORT_PRIORITY_BOOST,
        )
        export = ModelExport(
            organization_id=source.organization_id,
            project_id=source.project_id,
            source_job_id=source.id,
            job_id=job.id,
            checkpoint=checkpoint,
            format=format,
            options=options,
            created_by_id=principal.user_id,
        )
        self.session.add(export)
        self.session.flush()
        self._queue(job, source)
        return export

    def visible_export(self, principal: Principal, export_id: uuid.UUID) -> ModelExport:
        return self._visible(principal, ModelExport, export_id, what="export")

    def list_exports(
        self,
        principal: Principal,
        *,
        job_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[ModelExport], int]:
        return self._list(principal, ModelExport, job_id, project_id, limit, offset)

    # --- inference runs -----------------------------------------------------------------------

    def _model_source(
        self,
        principal: Principal,
        source: TrainingJob,
        checkpoint: str | None,
        export_id: uuid.UUID | None,
    ) -> dict[str, Any]:
        manifest = self._manifest(source)
        if not manifest.capabilities.predict or "predict" not in manifest.entrypoints:
            raise CapabilityUnavailable(
                f"trainer {manifest.name} cannot run predictions",
                details={"fields": [{"field": "job_id", "message": "no predict capability"}]},
            )
        if export_id is not None:
            export = self.visible_export(principal, export_id)
            if export.source_job_id != source.id:
                raise ValidationFailed(
                    "the export belongs to another job",
                    code="export_of_another_job",
                    details={"fields": [{"field": "export_id", "message": "of another job"}]},
                )
            status = self.session.scalar(
                select(TrainingJob.status).where(TrainingJob.id == export.job_id)
            )
            if status != JobStatus.COMPLETED.value or export.artifact_key is None:
                raise Conflict(
                    f"the export is {status}; only a completed (verified) export can be used",
                    code="export_not_ready",
                )
            return {"export_id": str(export.id)}
        name = checkpoint or "best"
        self._checkpoint(source, name)
        return {"checkpoint": name}

    def check_model(
        self,
        principal: Principal,
        job_id: uuid.UUID,
        checkpoint: str | None,
        export_id: uuid.UUID | None,
    ) -> None:
        """Raise what `create_run` would raise about the job and model, storing nothing."""
        self._model_source(principal, self.training_job(principal, job_id), checkpoint, export_id)

    def create_run(
        self,
        principal: Principal,
        *,
        job_id: uuid.UUID,
        checkpoint: str | None,
        export_id: uuid.UUID | None,
        params: InferenceParams,
        images: list[dict[str, Any]],
        origin: str,
    ) -> InferenceRun:
        source = self.training_job(principal, job_id)
        model_source = self._model_source(principal, source, checkpoint, export_id)
        job = self._model_job(
            principal,
            source,
            kind="inference",
            name=f"predict-{source.name}",
            model_source=model_source,
            inputs=params.model_dump(),
            priority_boost=INFERENCE_PRIORITY_BOOST,
        )
        run = InferenceRun(
            organization_id=source.organization_id,
            project_id=source.project_id,
            source_job_id=source.id,
            job_id=job.id,
            source=model_source,
            params=params.model_dump(),
            input_origin=origin,
            images=images,
            image_count=len(images),
            created_by_id=principal.user_id,
        )
        self.session.add(run)
        self.session.flush()
        self._queue(job, source)
        return run

    def create_batch_run(
        self, principal: Principal, body: InferenceCreate, store: ObjectStore
    ) -> InferenceRun:
        """A run over a dataset version of the organization, or an uploaded archive's images."""
        self.check_model(principal, body.job_id, body.checkpoint, body.export_id)
        if body.upload_id is not None:
            images = self._uploaded_images(principal, body.upload_id, store)
            origin = "upload"
        else:
            assert body.dataset_version_id is not None  # the schema requires one of the two
            images = self._version_images(principal, body.dataset_version_id, body.split)
            origin = "dataset"
        return self.create_run(
            principal,
            job_id=body.job_id,
            checkpoint=body.checkpoint,
            export_id=body.export_id,
            params=InferenceParams.model_validate(
                body.model_dump(include={"conf", "iou", "max_det", "imgsz"})
            ),
            images=images,
            origin=origin,
        )

    def _version_images(
        self, principal: Principal, version_id: uuid.UUID, split: str | None
    ) -> list[dict[str, Any]]:
        version = self.session.get(DatasetVersion, version_id)
        if version is None:
            raise NotFound("dataset version not found", code="version_not_found")
        DatasetService(self.session).visible(principal, version.dataset_id)  # same org, visible
        query = select(DatasetItem).where(DatasetItem.version_id == version.id)
        if split is not None:
            query = query.where(DatasetItem.split == split)
        items = self.session.scalars(
            query.order_by(DatasetItem.split, DatasetItem.file_name).limit(MAX_BATCH_IMAGES + 1)
        ).all()
        if not items:
            raise ValidationFailed(
                "no images to run on" + (f" in split {split}" if split else ""),
                code="no_images",
                details={"fields": [{"field": "split", "message": "empty"}]},
            )
        if len(items) > MAX_BATCH_IMAGES:
            raise ValidationFailed(
                f"at most {MAX_BATCH_IMAGES} images per run; pick a split",
                code="too_many_images",
            )
        return [
            {
                "name": f"{item.split}/{item.file_name}",
                "sha256": item.image_sha256,
                "width": item.width,
                "height": item.height,
            }
            for item in items
        ]

    def _uploaded_images(
        self, principal: Principal, upload_id: uuid.UUID, store: ObjectStore
    ) -> list[dict[str, Any]]:
        completed = UploadService(self.session).completed_object(principal, upload_id)
        with tempfile.TemporaryDirectory(prefix="lensforge-batch-") as folder:
            archive = Path(folder) / "upload"
            with store.open(completed.object_key) as source, archive.open("wb") as out:
                shutil.copyfileobj(source, out, 1024 * 1024)
            images = store_archive_images(
                store, principal.organization_id, archive, limit=MAX_UPLOAD_BATCH_IMAGES
            )
        return [dict(image) for image in images]

    def visible_run(self, principal: Principal, run_id: uuid.UUID) -> InferenceRun:
        return self._visible(principal, InferenceRun, run_id, what="inference run")

    def list_runs(
        self,
        principal: Principal,
        *,
        job_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[InferenceRun], int]:
        return self._list(principal, InferenceRun, job_id, project_id, limit, offset)

    # --- shared -------------------------------------------------------------------------------

    def _project_visible(self, principal: Principal, project_id: uuid.UUID) -> bool:
        return self.jobs._project_visible(principal, project_id)

    def _visible(
        self, principal: Principal, table: type[_Record], record_id: uuid.UUID, *, what: str
    ) -> _Record:
        """The record if it is in the caller's organization and a project they see; else
        "not found" (existence does not leak)."""
        record = self.session.scalar(
            select(table).where(
                table.id == record_id, table.organization_id == principal.organization_id
            )
        )
        if record is None or not self._project_visible(principal, record.project_id):
            raise NotFound(f"{what} not found", code=f"{what.replace(' ', '_')}_not_found")
        return record

    def _list(
        self,
        principal: Principal,
        table: type[_Record],
        job_id: uuid.UUID | None,
        project_id: uuid.UUID | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[_Record], int]:
        """Records of the caller's organization in projects they see, newest first; optionally
        those using one training job's model, or of one project."""
        query = select(table).where(table.organization_id == principal.organization_id)
        if not principal.can(Action.PROJECT_VIEW_ALL):
            query = query.where(
                table.project_id.in_(
                    select(ProjectMember.project_id).where(
                        ProjectMember.user_id == principal.user_id
                    )
                )
            )
        if job_id is not None:
            query = query.where(table.source_job_id == job_id)
        if project_id is not None:
            query = query.where(table.project_id == project_id)
        total = self.session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self.session.scalars(
            query.order_by(table.created_at.desc(), table.id).limit(limit).offset(offset)
        ).all()
        return rows, total


def _validated_options(
    manifest: TrainerManifest, format: str, options: dict[str, Any]
) -> dict[str, Any]:
    """The options checked against the trainer's schema for the format, defaults filled in."""
    schema = manifest.capabilities.export_options.get(format)
    if schema is None:
        if options:
            raise ValidationFailed(
                f"{format} exports take no options",
                code="invalid_export",
                details={"fields": [{"field": "options", "message": "must be empty"}]},
            )
        return {}
    problems = [
        {
            "field": ".".join(["options", *(str(p) for p in error.absolute_path)]),
            "message": error.message,
        }
        for error in Draft202012Validator(schema).iter_errors(options)
    ]
    if problems:
        raise ValidationFailed(
            "the export options are not valid: "
            + "; ".join(f"{p['field']}: {p['message']}" for p in problems),
            code="invalid_export",
            details={"fields": problems},
        )
    completed = copy.deepcopy(options)
    for name, prop in schema.get("properties", {}).items():
        if name not in completed and isinstance(prop, dict) and "default" in prop:
            completed[name] = copy.deepcopy(prop["default"])
    return completed
