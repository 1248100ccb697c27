"""Typed shapes of the model-work API: exports of a trained model with their verification
report, inference runs with their per-image results, and what each trainer can do
(docs/inference-and-export.md, "Response shapes").

Like `lensforge.client.models`, these copy the server's shapes (the client must not import the
server) and ignore fields they do not know; statuses are plain strings.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from lensforge.client.job_models import TERMINAL_JOB_STATUSES, TrainerModel
from lensforge.client.models import Model

# --- exports -----------------------------------------------------------------------------------


class LatencyStats(Model):
    """Milliseconds per image."""

    median: float | None = None
    p95: float | None = None


class VerificationReport(Model):
    """How closely the exported model matches the PyTorch one on `samples` validation images:
    raw outputs within `tolerance`, detections found again (`detection_agreement` ≥
    `min_agreement`), and each one's speed. `failures` says what did not pass."""

    passed: bool
    samples: int | None = None
    format: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)
    max_abs_diff: float | None = None
    mean_abs_diff: float | None = None
    tolerance: float | None = None
    detection_agreement: float | None = None
    min_agreement: float | None = None
    latency_ms: dict[str, LatencyStats] = Field(default_factory=dict)
    """`pytorch` and `exported`."""
    runtime: str | None = None
    failures: list[Any] = Field(default_factory=list)


class ModelExport(Model):
    """A trained model converted to another format (ONNX, TorchScript, ...) by an export job
    (`job_id`) from a checkpoint of `source_job_id`. `status` is the export job's; the
    artifact (`size`, `sha256`) and the `verification` report exist once it ran."""

    id: uuid.UUID
    project_id: uuid.UUID
    source_job_id: uuid.UUID
    job_id: uuid.UUID
    checkpoint: str
    format: str
    options: dict[str, Any] = Field(default_factory=dict)
    status: str
    status_reason: str = ""
    size: int | None = None
    sha256: str | None = None
    verification: VerificationReport | None = None
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        """Completed, failed or cancelled."""
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"


class ModelExportLink(Model):
    """Where to download a completed export: `url` works for `expires_in` seconds, without
    credentials; `size` and `sha256` check what arrives."""

    url: str
    expires_in: int
    filename: str
    size: int
    sha256: str | None = None


# --- results -----------------------------------------------------------------------------------


class Detection(Model):
    """One object, in pixels of the original image: `box` `[x1, y1, x2, y2]`, for segmentation
    a `polygon`, for pose `keypoints` (`[x, y, score]`), for OBB the corners and `angle`."""

    class_id: int
    class_name: str
    score: float
    box: list[float]
    polygon: list[list[float]] | None = None
    keypoints: list[list[float]] | None = None
    angle: float | None = None


class Classification(Model):
    class_id: int
    class_name: str
    score: float


class ImageResult(Model):
    """The predictions for one image (the platform's result schema, every trainer's)."""

    image: str
    width: int
    height: int
    task: str
    inference_ms: float | None = None
    detections: list[Detection] | None = None
    classifications: list[Classification] | None = None
    """Top 5, highest score first."""


# --- inference runs ----------------------------------------------------------------------------


class InferenceParams(Model):
    conf: float | None = None
    iou: float | None = None
    max_det: int | None = None
    imgsz: int | None = None


class InferenceImage(Model):
    """An image of a run, stored by content (`sha256`); its size once known."""

    name: str
    sha256: str
    width: int | None = None
    height: int | None = None


class InferenceRun(Model):
    """Predictions of a trained model (`source`: `{"checkpoint": "best"}`) or of one of its
    exports (`{"export_id": ...}`) on some images, run by an inference job (`job_id`)."""

    id: uuid.UUID
    project_id: uuid.UUID
    source_job_id: uuid.UUID
    job_id: uuid.UUID
    source: dict[str, Any] = Field(default_factory=dict)
    params: InferenceParams = Field(default_factory=InferenceParams)
    images: list[InferenceImage] = Field(default_factory=list)
    image_count: int
    result_count: int | None = None
    status: str
    status_reason: str = ""
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        """Completed, failed or cancelled."""
        return self.status in TERMINAL_JOB_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "completed"


class Prediction(Model):
    """The answer of `predict`: the run, and its results (one per image, in the order sent)
    when it finished within the wait; `results` is None while it still runs, and for a
    failed run (see `run.status_reason`)."""

    run: InferenceRun
    results: list[ImageResult] | None = None


# --- capabilities ------------------------------------------------------------------------------


class ExportFormat(Model):
    """A model format and whether the trainer can export to it (if not, `reason`); the
    options it accepts as a JSON Schema."""

    format: str
    available: bool
    reason: str | None = None
    options_schema: dict[str, Any] | None = None


class TrainerModelWork(Model):
    """What one trainer can do with the models it trains."""

    name: str
    version: str
    tasks: list[str] = Field(default_factory=list)
    models: list[TrainerModel] = Field(default_factory=list)
    resume: bool = False
    predict: bool = False
    export_formats: list[ExportFormat] = Field(default_factory=list)

    def export_format(self, name: str) -> ExportFormat | None:
        return next((f for f in self.export_formats if f.format == name), None)


class Capabilities(Model):
    trainers: list[TrainerModelWork] = Field(default_factory=list)

    def trainer(self, name: str) -> TrainerModelWork | None:
        return next((t for t in self.trainers if t.name == name), None)


class ModelArtifact(Model):
    """A model file uploaded to a project (pretrained weights trainings can start from)."""

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    filename: str
    size_bytes: int
    sha256: str
    created_by_id: uuid.UUID | None = None
    created_at: datetime
