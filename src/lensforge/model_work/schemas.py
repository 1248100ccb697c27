"""Bodies of the export, inference and capabilities routes (docs/inference-and-export.md)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from lensforge.jobs.schemas import JobStatusName
from lensforge.kit.schemas import Schema

CheckpointName = Literal["best", "last"]


class ExportCreate(Schema):
    job_id: uuid.UUID = Field(description="The training job whose model is exported.")
    checkpoint: CheckpointName = "best"
    format: str = Field(min_length=1, max_length=32)
    options: dict[str, Any] = Field(default_factory=dict)


class ExportRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    source_job_id: uuid.UUID
    job_id: uuid.UUID
    checkpoint: str
    format: str
    options: dict[str, Any]
    status: JobStatusName
    status_reason: str
    size: int | None
    sha256: str | None
    verification: dict[str, Any] | None
    created_at: datetime
    finished_at: datetime | None


class ExportDownload(Schema):
    url: str
    expires_in: int
    filename: str
    size: int
    sha256: str | None


class InferenceParams(Schema):
    conf: float = Field(default=0.25, ge=0.0, le=1.0, description="Confidence threshold.")
    iou: float = Field(default=0.7, ge=0.0, le=1.0, description="NMS IoU threshold.")
    max_det: int = Field(default=300, ge=1, le=10_000)
    imgsz: int | None = Field(default=None, ge=32, le=4096, description="Default: trained size.")


class InferenceCreate(InferenceParams):
    """A batch run over a dataset version's images (optionally one split), or over the images of
    an uploaded zip or tar archive (`upload_id` of a completed upload)."""

    job_id: uuid.UUID
    checkpoint: CheckpointName | None = None
    export_id: uuid.UUID | None = None
    dataset_version_id: uuid.UUID | None = None
    split: Literal["train", "val", "test"] | None = None
    upload_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _one_model_and_one_input(self) -> InferenceCreate:
        if self.checkpoint is not None and self.export_id is not None:
            raise ValueError("give either checkpoint or export_id, not both")
        if (self.dataset_version_id is None) == (self.upload_id is None):
            raise ValueError("give exactly one of dataset_version_id and upload_id")
        if self.split is not None and self.upload_id is not None:
            raise ValueError("split applies to a dataset version only")
        return self


class ImageRef(Schema):
    name: str
    sha256: str
    width: int | None = None
    height: int | None = None


class InferenceRunRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    source_job_id: uuid.UUID
    job_id: uuid.UUID
    source: dict[str, Any]
    params: dict[str, Any]
    images: list[ImageRef]
    image_count: int
    result_count: int | None
    status: JobStatusName
    status_reason: str
    created_at: datetime
    finished_at: datetime | None


class PredictAnswer(Schema):
    run: InferenceRunRead
    results: list[dict[str, Any]] | None


class ExportFormatRead(Schema):
    format: str
    available: bool
    reason: str | None = None
    options_schema: dict[str, Any] | None = None


class ModelRead(Schema):
    name: str
    tasks: list[str]
    description: str


class TrainerCapabilities(Schema):
    name: str
    version: str
    tasks: list[str]
    models: list[ModelRead]
    resume: bool
    predict: bool
    export_formats: list[ExportFormatRead]


class Capabilities(Schema):
    trainers: list[TrainerCapabilities]
