from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from lensforge.datasets.sources import ImportSource
from lensforge.datasets.splits import SplitConfig
from lensforge.kit.schemas import Schema

TaskName = Literal["detection", "segmentation", "classification", "pose"]
FormatName = Literal["yolo", "coco", "voc", "imagefolder", "native"]


class DatasetCreate(Schema):
    project_id: uuid.UUID
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    task: TaskName


class DatasetUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=10_000)


class DatasetShare(Schema):
    shared_with_organization: bool


class DatasetRead(Schema):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str
    task: TaskName
    shared_with_organization: bool
    latest_version_number: int
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class ImportCreate(Schema):
    source: ImportSource
    format: FormatName | None = Field(
        default=None, description="Leave empty to detect the format from the files."
    )
    mode: Literal["replace", "merge"] = Field(
        default="replace",
        description="replace: the new version holds exactly the imported data. merge: the "
        "latest version's items plus the imported ones (same file name replaces).",
    )
    split: SplitConfig | None = Field(
        default=None,
        description="How to assign train/val/test; default: the latest version's config, "
        "else the platform default (keep source splits, else 80/10/10 seeded, stratified).",
    )
    message: str = Field(default="", max_length=2000)
    skip_invalid_images: bool = Field(
        default=False,
        description="Leave out images that cannot be decoded (or exceed the server's pixel "
        "limit), with their annotations, each listed in the report as an `image_skipped` "
        "warning, instead of failing the import.",
    )


class ImportRead(Schema):
    id: uuid.UUID
    dataset_id: uuid.UUID
    status: Literal["pending", "running", "succeeded", "failed"]
    phase: str
    progress_done: int
    progress_total: int
    source: dict[str, Any]
    requested_format: str | None
    detected_format: str | None
    mode: str
    error: str | None
    report: dict[str, Any] | None
    version_id: uuid.UUID | None
    version_number: int | None = None
    created_at: datetime
    finished_at: datetime | None


class VersionRead(Schema):
    id: uuid.UUID
    dataset_id: uuid.UUID
    number: int
    parent_id: uuid.UUID | None
    content_hash: str
    task: TaskName
    classes: list[str]
    keypoint_names: list[str] | None
    split_config: dict[str, Any]
    source: dict[str, Any]
    item_count: int
    annotation_count: int
    warning_count: int
    split_counts: dict[str, int]
    message: str
    created_by_id: uuid.UUID | None
    created_at: datetime


class SplitRequest(Schema):
    split: SplitConfig
    message: str = Field(default="", max_length=2000)


class IssueRead(Schema):
    """One issue of an import's validation report (see docs/dataset-formats.md#validation)."""

    severity: Literal["error", "warning"]
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    object_index: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
