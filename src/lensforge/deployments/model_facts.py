"""What a deployment version must know of its model so that serving needs no other table: the
verified file (key, hash, size), the task, the class names in the model's own index order and
the input facts (image size, keypoint shape, whether the batch dimension is dynamic)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lensforge.errors import Conflict, ValidationFailed
from lensforge.jobs.state import JobStatus
from lensforge.models import DatasetVersion, DeploymentVersion, ModelExport, TrainingJob
from lensforge.storage.base import ObjectStore

# The format serving loads (ONNX Runtime). OpenVINO would come next, where its runtime is.
SERVED_FORMATS = ("onnx",)
# Ultralytics' default input size, used only when neither the export nor the job names one.
DEFAULT_IMGSZ = 640


def export_job_status(session: Session, export: ModelExport) -> tuple[str, str]:
    """(status, reason) of the export's job: an export's state is its job's."""
    row = session.execute(
        select(TrainingJob.status, TrainingJob.status_reason).where(TrainingJob.id == export.job_id)
    ).one()
    return str(row[0]), str(row[1])


def check_servable_format(export: ModelExport) -> None:
    if export.format not in SERVED_FORMATS:
        raise ValidationFailed(
            f"a deployment serves {', '.join(SERVED_FORMATS)} models; this export is "
            f"{export.format} (deploy the training job to get an ONNX export made on the way)",
            code="export_format_unsupported",
            details={
                "fields": [{"field": "export_id", "message": f"format {export.format}"}],
                "format": export.format,
                "supported": list(SERVED_FORMATS),
            },
        )


def unverified_reason(export: ModelExport) -> str | None:
    """Why a completed export cannot be served, or None when it can."""
    if export.artifact_key is None or export.sha256 is None:
        return "the export has no stored model file"
    verification = export.verification or {}
    if verification.get("passed") is not True:
        return "the export did not pass its verification against the trained model"
    return None


def check_ready_export(session: Session, export: ModelExport) -> None:
    """Refuse, with a specific code, an export that is not a completed, verified ONNX model."""
    check_servable_format(export)
    status, reason = export_job_status(session, export)
    if status != JobStatus.COMPLETED.value:
        raise Conflict(
            f"the export is {status}; only a completed, verified export can be deployed"
            + (f" ({reason})" if reason and status == JobStatus.FAILED.value else ""),
            code="export_not_ready",
            details={"export_id": str(export.id), "status": status},
        )
    problem = unverified_reason(export)
    if problem is not None:
        raise Conflict(problem, code="export_not_verified", details={"export_id": str(export.id)})


def model_class_names(job: TrainingJob, version: DatasetVersion) -> list[str]:
    """The dataset's classes in the order of the model's outputs."""
    classes = [str(name) for name in version.classes]
    if job.trainer == "ultralytics" and job.task == "classification":
        # Ultralytics numbers classification classes by their sorted folder names
        # (lensforge.trainers.ultralytics.layout), not by the dataset's order.
        return sorted(classes)
    return classes


def keypoint_shape(store: ObjectStore, version: DatasetVersion) -> list[int] | None:
    """[keypoints, 2 | 3] of a pose dataset version (the model's `kpt_shape`), else None."""
    if version.task != "pose":
        return None
    # The dimension is only in the canonical manifest; pose deployments are rare enough
    # that reading it once per version costs nothing worth a column.
    with store.open(version.manifest_key) as stream:
        manifest: dict[str, Any] = json.load(stream)
    count = manifest.get("num_keypoints") or len(version.keypoint_names or [])
    dims = manifest.get("keypoint_dims") or 3
    return [int(count), int(dims)]


def describe_model(
    session: Session,
    store: ObjectStore,
    version: DeploymentVersion,
    job: TrainingJob,
    options: dict[str, Any],
) -> None:
    """Task, class names and the input facts known before the file exists (the export's
    options as asked for; `imgsz` is completed from what the exporter reports)."""
    dataset_version = session.get(DatasetVersion, job.dataset_version_id)
    assert dataset_version is not None  # RESTRICT: a job's dataset version is never deleted
    version.task = job.task
    version.class_names = model_class_names(job, dataset_version)
    version.model_info = {
        "imgsz": None,
        "kpt_shape": keypoint_shape(store, dataset_version),
        "dynamic_batch": bool(options.get("dynamic", False)),
        "trainer": job.trainer,
        "model": job.model,
    }


def _imgsz(options: dict[str, Any], job: TrainingJob | None) -> list[int]:
    asked = options.get("imgsz")
    if isinstance(asked, int) and asked > 0:
        return [asked, asked]
    if isinstance(asked, list) and len(asked) == 2 and all(isinstance(v, int) for v in asked):
        return [int(asked[0]), int(asked[1])]
    basic = (job.config or {}).get("basic", {}) if job is not None else {}
    trained = basic.get("imgsz") if isinstance(basic, dict) else None
    if isinstance(trained, int) and trained > 0:
        return [trained, trained]
    return [DEFAULT_IMGSZ, DEFAULT_IMGSZ]


def take_file(session: Session, version: DeploymentVersion, export: ModelExport) -> None:
    """Copy the verified file's identity and the exported input size into the version."""
    version.export_id = export.id
    version.format = export.format
    version.artifact_key = export.artifact_key
    version.sha256 = export.sha256
    version.size_bytes = export.size_bytes
    job = session.get(TrainingJob, export.source_job_id)
    info = dict(version.model_info or {})
    info["imgsz"] = _imgsz(export.options or {}, job)
    info["dynamic_batch"] = bool((export.options or {}).get("dynamic", False))
    version.model_info = info  # a new dict, so the JSON column is written
