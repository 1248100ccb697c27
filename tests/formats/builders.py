"""Small real datasets written by the tests: real JPEG/PNG files made with Pillow, and the
annotation files real tools write (layouts from /work/shared/FORMAT_VARIANTS.md)."""

from __future__ import annotations

import io
import json
import struct
import zlib
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

W, H = 32, 24


def image(path: Path, size: tuple[int, int] = (W, H), fmt: str | None = None, **save: Any) -> Path:
    """A real image with some structure (so JPEG truncation is detectable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.new("RGB", size)
    px = im.load()
    assert px is not None
    for x in range(size[0]):
        for y in range(size[1]):
            px[x, y] = ((x * 8) % 256, (y * 10) % 256, ((x + y) * 5) % 256)
    im.save(path, format=fmt, **save)
    return path


def jpeg_bytes(size: tuple[int, int] = (W, H)) -> bytes:
    buf = io.BytesIO()
    im = Image.new("RGB", size, (120, 30, 200))
    im.save(buf, format="JPEG")
    return buf.getvalue()


def text(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def write_json(path: Path, data: Any) -> Path:
    return text(path, json.dumps(data, indent=1))


def write_yaml(path: Path, data: Any) -> Path:
    return text(path, yaml.safe_dump(data, sort_keys=False))


# --- YOLO -------------------------------------------------------------------------------------


def yolo_ultralytics(root: Path) -> Path:
    """Ultralytics layout: images/{train,val} + labels/{train,val}, names as a dict."""
    write_yaml(
        root / "data.yaml",
        {"path": "/home/someone/datasets/pets", "train": "images/train", "val": "images/val",
         "names": {0: "cat", 1: "dog"}},
    )  # fmt: skip
    image(root / "images/train/a.jpg")
    text(root / "labels/train/a.txt", "0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.25 0.25\n")
    image(root / "images/train/b.png")
    text(root / "labels/train/b.txt", "")
    image(root / "images/val/c.jpg")
    text(root / "labels/val/c.txt", "1 0.5 0.5 1 1\n")
    return root


def yolo_roboflow(root: Path) -> Path:
    """Roboflow YOLOv8 export: <split>/images + <split>/labels, `../train/images`, extra keys."""
    write_yaml(
        root / "data.yaml",
        {"train": "../train/images", "val": "../valid/images", "test": "../test/images",
         "nc": 2, "names": ["peix", "taca"],
         "roboflow": {"workspace": "w", "project": "p", "version": 9, "license": "CC BY 4.0"}},
    )  # fmt: skip
    text(root / "README.roboflow.txt", "exported from roboflow\n")
    image(root / "train/images/a_jpg.rf.0123456789abcdef0123456789abcdef.jpg")
    text(root / "train/labels/a_jpg.rf.0123456789abcdef0123456789abcdef.txt", "1 0.5 0.5 0.2 0.2\n")
    image(root / "valid/images/b_jpg.rf.fedcba9876543210fedcba9876543210.jpg")
    text(root / "valid/labels/b_jpg.rf.fedcba9876543210fedcba9876543210.txt", "0 0.4 0.4 0.2 0.2\n")
    image(root / "test/images/c.jpg")
    text(root / "test/labels/c.txt", "0 0.5 0.5 0.5 0.5\n")
    return root


# --- COCO -------------------------------------------------------------------------------------


def coco_cvat(root: Path) -> Path:
    """CVAT COCO 1.0: annotations/instances_default.json + images/default/, ids from 1,
    `attributes`, a box and an uncompressed-RLE crowd mask."""
    image(root / "images/default/frame_000000.PNG", fmt="PNG")
    image(root / "images/default/frame_000001.PNG", fmt="PNG")
    # 4x3 block at x=2..5, y=3..5 in a 24x32 (h x w) mask, column-major runs
    counts: list[int] = []
    pos = 0
    for x in range(2, 6):
        start = x * H + 3
        counts += [start - pos, 3]
        pos = start + 3
    counts.append(W * H - pos)
    write_json(
        root / "annotations/instances_default.json",
        {
            "licenses": [{"name": "", "id": 0, "url": ""}],
            "info": {"contributor": "", "date_created": "", "description": "", "version": ""},
            "categories": [
                {"id": 1, "name": "car", "supercategory": ""},
                {"id": 2, "name": "person", "supercategory": ""},
            ],
            "images": [
                {"id": 1, "width": W, "height": H, "file_name": "frame_000000.PNG", "license": 0,
                 "flickr_url": "", "coco_url": "", "date_captured": 0},
                {"id": 2, "width": W, "height": H, "file_name": "frame_000001.PNG", "license": 0,
                 "flickr_url": "", "coco_url": "", "date_captured": 0},
            ],
            "annotations": [
                {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [], "area": 50.0,
                 "bbox": [1.5, 2.0, 10.0, 5.0], "iscrowd": 0,
                 "attributes": {"occluded": False, "rotation": 0.0}},
                {"id": 2, "image_id": 2, "category_id": 2,
                 "segmentation": {"counts": counts, "size": [H, W]}, "area": 12.0,
                 "bbox": [2.0, 3.0, 4.0, 3.0], "iscrowd": 1,
                 "attributes": {"occluded": False}},
            ],
        },
    )  # fmt: skip
    return root


def coco_roboflow(root: Path) -> Path:
    """Roboflow COCO: <split>/_annotations.coco.json beside the images, synthetic parent
    category 0 named after the project, ids from 0, `valid` split."""
    cats = [
        {"id": 0, "name": "peixos", "supercategory": "none"},
        {"id": 1, "name": "peix", "supercategory": "peixos"},
        {"id": 2, "name": "taca", "supercategory": "peixos"},
    ]
    for split, stem, cat in (("train", "a", 1), ("valid", "b", 2), ("test", "c", 1)):
        name = f"{stem}_jpg.rf.79a2aaaabbbbccccddddeeeeffff0000.jpg"
        image(root / split / name)
        write_json(
            root / split / "_annotations.coco.json",
            {
                "info": {"year": "2024", "version": "9"},
                "licenses": [{"id": 1, "url": "https://creativecommons.org/licenses/by/4.0/"}],
                "categories": cats,
                "images": [{"id": 0, "license": 1, "file_name": name, "height": H, "width": W,
                            "date_captured": "2024-01-01T00:00:00+00:00",
                            "extra": {"user_tags": ["x"]}}],
                "annotations": [{"id": 0, "image_id": 0, "category_id": cat,
                                 "bbox": [4, 5, 10, 8.5], "area": 85, "segmentation": [],
                                 "iscrowd": 0}],
            },
        )  # fmt: skip
    text(root / "README.dataset.txt", "x\n")
    return root


def coco_label_studio(root: Path) -> Path:
    """Label Studio COCO: result.json + images/<8hex>-<name>, ids from 0 (categories too),
    `images/` prefix in file_name, a Windows path, a null size, no licenses/supercategory."""
    image(root / "images/1a2b3c4d-cat.jpg")
    image(root / "images/5e6f7a8b-dog.jpg")
    write_json(
        root / "result.json",
        {
            "images": [
                {"width": W, "height": H, "id": 0, "file_name": "images/1a2b3c4d-cat.jpg"},
                {"width": None, "height": None, "id": 1,
                 "file_name": "..\\..\\label-studio\\media\\upload\\4\\5e6f7a8b-dog.jpg"},
            ],
            "categories": [{"id": 0, "name": "cat"}, {"id": 1, "name": "dog"}],
            "annotations": [
                {"id": 0, "image_id": 0, "category_id": 0, "segmentation": [],
                 "bbox": [12, 3.5, 10, 8], "ignore": 0, "iscrowd": 0, "area": 80},
                {"id": 1, "image_id": 1, "category_id": 1, "segmentation": [],
                 "bbox": [0, 0, 32, 24], "ignore": 0, "iscrowd": 0, "area": 768},
            ],
            "info": {"contributor": "Label Studio", "version": "1.0"},
        },
    )  # fmt: skip
    return root


def voc_xml(
    filename: str,
    objects: list[tuple[str, float, float, float, float]],
    size: tuple[int, int] | None = (W, H),
    extra: str = "",
) -> str:
    objs = "".join(
        f"<object><name>{n}</name><pose>Unspecified</pose><truncated>0</truncated>"
        f"<difficult>0</difficult><bndbox><xmin>{a}</xmin><ymin>{b}</ymin><xmax>{c}</xmax>"
        f"<ymax>{d}</ymax></bndbox></object>"
        for n, a, b, c, d in objects
    )
    size_xml = f"<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>"
    return (
        f"<annotation><folder>images</folder><filename>{filename}</filename>"
        f"<path>C:\\Users\\me\\{filename}</path>{size_xml if size else ''}{extra}{objs}</annotation>"
    )


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares `width` x `height` but whose pixel data is a few bytes: what
    a reader that trusts the header sees as huge, and one that decodes sees as truncated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (1 + 3 * min(width, 4096)), 9)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")
    )


def jpeg_without_end_marker(path: Path, size: tuple[int, int] = (W, H)) -> Path:
    """A complete JPEG but for its final end-of-image marker (FF D9), as some cameras write."""
    image(path, size)
    data = path.read_bytes()
    assert data.endswith(b"\xff\xd9")
    path.write_bytes(data[:-2])
    return path
