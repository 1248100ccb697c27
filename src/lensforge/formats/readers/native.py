"""The Lensforge native ("DICE") format: `annotations_<task>.json` at the root, images under
`images/` (`images/<split>/<file_name>`, or `images/<file_name>`). Absolute pixel coordinates.
The full specification is in docs/dataset-formats.md.
"""

from __future__ import annotations

import os
import posixpath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lensforge.formats.files import FileIndex, normalize_relative
from lensforge.formats.geometry import AnnotationBuilder
from lensforge.formats.model import (
    MAX_KEYPOINTS,
    DatasetManifest,
    Split,
    Task,
    check_relative_name,
)
from lensforge.formats.readers._common import PendingItem, RawObject, ReadContext, finalize
from lensforge.formats.validation import ValidationReport

FORMAT_TAG = "lensforge"
VERSION = 1
TASK_ORDER = (Task.DETECTION, Task.SEGMENTATION, Task.POSE, Task.CLASSIFICATION)


def file_name_for(task: Task) -> str:
    return f"annotations_{task.value}.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NativeKeypoints(_Strict):
    count: int = Field(ge=1, le=MAX_KEYPOINTS)
    dims: Literal[2, 3] = 3
    names: list[str] | None = None
    skeleton: list[tuple[int, int]] | None = None
    flip_idx: list[int] | None = None


class NativeHeader(BaseModel):
    model_config = ConfigDict(extra="allow")

    format: Literal["lensforge"]
    version: Literal[1]
    task: Task
    classes: list[str]
    keypoints: NativeKeypoints | None = None
    images: list[Any]


class NativeObject(_Strict):
    class_id: int
    bbox: tuple[float, float, float, float] | None = None
    polygons: list[list[float]] = Field(default_factory=list)
    keypoints: list[tuple[float, float, float]] = Field(default_factory=list)
    iscrowd: bool = False


class NativeImage(_Strict):
    file_name: str
    width: int | None = Field(default=None, gt=0)
    height: int | None = Field(default=None, gt=0)
    split: Split | None = None
    sha256: str | None = None
    annotations: list[NativeObject] = Field(default_factory=list)
    labels: list[int] = Field(default_factory=list)


def _loc(err: Any) -> str:
    return ".".join(str(p) for p in err["loc"])


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{_loc(err) or 'file'}: {err['msg']}"


def find_native_files(index: FileIndex) -> dict[Task, str]:
    return {t: f for t in TASK_ORDER if (f := index.find(file_name_for(t))) is not None}


def _image_path(index: FileIndex, entry: NativeImage) -> str | None:
    name = normalize_relative(entry.file_name)
    candidates = [posixpath.join("images", entry.split, name)] if entry.split else []
    candidates += [posixpath.join("images", name), name]
    for cand in candidates:
        found = index.find(cand)
        if found:
            return found
    return None


def _pending(
    ctx: ReadContext, rel: str, i: int, entry: NativeImage, task: Task
) -> PendingItem | None:
    try:
        name = check_relative_name(normalize_relative(entry.file_name))
    except ValueError as exc:
        ctx.issue("invalid_structure", f"images.{i}.file_name: {exc}", rel, object_index=i)
        return None
    image = _image_path(ctx.index, entry)
    if image is None:
        ctx.issue("missing_image", f"{entry.file_name!r} is not under images/", rel, object_index=i)
        return None
    declared = (entry.width, entry.height) if entry.width and entry.height else None
    p = PendingItem(image, name, entry.split, declared, rel)
    if task is Task.CLASSIFICATION:  # labels are read for classification only, objects otherwise
        for label in entry.labels:
            if label < 0:
                ctx.issue(
                    "class_id_out_of_range", f"label {label} is negative", rel, object_index=i
                )
        p.labels = [label for label in entry.labels if label >= 0]
        return p
    for k, obj in enumerate(entry.annotations):
        where = ctx.where(rel, None, k, image=image)
        p.objects.append(
            RawObject(where, obj.class_id, obj.bbox, obj.polygons, obj.keypoints, obj.iscrowd)
        )
    return p


