"""The framework-neutral dataset model every reader produces and every writer consumes.

Coordinates are absolute pixels in the image as a trainer sees it (EXIF orientation applied),
origin at the top-left corner of the top-left pixel. Floats are rounded to `PRECISION` decimals
when a model is built, so the same data always serialises to the same bytes and re-imports hash
the same (see `canonical_json`).
"""

from __future__ import annotations

import hashlib
import json
import re
from enum import StrEnum
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

PRECISION = 4
MAX_CLASSES = 100_000
MAX_KEYPOINTS = 10_000
"""Sanity limits: larger numbers in a file are refused, not allocated."""

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = get_args(Split)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class Task(StrEnum):
    DETECTION = "detection"
    SEGMENTATION = "segmentation"
    CLASSIFICATION = "classification"
    POSE = "pose"


def rounded(value: float) -> float:
    """Round to the canonical precision; `+ 0.0` turns -0.0 into 0.0 so both serialise alike."""
    return round(float(value), PRECISION) + 0.0


def check_relative_name(name: str) -> str:
    """A safe relative POSIX path: no absolute path, no `..`, no backslash, no empty part."""
    if not name or name.startswith("/") or "\\" in name or "\x00" in name:
        raise ValueError(f"{name!r} is not a relative POSIX path")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"{name!r} must not contain empty, '.' or '..' parts")
    return name


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Annotation(_Frozen):
    """One object: a box, plus polygons (segmentation) or keypoints (pose)."""

    class_id: int = Field(ge=0)
    bbox: tuple[float, float, float, float]
    """x, y, width, height of the top-left corner and extent, in pixels."""
    polygons: list[list[float]] = Field(default_factory=list)
    """Flat `[x1, y1, x2, y2, ...]` outlines, at least 3 points each; one object may have parts."""
    keypoints: list[tuple[float, float, int]] = Field(default_factory=list)
    """`(x, y, visibility)`: 0 not labelled (then x = y = 0), 1 labelled but hidden, 2 visible."""
    iscrowd: bool = False

    @field_validator("bbox")
    @classmethod
    def _round_bbox(cls, v: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        x, y, w, h = (rounded(c) for c in v)
        if w < 0 or h < 0:
            raise ValueError("bbox width and height must not be negative")
        return (x, y, w, h)

    @field_validator("polygons")
    @classmethod
    def _round_polygons(cls, v: list[list[float]]) -> list[list[float]]:
        for poly in v:
            if len(poly) < 6 or len(poly) % 2:
                raise ValueError("a polygon needs an even number of coordinates, 3 points or more")
        return [[rounded(c) for c in poly] for poly in v]

    @field_validator("keypoints")
    @classmethod
    def _round_keypoints(cls, v: list[tuple[float, float, int]]) -> list[tuple[float, float, int]]:
        out: list[tuple[float, float, int]] = []
        for x, y, vis in v:
            if vis not in (0, 1, 2):
                raise ValueError("keypoint visibility must be 0, 1 or 2")
            out.append((0.0, 0.0, 0) if vis == 0 else (rounded(x), rounded(y), vis))
        return out


class Item(_Frozen):
    """One image and its labels."""

    file_name: str
    """The image's name inside its split: a relative POSIX path such as `a.jpg` or `cat/1.jpg`.
    Unique per split. Layout folders (`images/train/`, `train/images/`, `JPEGImages/`) are not
    part of it: they belong to a format, and writers add their own."""
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    split: Split | None = None
    annotations: list[Annotation] = Field(default_factory=list)
    labels: list[int] = Field(default_factory=list)
    """Class ids of a classification image (usually exactly one)."""
    sha256: str | None = None
    """SHA-256 of the image file's bytes, when known; part of the content hash."""
    source_path: str | None = None
    """Where the reader found the image, relative to the directory it was given. Provenance only:
    not part of the canonical JSON."""

    @field_validator("file_name")
    @classmethod
    def _relative(cls, v: str) -> str:
        return check_relative_name(v)

    @field_validator("source_path")
    @classmethod
    def _inside(cls, v: str | None) -> str | None:
        # a real file name on the reading machine: a backslash may be part of it
        if v is not None and (v.startswith("/") or ".." in v.split("/") or not v):
            raise ValueError(f"{v!r} is not a path inside the dataset")
        return v

    @field_validator("sha256")
    @classmethod
    def _sha(cls, v: str | None) -> str | None:
        if v is not None and not _SHA256.match(v):
            raise ValueError("sha256 must be 64 lowercase hex digits")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: list[int]) -> list[int]:
        if any(label < 0 for label in v):
            raise ValueError("class ids must not be negative")
        return v


class DatasetManifest(_Frozen):
    """A whole dataset: its task, class list (index = class id) and images."""

    task: Task
    classes: list[str]
    num_keypoints: int | None = None
    """Keypoints per object (pose only)."""
    keypoint_dims: Literal[2, 3] | None = None
    """2 when the source had no visibility flags (Ultralytics `kpt_shape: [k, 2]`), else 3."""
    keypoint_names: list[str] | None = None
    skeleton: list[tuple[int, int]] | None = None
    """Pairs of 0-based keypoint indices."""
    flip_idx: list[int] | None = None
    """The keypoint each keypoint becomes under a horizontal flip (Ultralytics `flip_idx`)."""
    items: list[Item] = Field(default_factory=list)
    source_format: str | None = None
    """Provenance: the format the reader saw. Not part of the canonical JSON."""
    source_splits: dict[str, Split | None] = Field(default_factory=dict)
    """Provenance: each split name the source used and the split it became (`valid` -> `val`)."""

    @field_validator("skeleton")
    @classmethod
    def _no_empty_skeleton(cls, v: list[tuple[int, int]] | None) -> list[tuple[int, int]] | None:
        return v or None  # an empty skeleton and none mean the same

    @model_validator(mode="after")
    def _consistent(self) -> DatasetManifest:
        _check_classes(self.classes)
        _check_keypoint_schema(self)
        n_classes = len(self.classes)
        seen: set[tuple[str | None, str]] = set()
        for item in self.items:
            key = (item.split, item.file_name)
            if key in seen:
                raise ValueError(f"two items named {item.file_name!r} in split {item.split}")
            seen.add(key)
            _check_item(self, item, n_classes)
        return self

    @property
    def keypoint_count(self) -> int:
        return self.num_keypoints or 0


