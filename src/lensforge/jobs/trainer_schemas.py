"""Bodies of the trainer endpoints (docs/trainer-contract.md §3)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from lensforge.jobs.outputs import OutputName
from lensforge.jobs.reports import MAX_REPORTS_PER_BATCH, Report
from lensforge.kit.pagination import INT32_MAX
from lensforge.kit.schemas import Schema

MAX_DATASET_URLS = 1000
MAX_OUTPUT_URLS = 100

Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class DatasetSpec(Schema):
    dataset_id: uuid.UUID
    version_id: uuid.UUID
    version_number: int
    content_hash: str
    task: str
    classes: list[str]
    keypoint_names: list[str] | None
    item_count: int
    split: dict[str, Any] = Field(description="The effective split config of this job.")


class CheckpointRef(Schema):
    kind: Literal["best", "last", "epoch"]
    epoch: int | None
    sha256: str | None
    size: int


class ResumeSpec(Schema):
    checkpoint: CheckpointRef


class ExportRef(Schema):
    format: str
    sha256: str | None
    size: int | None


class SourceSpec(Schema):
    """The model an export or inference job works with: one of the two."""

    checkpoint: CheckpointRef | None = None
    export: ExportRef | None = None


class WeightsSpec(Schema):
    """Uploaded pretrained weights (a model artifact) a training starts from."""

    name: str
    filename: str
    sha256: str
    size: int


class WeightsDownload(Schema):
    """A presigned GET of the job's pretrained weights."""

    url: str
    filename: str
    sha256: str
    size: int
    expires_in: int


class JobSpec(Schema):
    job_id: uuid.UUID
    attempt: int
    kind: Literal["training", "export", "inference"]
    trainer: str
    trainer_version: str
    model: str
    task: str
    config: dict[str, Any]
    dataset: DatasetSpec
    resume: ResumeSpec | None
    source: SourceSpec | None = None
    inputs: dict[str, Any] | None = None
    weights: WeightsSpec | None = None
    cancel_requested: bool


class ReportBatch(Schema):
    reports: list[Report] = Field(max_length=MAX_REPORTS_PER_BATCH)


class ReportResult(Schema):
    applied: list[int]
    duplicates: list[int]
    cancel_requested: bool


class Heartbeat(Schema):
    epoch: int | None = Field(default=None, ge=0, le=INT32_MAX)


class HeartbeatResult(Schema):
    cancel_requested: bool


class DatasetUrlsRequest(Schema):
    sha256: list[Sha256] = Field(min_length=1, max_length=MAX_DATASET_URLS)


class UrlsResult(Schema):
    urls: dict[str, str]
    expires_in: int


class OutputFile(Schema):
    name: OutputName
    content_type: str | None = Field(default=None, max_length=200)


class OutputUrlsRequest(Schema):
    files: list[OutputFile] = Field(min_length=1, max_length=MAX_OUTPUT_URLS)


class CheckpointDownload(Schema):
    kind: Literal["best", "last"]
    url: str
    epoch: int | None
    sha256: str | None
    size: int
    expires_in: int


class SourceDownload(Schema):
    """A presigned GET of the model an export or inference job works with."""

    url: str
    name: str = Field(description="A file name with the model's suffix, e.g. `best.pt`.")
    sha256: str | None
    size: int | None
    expires_in: int


class InputImage(Schema):
    name: str
    sha256: str
    url: str


class InputsResult(Schema):
    images: list[InputImage]
    expires_in: int


class ArtifactStored(Schema):
    name: str
    kind: Literal["plot", "table"]
    size: int
    sha256: str
