"""YOLO (Ultralytics, Roboflow, CVAT, Label Studio exports): detection, segmentation, pose.

Images come from the splits of `data.yaml` when it lists any; otherwise every image in the
directory is taken and its split read from its folders (`images/train`, `train/images`,
`obj_train_data`), else none. Label files are paired by the Ultralytics rule: the last
`/images/` of the image path becomes `/labels/` and the extension `.txt`; an image with no
`/images/` folder has its label beside it. Classification datasets (class folders) are read by
the ImageFolder reader.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import replace

from lensforge.formats.files import (
    FileIndex,
    logical_name,
    relative_to,
    split_from_path,
)
from lensforge.formats.geometry import AnnotationBuilder
from lensforge.formats.layout import CLASS_FILES, looks_like_imagefolder, yolo_label_files
from lensforge.formats.model import MAX_CLASSES, DatasetManifest, Split, Task
from lensforge.formats.readers._common import PendingItem, RawObject, ReadContext, finalize
from lensforge.formats.readers.imagefolder import read_imagefolder_index
from lensforge.formats.readers.yolo_config import (
    YoloConfig,
    find_config,
    read_config,
    resolve_listed_image,
)
from lensforge.formats.validation import ValidationReport

Row = tuple[int, list[float]]  # (1-based line, values)
_META_TXT = frozenset(
    {"classes.txt", "labels.txt", "train.txt", "val.txt", "valid.txt", "test.txt"}
)
_NOT_NORMALIZED = (
    " (YOLO coordinates are fractions of the image size; values above 1 look like pixels)"
)


def label_path(image: str) -> str:
    """The Ultralytics rule, on a path relative to the dataset root."""
    rooted = "/" + image
    if "/images/" in rooted:
        head, tail = rooted.rsplit("/images/", 1)
        rooted = head + "/labels/" + tail
    stem = posixpath.splitext(rooted)[0]
    return stem[1:] + ".txt"


def _images(ctx: ReadContext, cfg: YoloConfig) -> list[tuple[str, str, Split | None]]:
    """(image, item name, split) for every image of the dataset."""
    out: list[tuple[str, str, Split | None]] = []
    if cfg.has_split_keys:
        for source in cfg.sources:
            if source.folder is not None:
                for rel in ctx.scan_images(ctx.index.under(source.folder)):
                    out.append((rel, relative_to(rel, source.folder), source.split))
            elif source.list_file is not None:
                out += _listed(ctx, source.list_file, source.split)
        return out
    for rel in ctx.scan_images(ctx.index.files):
        split, _ = split_from_path(rel)
        out.append((rel, logical_name(rel), split))
    return out


def _listed(ctx: ReadContext, list_file: str, split: Split) -> list[tuple[str, str, Split | None]]:
    text = ctx.read_text(list_file)
    out: list[tuple[str, str, Split | None]] = []
    for lineno, line in enumerate((text or "").splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        found = resolve_listed_image(ctx, list_file, line)
        if found is None:
            ctx.issue(
                "missing_image", f"listed image {line.strip()!r} is not in the dataset",
                list_file, line=lineno,
            )  # fmt: skip
            continue
        out.append((found, logical_name(found), split))
    return out


def _parse_rows(ctx: ReadContext, rel: str) -> list[Row]:
    text = ctx.read_text(rel)
    rows: list[Row] = []
    seen: set[tuple[float, ...]] = set()
    for lineno, line in enumerate((text or "").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        try:
            values = [float(f) for f in fields]
        except ValueError:
            ctx.issue("invalid_label_row", f"not a number in {line.strip()!r}", rel, line=lineno)
            continue
        cls = values[0]
        if not cls.is_integer() or cls < 0 or len(values) < 3:
            ctx.issue(
                "invalid_label_row",
                f"row {line.strip()!r}: expected a class id (integer >= 0) and coordinates",
                rel,
                line=lineno,
            )
            continue
        key = tuple(values)
        if key in seen:
            ctx.issue("duplicate_annotation", "this row repeats an earlier one", rel, line=lineno)
            continue
        seen.add(key)
        rows.append((lineno, values))
    return rows


def _infer_task(cfg: YoloConfig, all_rows: list[list[Row]]) -> Task:
    if cfg.kpt_shape is not None:
        return Task.POSE
    if any(len(v) > 6 for rows in all_rows for _, v in rows):
        return Task.SEGMENTATION
    return Task.DETECTION


def _box_of(points: list[float]) -> tuple[float, float, float, float]:
    xs, ys = points[0::2], points[1::2]
    return ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2, max(xs) - min(xs), max(ys) - min(ys))


def _row_object(
    ctx: ReadContext, rel: str, index: int, row: Row, *, task: Task, kpt: tuple[int, int] | None
) -> RawObject | None:
    lineno, values = row
    cls, coords = int(values[0]), values[1:]
    note = _NOT_NORMALIZED if any(abs(v) > 1.01 for v in coords) else ""
    where = replace(ctx.where(rel, lineno, index), note=note)
    n = len(values)
    if task is Task.POSE and kpt is not None:
        k, dims = kpt
        if n != 5 + k * dims:
            found = (n - 5) / dims if n > 5 else 0
            ctx.issue(
                "keypoint_count_mismatch",
                f"{n} values: a pose row needs 5 + {k} keypoints x {dims} = {5 + k * dims}"
                f" (this row has {found:g} keypoints)",
                rel,
                line=lineno,
                object_index=index,
                expected=k,
            )
            return None
        pts = coords[4:]
        kps: list[tuple[float, float, float]] = []
        for i in range(k):
            x, y = pts[i * dims], pts[i * dims + 1]
            # kpt_shape [k, 2] has no visibility: (0, 0) or negative marks an unlabelled point
            v = pts[i * dims + 2] if dims == 3 else (0.0 if min(x, y) < 0 or x == y == 0 else 2.0)
            kps.append((x, y, v) if v else (0.0, 0.0, 0.0))
        return RawObject(where, cls, tuple(coords[:4]), keypoints=kps, normalized=True)
    if n == 5:
        return RawObject(where, cls, tuple(coords), normalized=True)
    if n == 6 and task is Task.DETECTION:
        ctx.issue(
            "track_id_ignored", "6 values (CVAT track export): the 6th is dropped",
            rel, line=lineno, object_index=index,
        )  # fmt: skip
        return RawObject(where, cls, tuple(coords[:4]), normalized=True)
    if n < 7 or (n - 1) % 2:
        ctx.issue(
            "invalid_polygon",
            f"{n - 1} coordinates: a polygon row needs an even count and at least 3 points",
            rel,
            line=lineno,
            object_index=index,
        )
        return None
    if task is Task.SEGMENTATION:
        return RawObject(where, cls, None, polygons=[coords], normalized=True)
    return RawObject(where, cls, _box_of(coords), normalized=True)


def _orphans(ctx: ReadContext, cfg: YoloConfig, used: set[str], image_dirs: set[str]) -> None:
    for rel in ctx.index.with_suffix(".txt"):
        name = posixpath.basename(rel).lower()
        folder = posixpath.dirname(rel)
        if rel in used or rel in cfg.list_files or name in _META_TXT or name in CLASS_FILES:
            continue
        if name.startswith("readme"):
            continue
        if "/labels/" in "/" + rel or folder in image_dirs:
            ctx.issue("orphan_label", "label file without an image; ignored", rel)


Pair = tuple[str, str, Split | None, str | None]  # image, name, split, label file


def _pair(
    ctx: ReadContext, images: list[tuple[str, str, Split | None]]
) -> tuple[list[Pair], dict[str, str]]:
    """Each image with its label file (or None), and label file -> image."""
    index = ctx.index
    claimed: dict[str, str] = {}
    pairs: list[Pair] = []
    for rel, name, split in images:
        label = label_path(rel)
        found = index.find(label)
        if found is None and "/images/" in "/" + rel:
            beside = index.find(posixpath.splitext(rel)[0] + ".txt")
            if beside is not None:
                ctx.issue(
                    "label_beside_image",
                    f"no {index.display(label)}; the label beside the image is used",
                    beside,
                )
                found = beside
        owner = claimed.get(found) if found else None
        if found and owner is not None and owner != rel:
            ctx.issue(
                "duplicate_file_name",
                f"{index.display(rel)} and {index.display(owner)} share this label file",
                found,
            )
            continue
        if found:
            claimed[found] = rel
        else:
            ctx.issue("missing_label", "no label file: kept as a background image", rel)
        pairs.append((rel, name, split, found))
    return pairs, claimed


def read_yolo_index(
    index: FileIndex, task: Task | None = None, report: ValidationReport | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    ctx = ReadContext(index, report)
    cfg = read_config(ctx)
    images = _images(ctx, cfg)
    pairs, claimed = _pair(ctx, images)
    rows_by_label = {label: _parse_rows(ctx, label) for label in claimed}
    if task is None:
        task = _infer_task(cfg, list(rows_by_label.values()))
    classes = cfg.classes
    if classes is None:
        top = max((int(v[0]) for rows in rows_by_label.values() for _, v in rows), default=-1)
        if not cfg.names_error:
            ctx.issue(
                "class_names_missing",
                "no data.yaml names, classes.txt or obj.names: classes are named after their ids",
                cfg.file,  # the data.yaml that lacks them, when there is one
            )
        classes = [str(i) for i in range(min(top + 1, MAX_CLASSES))]
    kpt = cfg.kpt_shape
    if task is Task.POSE and kpt is None:
        ctx.issue("invalid_structure", "a pose dataset needs kpt_shape in data.yaml", cfg.file)
        task = Task.DETECTION
    if task is not Task.POSE:
        kpt = None
    pending: list[PendingItem] = []
    for rel, name, split, label_file in pairs:
        p = PendingItem(image=rel, name=name, split=split)
        for i, row in enumerate(rows_by_label.get(label_file, []) if label_file else []):
            obj = _row_object(ctx, label_file or rel, i, row, task=task, kpt=kpt)
            if obj is not None:
                p.objects.append(obj)
        pending.append(p)
    _orphans(ctx, cfg, set(claimed), {posixpath.dirname(r) for r, *_ in images})
    builder = AnnotationBuilder(ctx.report, task, len(classes), kpt[0] if kpt else 0)
    items = finalize(ctx, pending, builder)
    manifest = DatasetManifest(
        task=task,
        classes=classes,
        num_keypoints=kpt[0] if kpt else None,
        keypoint_dims=(3 if kpt[1] == 3 else 2) if kpt else None,
        keypoint_names=cfg.keypoint_names if kpt else None,
        skeleton=cfg.skeleton if kpt else None,
        flip_idx=cfg.flip_idx if kpt else None,
        items=items,
        source_format="yolo",
        source_splits=_source_splits(cfg, images),
    )
    return manifest, ctx.report


def _source_splits(
    cfg: YoloConfig, images: list[tuple[str, str, Split | None]]
) -> dict[str, Split | None]:
    if cfg.has_split_keys:
        return {s.key: s.split for s in cfg.sources}
    out: dict[str, Split | None] = {}
    for rel, _, _ in images:
        split, folder = split_from_path(rel)
        if folder is not None:
            out[folder] = split
    return out


def read_yolo(
    path: str | os.PathLike[str] | FileIndex, task: Task | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    """Read a YOLO dataset directory (see the module docstring for the layouts)."""
    index = path if isinstance(path, FileIndex) else FileIndex(path)
    if task is None and not find_config(index) and not yolo_label_files(index):
        task = Task.CLASSIFICATION if looks_like_imagefolder(index) else None
    if task is Task.CLASSIFICATION:
        manifest, report = read_imagefolder_index(index)
        return manifest.model_copy(update={"source_format": "yolo"}), report
    return read_yolo_index(index, task)