def _check_classes(classes: list[str]) -> None:
    if any(not name.strip() for name in classes):
        raise ValueError("class names must not be empty")
    if len(set(classes)) != len(classes):
        raise ValueError("class names must be unique")


def _check_keypoint_schema(m: DatasetManifest) -> None:
    if m.task is not Task.POSE:
        if m.num_keypoints is not None or m.keypoint_names or m.skeleton or m.flip_idx:
            raise ValueError("keypoint fields are for pose datasets only")
        return
    k = m.num_keypoints
    if not k or k < 1 or m.keypoint_dims is None:
        raise ValueError("a pose dataset needs num_keypoints >= 1 and keypoint_dims")
    if m.keypoint_names is not None and len(m.keypoint_names) != k:
        raise ValueError("keypoint_names must have num_keypoints entries")
    if m.flip_idx is not None and sorted(m.flip_idx) != list(range(k)):
        raise ValueError("flip_idx must be a permutation of the keypoint indices")
    for a, b in m.skeleton or []:
        if not (0 <= a < k and 0 <= b < k):
            raise ValueError("skeleton indices must be 0-based keypoint indices")


def _check_item(m: DatasetManifest, item: Item, n_classes: int) -> None:
    if m.task is Task.CLASSIFICATION:
        if item.annotations:
            raise ValueError(f"{item.file_name}: classification items carry labels, not objects")
        if any(label >= n_classes for label in item.labels):
            raise ValueError(f"{item.file_name}: label out of range")
        return
    if item.labels:
        raise ValueError(f"{item.file_name}: labels are for classification datasets only")
    for ann in item.annotations:
        if ann.class_id >= n_classes:
            raise ValueError(f"{item.file_name}: class id {ann.class_id} out of range")
        if m.task is Task.SEGMENTATION and not ann.polygons:
            raise ValueError(f"{item.file_name}: a segmentation object needs a polygon")
        if m.task is not Task.SEGMENTATION and ann.polygons:
            raise ValueError(f"{item.file_name}: polygons are for segmentation datasets only")
        if m.task is Task.POSE and len(ann.keypoints) != m.num_keypoints:
            raise ValueError(f"{item.file_name}: expected {m.num_keypoints} keypoints")
        if m.task is not Task.POSE and ann.keypoints:
            raise ValueError(f"{item.file_name}: keypoints are for pose datasets only")


# --- canonical serialisation -----------------------------------------------------------------


def _annotation_dict(ann: Annotation) -> dict[str, Any]:
    out: dict[str, Any] = {"class_id": ann.class_id, "bbox": list(ann.bbox)}
    if ann.polygons:
        out["polygons"] = ann.polygons
    if ann.keypoints:
        out["keypoints"] = [list(k) for k in ann.keypoints]
    if ann.iscrowd:
        out["iscrowd"] = True
    return out


def _annotation_key(ann: Annotation) -> tuple[Any, ...]:
    return (ann.class_id, ann.bbox, ann.iscrowd, ann.polygons, ann.keypoints)


def _item_dict(item: Item) -> dict[str, Any]:
    out: dict[str, Any] = {
        "file_name": item.file_name,
        "width": item.width,
        "height": item.height,
    }
    if item.split is not None:
        out["split"] = item.split
    if item.sha256 is not None:
        out["sha256"] = item.sha256
    if item.annotations:
        out["annotations"] = [
            _annotation_dict(a) for a in sorted(item.annotations, key=_annotation_key)
        ]
    if item.labels:
        out["labels"] = sorted(set(item.labels))
    return out


def item_sort_key(item: Item) -> tuple[str, str]:
    return (item.file_name, item.split or "")


def canonical_dict(manifest: DatasetManifest) -> dict[str, Any]:
    """The content of a manifest as plain data: provenance left out, items sorted by file name
    (then split), objects sorted by class and geometry, multi-labels sorted. Object order and
    the source format carry no meaning, so they do not change the hash."""
    out: dict[str, Any] = {"task": manifest.task.value, "classes": list(manifest.classes)}
    if manifest.task is Task.POSE:
        out["num_keypoints"] = manifest.num_keypoints
        out["keypoint_dims"] = manifest.keypoint_dims
        for key in ("keypoint_names", "skeleton", "flip_idx"):
            value = getattr(manifest, key)
            if value is not None:
                out[key] = [list(v) if isinstance(v, tuple) else v for v in value]
    out["items"] = [_item_dict(i) for i in sorted(manifest.items, key=item_sort_key)]
    return out


def canonical_json(manifest: DatasetManifest) -> bytes:
    """Deterministic UTF-8 JSON (sorted keys, no whitespace) of `canonical_dict`."""
    text = json.dumps(
        canonical_dict(manifest),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    )
    return text.encode("utf-8")


def content_hash(manifest: DatasetManifest) -> str:
    """SHA-256 (hex) of `canonical_json`: the dataset version's content hash."""
    return hashlib.sha256(canonical_json(manifest)).hexdigest()
