"""Storing a dataset's images content-addressed: each distinct image once per organization.

Puts run on a few threads: storage round trips (an S3 PUT, a local fsync) wait on I/O, not CPU,
so overlapping them is what makes large imports fast.
"""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image

from lensforge.datasets import keys
from lensforge.formats import Item, describe_image
from lensforge.formats.images import END_OF_IMAGE
from lensforge.kit.types import utcnow
from lensforge.storage.base import ObjectStore

_PUT_WORKERS = 8


@dataclass(frozen=True)
class _Pending:
    sha256: str
    path: Path
    size: int
    width: int
    height: int
    format: str
    add_end_marker: bool = False
    """A JPEG the reader kept by appending its missing end-of-image marker (its hash covers
    the marker): stored with the marker, so every later decoder reads a valid file."""

    def open(self) -> BinaryIO:
        if not self.add_end_marker:
            return self.path.open("rb")
        return io.BytesIO(self.path.read_bytes() + END_OF_IMAGE)  # rare, and one image


def _needs_end_marker(path: Path, fmt: str, sha256: str) -> bool:
    """Whether the reader's hash is that of the file plus the end-of-image marker. Only JPEGs
    that do not end with the marker are hashed again (a few, if any)."""
    if fmt not in ("JPEG", "MPO"):
        return False
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - len(END_OF_IMAGE)))
        if fh.read() == END_OF_IMAGE:
            return False
        fh.seek(0)
        return hashlib.file_digest(fh, "sha256").hexdigest() != sha256


def hash_items(data_dir: Path, items: list[Item]) -> tuple[list[Item], dict[str, _Pending]]:
    """Items with their image's SHA-256 (computed if the reader did not) and, per distinct hash,
    what storing it needs."""
    hashed: list[Item] = []
    by_hash: dict[str, _Pending] = {}
    for item in items:
        path = data_dir / (item.source_path or item.file_name)
        if item.sha256 is None:
            info = describe_image(path)
            sha, fmt = info.sha256, info.format
        else:
            sha = item.sha256
            with Image.open(path) as image:  # header only: the reader already decoded it
                fmt = image.format or "JPEG"
        if sha not in by_hash:
            marker = _needs_end_marker(path, fmt, sha)
            size = path.stat().st_size + (len(END_OF_IMAGE) if marker else 0)
            by_hash[sha] = _Pending(sha, path, size, item.width, item.height, fmt, marker)
        hashed.append(item.model_copy(update={"sha256": sha, "source_path": None}))
    return hashed, by_hash


def store_new_images(
    store: ObjectStore,
    organization_id: uuid.UUID,
    pending: list[_Pending],
    on_progress: Callable[[int], None],
) -> list[dict[str, Any]]:
    """Put each image; returns the `image_blobs` rows to insert."""

    def put(image: _Pending) -> dict[str, Any]:
        key = keys.image_key(organization_id, image.sha256)
        with image.open() as stream:
            store.put(key, stream, size=image.size, content_type=f"image/{image.format.lower()}")
        return {
            "organization_id": organization_id,
            "sha256": image.sha256,
            "size_bytes": image.size,
            "width": image.width,
            "height": image.height,
            "format": image.format,
            "object_key": key,
            "created_at": utcnow(),
        }

    rows: list[dict[str, Any]] = []
    with ThreadPoolExecutor(max_workers=_PUT_WORKERS, thread_name_prefix="lf-put") as pool:
        for row in pool.map(put, pending):
            rows.append(row)
            on_progress(len(rows))
    return rows
