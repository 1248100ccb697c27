"""Lensforge native: `annotations_<task>.json` + `images/<split>/<file_name>` (or
`images/<file_name>` for items without a split). See docs/dataset-formats.md."""

from __future__ import annotations

import json
import os
import posixpath
from pathlib import Path
from typing import Any

from lensforge.formats.model import DatasetManifest, Item, Task
from lensforge.formats.readers.native import FORMAT_TAG, VERSION, file_name_for
from lensforge.formats.writers._common import (
    ImageSource,
    WriteResult,
    place_image,
    staging,
    unique_names,
)


def native_document(manifest: DatasetManifest, names: dict[int, str]) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "format": FORMAT_TAG,
        "version": VERSION,
        "task": manifest.task.value,
        "classes": list(manifest.classes),
    }
    if manifest.task is Task.POSE:
        kp: dict[str, Any] = {"count": manifest.num_keypoints, "dims": manifest.keypoint_dims}
        if manifest.keypoint_names is not None:
            kp["names"] = list(manifest.keypoint_names)
        if manifest.skeleton is not None:
            kp["skeleton"] = [list(p) for p in manifest.skeleton]
        if manifest.flip_idx is not None:
            kp["flip_idx"] = list(manifest.flip_idx)
        doc["keypoints"] = kp
    doc["images"] = [
        _image(item, names[id(item)], manifest.task)
        for item in sorted(manifest.items, key=lambda i: (i.file_name, i.split or ""))
    ]
    return doc


def _image(item: Item, name: str, task: Task) -> dict[str, Any]:
    entry: dict[str, Any] = {"file_name": name}
    if item.split:
        entry["split"] = item.split
    entry |= {"width": item.width, "height": item.height}
    if item.sha256:
        entry["sha256"] = item.sha256
    if task is Task.CLASSIFICATION:
        entry["labels"] = list(item.labels)
        return entry
    anns = []
    for ann in item.annotations:
        obj: dict[str, Any] = {"class_id": ann.class_id, "bbox": list(ann.bbox)}
        if ann.polygons:
            obj["polygons"] = [list(p) for p in ann.polygons]
        if ann.keypoints:
            obj["keypoints"] = [list(k) for k in ann.keypoints]
        if ann.iscrowd:
            obj["iscrowd"] = True
        anns.append(obj)
    entry["annotations"] = anns
    return entry


def write_native(
    manifest: DatasetManifest, dest: str | os.PathLike[str], image_source: ImageSource
) -> WriteResult:
    names = unique_names(manifest.items, lambda i: i.split or "")
    with staging(dest) as out:
        result = WriteResult(path=out)
        for item in manifest.items:
            name = names[id(item)]
            if name != item.file_name:
                result.renamed[f"{item.split or ''}/{item.file_name}"] = name
            rel = posixpath.join(item.split, name) if item.split else name
            place_image(image_source, item, out / "images" / rel)
            result.images += 1
        path = out / file_name_for(manifest.task)
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(native_document(manifest, names), fh, ensure_ascii=False, indent=1)
    result.path = Path(dest)
    return result
