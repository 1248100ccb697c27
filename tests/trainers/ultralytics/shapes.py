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


def pose_dataset(folder: Path, count: int = 24, seed: int = 3) -> Path:
    """YOLO pose: one triangle per image, its three corners the keypoints (all visible)."""
    rng = random.Random(seed)
    for index in range(count):
        split = "val" if index % 4 == 0 else "train"
        image = _canvas(rng)
        r = rng.uniform(10, 16)
        cx, cy = rng.uniform(r, SIZE - r), rng.uniform(r, SIZE - r)
        points = _outline(1, cx, cy, r)
        ImageDraw.Draw(image).polygon(points, fill=(90, 230, 120))
        xs, ys = [x for x, _ in points], [y for _, y in points]
        box = (
            (min(xs) + max(xs)) / 2,
            (min(ys) + max(ys)) / 2,
            max(xs) - min(xs),
            max(ys) - min(ys),
        )
        values = [v / SIZE for v in box]
        for x, y in points:
            values += [x / SIZE, y / SIZE, 2]
        (folder / "images" / split).mkdir(parents=True, exist_ok=True)
        (folder / "labels" / split).mkdir(parents=True, exist_ok=True)
        image.save(folder / "images" / split / f"p{index}.png")
        row = " ".join(str(v) if isinstance(v, int) else f"{v:.5f}" for v in values)
        (folder / "labels" / split / f"p{index}.txt").write_text(f"0 {row}\n")
    (folder / "data.yaml").write_text(
        "train: images/train\nval: images/val\nkpt_shape: [3, 3]\nflip_idx: [0, 2, 1]\n"
        "names:\n  0: marker\n"
    )
    return folder
