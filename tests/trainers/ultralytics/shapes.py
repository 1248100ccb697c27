"""Small generated datasets for the Ultralytics tests: bright shapes on dark noise, drawn with
Pillow, with exact labels (polygons for segmentation, class folders for classification)."""

from __future__ import annotations

import math
import random
from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 64
CLASSES = ("square", "triangle")


def _canvas(rng: random.Random) -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE))
    image.putdata(
        [(rng.randrange(40), rng.randrange(40), rng.randrange(40)) for _ in range(SIZE * SIZE)]
    )
    return image


def _outline(kind: int, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if kind == 0:
        return [(cx - r, cy - r), (cx + r, cy - r), (cx + r, cy + r), (cx - r, cy + r)]
    return [
        (cx + r * math.cos(a), cy + r * math.sin(a))
        for a in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6)
    ]


def segmentation_dataset(folder: Path, count: int = 24, seed: int = 1) -> Path:
    """YOLO segmentation: `images/<split>/`, `labels/<split>/` with polygon rows, data.yaml."""
    rng = random.Random(seed)
    for index in range(count):
        split = "val" if index % 4 == 0 else "train"
        image = _canvas(rng)
        draw = ImageDraw.Draw(image)
        rows = []
        for _ in range(rng.randint(1, 2)):
            kind = rng.randrange(2)
            r = rng.uniform(8, 14)
            cx, cy = rng.uniform(r, SIZE - r), rng.uniform(r, SIZE - r)
            points = _outline(kind, cx, cy, r)
            draw.polygon(points, fill=(230, 200 if kind else 60, 40))
            coords = " ".join(f"{x / SIZE:.5f} {y / SIZE:.5f}" for x, y in points)
            rows.append(f"{kind} {coords}")
        (folder / "images" / split).mkdir(parents=True, exist_ok=True)
        (folder / "labels" / split).mkdir(parents=True, exist_ok=True)
        image.save(folder / "images" / split / f"s{index}.png")
        (folder / "labels" / split / f"s{index}.txt").write_text("\n".join(rows) + "\n")
    (folder / "data.yaml").write_text(
        "train: images/train\nval: images/val\nnames:\n  0: square\n  1: triangle\n"
    )
    return folder


def classification_dataset(folder: Path, count: int = 24, seed: int = 2) -> Path:
    """ImageFolder: `<split>/<class>/<image>`; class names deliberately not in sorted order
    of their ids would be caught by the layout's mapping (here: `triangle`, `square`)."""
    rng = random.Random(seed)
    for index in range(count):
        split = "val" if index % 4 == 0 else "train"
        kind = index % 2
        image = _canvas(rng)
        r = rng.uniform(12, 20)
        cx, cy = rng.uniform(r, SIZE - r), rng.uniform(r, SIZE - r)
        ImageDraw.Draw(image).polygon(_outline(kind, cx, cy, r), fill=(230, 220, 90))
        target = folder / split / CLASSES[kind]
        target.mkdir(parents=True, exist_ok=True)
        image.save(target / f"c{index}.png")
    return folder
