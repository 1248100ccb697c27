"""Tiny synthetic datasets on disk, laid out as `download_dataset` leaves them."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path
from typing import Any

from PIL import Image

from lensforge.sdk import LocalDataset


def halves(bright_left: bool, rng: random.Random, size: int = 24) -> Image.Image:
    """Class 0: left half bright; class 1: right half bright; noisy, so not trivially equal."""
    image = Image.new("L", (size, size))
    pixels = [
        max(0, min(255, (200 if (x < size // 2) == bright_left else 50) + rng.randint(-40, 40)))
        for y in range(size)
        for x in range(size)
    ]
    image.putdata(pixels)
    return image


def classification(root: Path, per_class: dict[str, int], seed: int = 0) -> LocalDataset:
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for split, count in per_class.items():
        for index in range(count):
            label = index % 2
            name = f"{label}/{index}.png"
            path = root / "images" / split / name
            path.parent.mkdir(parents=True, exist_ok=True)
            halves(label == 0, rng).convert("RGB").save(path)
            items.append(_item(path, name, split, labels=[label]))
    return _write(root, "classification", ["left", "right"], items)


def detection(root: Path, images: int = 6, seed: int = 0) -> LocalDataset:
    """Each 64x48 image holds a white square (class 0) and a dark square (class 1)."""
    rng = random.Random(seed)
    items: list[dict[str, Any]] = []
    for index in range(images):
        image = Image.new("L", (64, 48), 128)
        wx, wy, dx, dy = (
            rng.randint(0, 20),
            rng.randint(0, 30),
            rng.randint(34, 50),
            rng.randint(0, 30),
        )
        image.paste(255, (wx, wy, wx + 12, wy + 12))
        image.paste(0, (dx, dy, dx + 12, dy + 12))
        split = "val" if index % 3 == 0 else "train"
        path = root / "images" / split / f"{index}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.convert("RGB").save(path, quality=95)
        annotations = [
            {"class_id": 0, "bbox": [wx, wy, 12, 12]},
            {"class_id": 1, "bbox": [dx, dy, 12, 12]},
            {"class_id": 1, "bbox": [70, 70, 5, 5]},  # outside the image: no sample
        ]
        items.append(_item(path, f"{index}.jpg", split, annotations=annotations))
    return _write(root, "detection", ["white", "dark"], items)


def _item(path: Path, name: str, split: str, **labels: Any) -> dict[str, Any]:
    with Image.open(path) as image:
        width, height = image.size
    return {
        "file_name": name,
        "split": split,
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
        "width": width,
        "height": height,
        **labels,
    }


def _write(root: Path, task: str, classes: list[str], items: list[dict[str, Any]]) -> LocalDataset:
    manifest = {"task": task, "classes": classes, "items": items}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return LocalDataset.open(root)
