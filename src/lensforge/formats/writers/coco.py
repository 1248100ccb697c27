"""COCO: `annotations/instances_<split>.json` and `images/<split>/<file_name>` per split
(`default` for items without one, as CVAT names it). Category ids are 1..n in class order;
image and annotation ids count from 1 in each file. Segmentation is written as polygons, pose
as `keypoints` triplets with `num_keypoints`, and the category's `keypoints` (names; "1".."k"
when the dataset has none) and 1-based `skeleton`. `flip_idx` is kept on the categories (an
extension pycocotools ignores). Classification cannot be expressed in COCO."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lensforge.formats.errors import DatasetWriteError
from lensforge.formats.geometry import polygon_area
from lensforge.formats.model import DatasetManifest, Item, Task
from lensforge.formats.writers._common import (
    ImageSource,
    WriteResult,
    place_image,
    staging,
    unique_names,
)

UNSPLIT_SUBSET = "default"


def categories(manifest: DatasetManifest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i, name in enumerate(manifest.classes):
        cat: dict[str, Any] = {"id": i + 1, "name": name, "supercategory": ""}
        if manifest.task is Task.POSE:
            k = manifest.keypoint_count
            cat["keypoints"] = list(manifest.keypoint_names or [str(j + 1) for j in range(k)])
            cat["skeleton"] = [[a + 1, b + 1] for a, b in manifest.skeleton or []]
            if manifest.flip_idx is not None:
                cat["flip_idx"] = list(manifest.flip_idx)
        out.append(cat)
    return out


def _annotations(item: Item, image_id: int, first_id: int, task: Task) -> list[dict[str, Any]]:
    out = []
    for n, ann in enumerate(item.annotations):
        x, y, w, h = ann.bbox
        area = sum(polygon_area(p) for p in ann.polygons) if ann.polygons else w * h
        entry: dict[str, Any] = {
            "id": first_id + n,
            "image_id": image_id,
            "category_id": ann.class_id + 1,
            "bbox": [x, y, w, h],
            "area": round(area, 4),
            "iscrowd": int(ann.iscrowd),
            "segmentation": [list(p) for p in ann.polygons],
        }
        if task is Task.POSE:
            entry["keypoints"] = [v for kp in ann.keypoints for v in kp]
            entry["num_keypoints"] = sum(1 for kp in ann.keypoints if kp[2] > 0)
        out.append(entry)
    return out


def write_coco(
    manifest: DatasetManifest, dest: str | os.PathLike[str], image_source: ImageSource
) -> WriteResult:
    if manifest.task is Task.CLASSIFICATION:
        raise DatasetWriteError("COCO cannot hold classification datasets; use imagefolder")
    names = unique_names(manifest.items, lambda i: i.split or UNSPLIT_SUBSET)
    subsets: dict[str, list[Item]] = {}
    for item in sorted(manifest.items, key=lambda i: (i.file_name, i.split or "")):
        subsets.setdefault(item.split or UNSPLIT_SUBSET, []).append(item)
    cats = categories(manifest)
    with staging(dest) as out:
        result = WriteResult(path=out)
        (out / "annotations").mkdir()
        for subset, items in sorted(subsets.items()):
            images: list[dict[str, Any]] = []
            anns: list[dict[str, Any]] = []
            for image_id, item in enumerate(items, start=1):
                name = names[id(item)]
                if name != item.file_name:
                    result.renamed[f"{item.split or ''}/{item.file_name}"] = name
                place_image(image_source, item, out / "images" / subset / name)
                images.append(
                    {"id": image_id, "file_name": name, "width": item.width, "height": item.height}
                )
                anns += _annotations(item, image_id, len(anns) + 1, manifest.task)
                result.images += 1
            doc = {
                "info": {"description": "exported by Lensforge"},
                "licenses": [],
                "categories": cats,
                "images": images,
                "annotations": anns,
            }
            path = out / "annotations" / f"instances_{subset}.json"
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, ensure_ascii=False, separators=(",", ":"))
    result.path = Path(dest)
    return result
