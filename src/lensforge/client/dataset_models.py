"""Typed shapes of the dataset API: datasets, imports and their reports, versions, stats, diffs.

Like `lensforge.client.models`, these copy the server's shapes (the client must not import the
server) and ignore fields they do not know. Import sources and the split config are *inputs*:
they forbid unknown fields, so a typo fails here rather than being dropped.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lensforge.client.models import Model

FINISHED_IMPORT_STATUSES = frozenset({"succeeded", "failed"})


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class UploadSource(_Input):
    """An archive (zip, tar, ...) uploaded with `client.uploads` and completed."""

    kind: Literal["upload"] = "upload"
    upload_id: str


class FolderSource(_Input):
    """A folder on the *server's* disk, inside its `LENSFORGE_DATASETS__IMPORT_ROOTS`."""

    kind: Literal["folder"] = "folder"
    path: str


class S3Source(_Input):
    """Every object under `prefix` of an S3 bucket; the secret is used once, never stored."""

    kind: Literal["s3"] = "s3"
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: str | None = None
    secret_access_key: str | None = Field(default=None, repr=False)


ImportSource = UploadSource | FolderSource | S3Source


class SplitConfig(_Input):
    """How items are assigned to train/val/test. `source` keeps the splits the data came with
    (items without one are assigned by ratio); `ratio` assigns every item by ratio, seeded and,
    with `stratify`, stratified by class. The ratios must add up to 1."""

    mode: Literal["source", "ratio"] = "source"
    train: float = 0.8
    val: float = 0.1
    test: float = 0.1
    seed: int = 0
    stratify: bool = True


class Dataset(Model):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str
    task: str
    """detection, segmentation, classification or pose."""
    shared_with_organization: bool
    latest_version_number: int
    """0 until the first import succeeds."""
    created_by_id: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime


class ImportIssue(Model):
    """One problem found in the data: `file` (relative to the dataset root), 1-based `line`,
    0-based `object_index` locate it where the format allows."""

    severity: str
    """`error` (the import fails) or `warning` (kept with the version)."""
    code: str
    message: str
    file: str | None = None
    line: int | None = None
    object_index: int | None = None
    extra: dict[str, Any] = Field(default_factory=dict)


class ImportReport(Model):
    """`issues` holds at most 1000 issues per code; `counts` always holds the full numbers."""

    issues: list[ImportIssue] = Field(default_factory=list)
    counts: dict[str, int] = Field(default_factory=dict)
    summary: str = ""

    @property
    def errors(self) -> list[ImportIssue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    @property
    def warnings(self) -> list[ImportIssue]:
        return [issue for issue in self.issues if issue.severity == "warning"]


class DatasetImport(Model):
    """An import and its progress. `status` goes pending → running → succeeded or failed;
    while running, `phase` names the step and `progress_done`/`progress_total` count its work
    (a total of 0 means the step is not counted). A failed import carries `error` and usually
    a `report` whose issues say which file and line to fix."""

    id: uuid.UUID
    dataset_id: uuid.UUID
    status: str
    phase: str
    progress_done: int = 0
    progress_total: int = 0
    source: dict[str, Any] = Field(default_factory=dict)
    requested_format: str | None = None
    detected_format: str | None = None
    mode: str
    error: str | None = None
    report: ImportReport | None = None
    version_id: uuid.UUID | None = None
    version_number: int | None = None
    """The version created (or, for data identical to the latest version, that version)."""
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED_IMPORT_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


class DatasetVersion(Model):
    """An immutable version; `content_hash` is the SHA-256 of its canonical manifest."""

    id: uuid.UUID
    dataset_id: uuid.UUID
    number: int
    parent_id: uuid.UUID | None = None
    content_hash: str
    task: str
    classes: list[str]
    keypoint_names: list[str] | None = None
    split_config: dict[str, Any] = Field(default_factory=dict)
    source: dict[str, Any] = Field(default_factory=dict)
    item_count: int
    annotation_count: int
    warning_count: int = 0
    split_counts: dict[str, int] = Field(default_factory=dict)
    """Images per split (splits without images are left out)."""
    message: str = ""
    created_by_id: uuid.UUID | None = None
    created_at: datetime


class ClassStats(Model):
    id: int
    name: str
    count: int
    """Objects of this class; for classification, images labelled with it."""
    images: int
    """Images with at least one object (or label) of this class."""


class SplitStats(Model):
    images: int
    annotations: int
    class_counts: list[int]


class VersionStatsData(Model):
    task: str
    image_count: int
    annotation_count: int
    images_without_annotations: int
    classes: list[ClassStats]
    splits: dict[str, SplitStats]
    split_image_counts: dict[str, int]
    objects_per_image: dict[str, int] | None = None
    image_sizes: dict[str, Any] = Field(default_factory=dict)
    box_sizes: dict[str, int] | None = None
    keypoints: dict[str, Any] | None = None


class VersionStats(Model):
    dataset_id: uuid.UUID
    version: int
    warning_count: int
    stats: VersionStatsData


class DiffSummary(Model):
    items_added: int
    items_removed: int
    items_moved: int
    items_changed: int
    images_changed: int
    annotations_changed: int
    items_unchanged: int
    annotations_added: int
    annotations_removed: int
    classes_added: int
    classes_removed: int
    classes_renamed: int


class DiffItem(Model):
    file_name: str
    split: str | None = None


class MovedItem(Model):
    file_name: str
    old_split: str | None = None
    new_split: str | None = None


class ChangedItem(Model):
    file_name: str
    split: str | None = None
    image_changed: bool
    annotations_added: list[dict[str, Any]] = Field(default_factory=list)
    annotations_removed: list[dict[str, Any]] = Field(default_factory=list)
    labels_added: list[int] = Field(default_factory=list)
    labels_removed: list[int] = Field(default_factory=list)


class VersionDiffData(Model):
    old_task: str
    new_task: str
    summary: DiffSummary
    classes: dict[str, Any] = Field(default_factory=dict)
    """`added`/`removed` ({id, name}) and `renamed` ({id, old_name, new_name})."""
    added: list[DiffItem]
    removed: list[DiffItem]
    moved: list[MovedItem]
    changed: list[ChangedItem]
    limit: int | None = None
    truncated: bool = False


class VersionDiff(Model):
    """The changes from `from_version` (older) to `to_version`; lists are cut at `diff.limit`
    (`diff.truncated`), the summary counts everything."""

    dataset_id: uuid.UUID
    from_version: int
    to_version: int
    diff: VersionDiffData


class DatasetItem(Model):
    """An image of a version. Objects are in absolute pixels: `{"class_id", "bbox": [x, y, w,
    h], "polygons"?, "keypoints"?, "iscrowd"?}`; `labels` are a classification image's classes.
    The URLs are paths on the server (relative to its root)."""

    id: uuid.UUID
    file_name: str
    split: str
    width: int
    height: int
    image_sha256: str
    annotations: list[dict[str, Any]] = Field(default_factory=list)
    labels: list[int] = Field(default_factory=list)
    thumbnail_url: str
    image_url: str


class ExportDownload(Model):
    """A version exported and saved: where, how many bytes, and how many images the format
    could not hold (ImageFolder has no place for unlabelled images)."""

    path: Path
    size: int
    skipped_items: int = 0
