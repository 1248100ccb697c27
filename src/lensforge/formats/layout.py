"""Layout signals shared by detection and the readers (no reader imports here)."""

from __future__ import annotations

import posixpath

from lensforge.formats.files import FileIndex, is_split_name
from lensforge.formats.images import is_image_name

CLASS_FILES = ("classes.txt", "obj.names", "classes.names", "labels.txt")
"""Class-name lists of YOLO exports that have no data.yaml (Label Studio, CVAT YOLO 1.1)."""


def yolo_label_files(index: FileIndex) -> list[str]:
    """`.txt` files in a `labels/` folder, or beside images in a folder that holds images."""
    image_dirs = {posixpath.dirname(f) for f in index.files if is_image_name(f)}
    out = []
    for rel in index.with_suffix(".txt"):
        name = posixpath.basename(rel).lower()
        if name in CLASS_FILES or name.startswith("readme"):
            continue
        if "/labels/" in "/" + rel or posixpath.dirname(rel) in image_dirs:
            out.append(rel)
    return out


def looks_like_imagefolder(index: FileIndex) -> bool:
    """Class folders holding images, at the root or inside split folders."""
    top = index.children("")
    if any(d.lower() in ("images", "labels", "annotations", "jpegimages") for d in top):
        return False
    splits = [d for d in top if is_split_name(d)]
    parents = splits or [""]
    if any(index.exists(posixpath.join(p, "_classes.csv")) for p in parents):
        return True  # Roboflow multi-label classification
    for parent in parents:
        for cls in index.children(parent):
            folder = posixpath.join(parent, cls) if parent else cls
            if cls.lower() in ("images", "labels"):
                return False
            if any(is_image_name(f) for f in index.under(folder)):
                return True
    return False
