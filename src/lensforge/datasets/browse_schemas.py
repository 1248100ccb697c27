"""Bodies of the browse routes: items, stats, diffs. `VersionStats` documents what
`datasets.stats.compute_stats` stores on each version."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict

from lensforge.datasets.diff import VersionDiff
from lensforge.kit.schemas import Schema


class ItemRead(Schema):
    id: uuid.UUID
    file_name: str
    split: str
    width: int
    height: int
    image_sha256: str
    annotations: list[dict[str, Any]]
    """Objects in absolute pixels: `{"class_id", "bbox": [x, y, w, h], "polygons"?,
    "keypoints"?, "iscrowd"?}`."""
    labels: list[int]
    """Class ids of a classification image."""
    thumbnail_url: str
    image_url: str


# --- the stored statistics -----------------------------------------------------------------


class _Stats(BaseModel):
    # Stored JSON written by another release may carry keys this one does not know.
    model_config = ConfigDict(extra="ignore")


class ClassStats(_Stats):
    id: int
    name: str
    count: int
    """Objects of this class; for classification, images labelled with it."""
    images: int
    """Images with at least one object (or label) of this class."""


class SplitStats(_Stats):
    images: int
    annotations: int
    class_counts: list[int]
    """Objects (classification: images) per class id in this split."""


class SizeSummary(_Stats):
    min: int | None
    max: int | None
    mean: float | None
    median: float | None


class ImageSizeStats(_Stats):
    width: SizeSummary
    height: SizeSummary
    longest_side: dict[str, int]
    """Images per bucket of their longest side in pixels (`0-256`, ..., `4097+`)."""


class BoxSizeStats(_Stats):
    """COCO's size classes by box area in pixels: small < 32², medium < 96², large the rest."""

    small: int
    medium: int
    large: int


class KeypointCounts(_Stats):
    index: int
    name: str
    visible: int
    occluded: int
    unlabeled: int


class KeypointStats(_Stats):
    visible: int
    occluded: int
    unlabeled: int
    per_keypoint: list[KeypointCounts]


class VersionStats(_Stats):
    task: str
    image_count: int
    annotation_count: int
    """Objects; for classification, labels."""
    images_without_annotations: int
    classes: list[ClassStats]
    splits: dict[str, SplitStats]
    """`train`, `val`, `test` always; `unassigned` when some items have no split."""
    split_image_counts: dict[str, int]
    objects_per_image: dict[str, int] | None
    """Images per bucket of object count (`0`..`4`, `5-9`, `10-19`, `20+`); not for
    classification."""
    image_sizes: ImageSizeStats
    box_sizes: BoxSizeStats | None
    keypoints: KeypointStats | None
    """Pose only: visibility counts, in total and per keypoint."""


class VersionStatsRead(Schema):
    dataset_id: uuid.UUID
    version: int
    warning_count: int
    stats: VersionStats


class VersionDiffRead(Schema):
    dataset_id: uuid.UUID
    from_version: int
    """The older side (`against`)."""
    to_version: int
    diff: VersionDiff
