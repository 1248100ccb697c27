"""Ultralytics YOLO: `images/<split>/`, `labels/<split>/<stem>.txt`, `data.yaml`.

- detection rows `c cx cy w h`, segmentation rows `c x1 y1 ...` (an object's parts are joined
  into one outline with zero-width bridges, as Ultralytics' own COCO converter does), pose rows
  `c cx cy w h x y [v] ...`; all normalised to 0..1. Every image gets a label file (empty for
  background images) so readers do not mistake it for a missing label.
- `data.yaml`: `names` as {id: name}, the `train`/`val`/`test` folders present, and for pose
  `kpt_shape`, `flip_idx` (when known), `kpt_names` ({class: names}, as Ultralytics writes it)
  and `skeleton` (0-based pairs; a Lensforge extension Ultralytics ignores).
- Items without a split go to `images/` and `labels/` directly; the split keys are then left
  out of `data.yaml` (a trainer must assign splits first).
- Classification is written as ImageFolder, which is what Ultralytics classification reads.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from lensforge.formats.geometry import merge_polygons
from lensforge.formats.model import SPLITS, Annotation, DatasetManifest, Item, Task
from lensforge.formats.writers._common import (
    ImageSource,
    WriteResult,
    number,
    place_image,
    staging,
    unique_names,
)
from lensforge.formats.writers.imagefolder import write_imagefolder


def _row(ann: Annotation, item: Item, task: Task, dims: int) -> str:
    w, h = item.width, item.height
    if task is Task.SEGMENTATION:
        poly = merge_polygons(ann.polygons)
        coords = [v / (w if i % 2 == 0 else h) for i, v in enumerate(poly)]
        return " ".join([str(ann.class_id), *(number(c) for c in coords)])
    x, y, bw, bh = ann.bbox
    values = [(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h]
    parts = [str(ann.class_id), *(number(v) for v in values)]
    if task is Task.POSE:
        for px, py, v in ann.keypoints:
            parts += [number(px / w), number(py / h)]
            if dims == 3:
                parts.append(str(v))
    return " ".join(parts)


def data_yaml(manifest: DatasetManifest, splits: Sequence[str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for split in splits:
        data[split] = f"images/{split}"
    data["nc"] = len(manifest.classes)
    data["names"] = dict(enumerate(manifest.classes))
    if manifest.task is Task.POSE:
        data["kpt_shape"] = [manifest.num_keypoints, manifest.keypoint_dims]
        if manifest.flip_idx is not None:
            data["flip_idx"] = list(manifest.flip_idx)
        if manifest.keypoint_names is not None:
            data["kpt_names"] = {i: list(manifest.keypoint_names) for i in range(data["nc"])}
        if manifest.skeleton is not None:
            data["skeleton"] = [list(p) for p in manifest.skeleton]
    return data


def write_yolo(
    manifest: DatasetManifest, dest: str | os.PathLike[str], image_source: ImageSource
) -> WriteResult:
    if manifest.task is Task.CLASSIFICATION:
        return write_imagefolder(manifest, dest, image_source)
    splits_present = {i.split for i in manifest.items}
    all_split = None not in splits_present and bool(splits_present)
    names = unique_names(manifest.items, lambda i: i.split or "")
    dims = manifest.keypoint_dims or 3
    with staging(dest) as out:
        result = WriteResult(path=out)
        for item in manifest.items:
            name = names[id(item)]
            if name != item.file_name:
                result.renamed[f"{item.split or ''}/{item.file_name}"] = name
            sub = posixpath.join(item.split, name) if item.split else name
            place_image(image_source, item, out / "images" / sub)
            label = out / "labels" / (posixpath.splitext(sub)[0] + ".txt")
            label.parent.mkdir(parents=True, exist_ok=True)
            rows = [_row(a, item, manifest.task, dims) for a in item.annotations]
            label.write_text("".join(r + "\n" for r in rows), encoding="utf-8")
            result.images += 1
        splits = [s for s in SPLITS if s in splits_present] if all_split else []
        text = yaml.safe_dump(
            data_yaml(manifest, splits), sort_keys=False, allow_unicode=True, width=1 << 16
        )
        (out / "data.yaml").write_text(text, encoding="utf-8")
    result.path = Path(dest)
    return result