def read_native_index(
    index: FileIndex, task: Task | None = None, report: ValidationReport | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    ctx = ReadContext(index, report)
    files = find_native_files(index)
    if task is None:
        task = next(iter(files), Task.DETECTION)
    for other, rel in files.items():
        if other is not task:
            ctx.issue("other_annotations_ignored", f"{other.value} annotations not used", rel)
    rel = files.get(task, file_name_for(task))
    data = ctx.load_json(rel) if rel in files.values() else None
    if rel not in files.values():
        ctx.issue("invalid_structure", f"{rel} is missing", None)
    header: NativeHeader | None = None
    if data is not None:
        try:
            header = NativeHeader.model_validate(data)
        except ValidationError as exc:
            ctx.issue("invalid_structure", _first_error(exc), rel)
    if header is not None and header.task is not task:
        ctx.issue("invalid_structure", f"task is {header.task.value}, expected {task.value}", rel)
        header = None
    classes = header.classes if header else []
    if len(set(classes)) != len(classes) or any(not c.strip() for c in classes):
        ctx.issue("invalid_class_names", "class names must be non-empty and unique", rel)
        classes = [str(i) for i in range(len(classes))]
    kp = _checked_keypoints(ctx, rel, header.keypoints) if header else None
    if header is not None and task is Task.POSE and kp is None:
        ctx.issue("invalid_structure", "a pose file needs 'keypoints'", rel)
    if task is Task.POSE and kp is None:
        task = Task.DETECTION
    pending: list[PendingItem] = []
    for i, raw in enumerate(header.images if header else []):
        try:
            entry = NativeImage.model_validate(raw)
        except ValidationError as exc:
            ctx.issue("invalid_structure", f"images.{i}.{_first_error(exc)}", rel, object_index=i)
            continue
        p = _pending(ctx, rel, i, entry, task)
        if p is not None:
            pending.append(p)
    _check_labels(ctx, rel, pending, len(classes), task)
    builder = AnnotationBuilder(
        ctx.report, task, len(classes), kp.count if kp and task is Task.POSE else 0
    )
    items = finalize(ctx, pending, builder)
    kp = kp if task is Task.POSE else None
    manifest = DatasetManifest(
        task=task,
        classes=classes,
        num_keypoints=kp.count if kp else None,
        keypoint_dims=kp.dims if kp else None,
        keypoint_names=kp.names if kp else None,
        skeleton=kp.skeleton if kp else None,
        flip_idx=kp.flip_idx if kp else None,
        items=items,
        source_format="native",
        source_splits={s: s for s in sorted({p.split for p in pending if p.split})},
    )
    return manifest, ctx.report


def _checked_keypoints(
    ctx: ReadContext, rel: str, kp: NativeKeypoints | None
) -> NativeKeypoints | None:
    if kp is None:
        return None
    k = kp.count
    update: dict[str, None] = {}
    if kp.names is not None and (len(kp.names) != k or len(set(kp.names)) != k):
        ctx.issue("invalid_structure", f"keypoints.names must be {k} unique names", rel)
        update["names"] = None
    if kp.flip_idx is not None and sorted(kp.flip_idx) != list(range(k)):
        ctx.issue("invalid_structure", f"keypoints.flip_idx must permute 0..{k - 1}", rel)
        update["flip_idx"] = None
    if kp.skeleton is not None and not all(0 <= i < k for pair in kp.skeleton for i in pair):
        ctx.issue("invalid_structure", f"keypoints.skeleton indices must be in 0..{k - 1}", rel)
        update["skeleton"] = None
    return kp.model_copy(update=update) if update else kp


def _check_labels(
    ctx: ReadContext, rel: str, pending: list[PendingItem], n: int, task: Task
) -> None:
    if task is not Task.CLASSIFICATION:
        return
    for p in pending:
        bad = [label for label in p.labels if label >= n]
        if bad:
            ctx.issue(
                "class_id_out_of_range", f"{p.name}: label {bad[0]} is not in 0..{n - 1}", rel
            )
            p.labels = [label for label in p.labels if label < n]


def read_native(
    path: str | os.PathLike[str] | FileIndex, task: Task | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    """Read a Lensforge native dataset directory."""
    index = path if isinstance(path, FileIndex) else FileIndex(path)
    return read_native_index(index, task)
