"""Samples from a dataset's pixels: one per classification image, one per labelled object (its
box crop) for detection, segmentation and pose; grey, resized to imgsz x imgsz, scaled to 0..1.

For detection, segmentation and pose each object also gets a background crop of the same image
(the same size, where it overlaps no object, at a position seeded by the file name), labelled
with an extra class: without it a one-class dataset has nothing to learn, and its loss and
accuracy are 0 and 1 by construction. With it they measure something real: how well object
crops are told from background crops, and classes from each other.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

from lensforge.sdk import DatasetError, LocalDataset

Vector = list[float]
Box = Sequence[float]
BACKGROUND = "(background)"
_MAX_OVERLAP = 0.1
_PLACEMENT_TRIES = 20


@dataclass(frozen=True)
class Samples:
    x: list[Vector]
    y: list[int]
    images: int = 0
    """Images that gave samples."""
    objects: int = 0
    """Labelled objects among the samples (0 for classification: one sample per image)."""
    background: int = 0
    """Background crops among the samples."""

    def __len__(self) -> int:
        return len(self.y)

    def describe(self) -> str:
        if not self.objects:
            return f"{self.images} images"
        return f"{self.images} images: {self.objects} objects + {self.background} background crops"


def load_split(
    dataset: LocalDataset, split: str, imgsz: int, *, background_class: int | None = None
) -> Samples:
    """The split's samples; with `background_class`, detection-like items also give one
    background crop per object, labelled with that class."""
    xs: list[Vector] = []
    ys: list[int] = []
    images = objects = background = 0
    classification = dataset.task == "classification"
    for item in dataset.items(split):
        path = dataset.image_path(item)
        targets = _targets(item, classification)
        if not targets:
            continue
        images += 1
        try:
            with Image.open(path) as raw:
                grey = ImageOps.exif_transpose(raw).convert("L")
        except (OSError, UnidentifiedImageError) as exc:
            raise DatasetError(
                f"{split}/{item['file_name']}: cannot read the image: {exc}"
            ) from exc
        kept: list[Box] = []
        for class_id, box in targets:
            vector = pixels(grey, box, imgsz)
            if vector is not None:
                xs.append(vector)
                ys.append(class_id)
                if box is not None:
                    kept.append(box)
        objects += len(kept)
        if background_class is None:
            continue
        boxes = [box for _, box in targets if box is not None]
        rng = random.Random(str(item["file_name"]))  # noqa: S311 (placement, not secrets)
        for box in kept:
            spot = background_box(box, boxes, grey.width, grey.height, rng)
            vector = None if spot is None else pixels(grey, spot, imgsz)
            if vector is not None:
                xs.append(vector)
                ys.append(background_class)
                background += 1
    return Samples(xs, ys, images=images, objects=objects, background=background)


def background_box(
    like: Box, objects: Sequence[Box], width: int, height: int, rng: random.Random
) -> list[float] | None:
    """A box of `like`'s size (halved when it does not fit between the objects) that overlaps
    no object by more than a tenth (IoU), or None."""
    w, h = min(float(like[2]), width), min(float(like[3]), height)
    for attempt in range(_PLACEMENT_TRIES):
        if attempt == _PLACEMENT_TRIES // 2:
            w, h = w / 2, h / 2
        if w < 1 or h < 1:
            return None
        candidate = [rng.uniform(0, width - w), rng.uniform(0, height - h), w, h]
        if all(iou(candidate, other) <= _MAX_OVERLAP for other in objects):
            return candidate
    return None


def iou(a: Box, b: Box) -> float:
    ax, ay, aw, ah = (float(v) for v in a)
    bx, by, bw, bh = (float(v) for v in b)
    inter_w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


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


def _targets(item: dict[str, Any], classification: bool) -> list[tuple[int, Box | None]]:
    if classification:
        labels = sorted(int(label) for label in item.get("labels") or [])
        return [(labels[0], None)] if labels else []
    return [(int(a["class_id"]), a["bbox"]) for a in item.get("annotations") or []]
