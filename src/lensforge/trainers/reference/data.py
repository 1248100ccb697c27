"""Samples from a dataset's pixels: one per classification image, one per labelled object (its
box crop) for detection, segmentation and pose; grey, resized to imgsz x imgsz, scaled to 0..1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from lensforge.sdk import DatasetError, LocalDataset

Vector = list[float]


@dataclass(frozen=True)
class Samples:
    x: list[Vector]
    y: list[int]

    def __len__(self) -> int:
        return len(self.y)


def load_split(dataset: LocalDataset, split: str, imgsz: int) -> Samples:
    xs: list[Vector] = []
    ys: list[int] = []
    classification = dataset.task == "classification"
    for item in dataset.items(split):
        path = dataset.image_path(item)
        targets = _targets(item, classification)
        if not targets:
            continue
        try:
            with Image.open(path) as raw:
                grey = ImageOps.exif_transpose(raw).convert("L")
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(
                f"{split}/{item['file_name']}: cannot read the image: {exc}"
            ) from exc
        for class_id, box in targets:
            vector = pixels(grey, box, imgsz)
            if vector is not None:
                xs.append(vector)
                ys.append(class_id)
    return Samples(xs, ys)


def pixels(grey: Image.Image, box: Sequence[float] | None, imgsz: int) -> Vector | None:
    """The `box` ([x, y, w, h] in pixels; the whole image when None) as imgsz² values in 0..1;
    None when the box holds no whole pixel."""
    if box is not None:
        x, y, w, h = (float(v) for v in box)
        left, top = max(0, math.floor(x)), max(0, math.floor(y))
        right, bottom = min(grey.width, math.ceil(x + w)), min(grey.height, math.ceil(y + h))
        if right <= left or bottom <= top:
            return None
        grey = grey.crop((left, top, right, bottom))
    small = grey.resize((imgsz, imgsz), Image.Resampling.BILINEAR)
    return [value / 255.0 for value in small.tobytes()]


def image_vector(path: Path, imgsz: int) -> Vector:
    with Image.open(path) as raw:
        grey = ImageOps.exif_transpose(raw).convert("L")
    vector = pixels(grey, None, imgsz)
    assert vector is not None  # a whole image always has pixels
    return vector


def _targets(
    item: dict[str, Any], classification: bool
) -> list[tuple[int, Sequence[float] | None]]:
    if classification:
        labels = sorted(int(label) for label in item.get("labels") or [])
        return [(labels[0], None)] if labels else []
    return [(int(a["class_id"]), a["bbox"]) for a in item.get("annotations") or []]
