"""Reading an existing version: its items, images, thumbnails, stats, manifest and diffs.

Every lookup starts at `DatasetService.visible_version`, so a dataset the caller cannot see is
"not found" whichever route asks, and an item or image is only ever found through a version
the caller can see. Methods that take a `Dataset`, `DatasetItem` or `DatasetVersion` expect one
found that way; they exist so a route can answer `304 Not Modified` before opening anything.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pydantic import ValidationError
from sqlalchemy.orm import Session

from lensforge.auth.principal import Principal
from lensforge.datasets import thumbnails
from lensforge.datasets.browse_schemas import VersionDiffRead, VersionStats, VersionStatsRead
from lensforge.datasets.diff import diff_manifests
from lensforge.datasets.export import check_export, write_export, zip_directory
from lensforge.datasets.manifests import load_manifest
from lensforge.datasets.repository import BlobRepository, ItemRepository
from lensforge.datasets.service import DatasetService
from lensforge.datasets.stats import compute_stats
from lensforge.errors import NotFound
from lensforge.formats import Task
from lensforge.models import Dataset, DatasetItem, DatasetVersion, ImageBlob
from lensforge.storage.base import ObjectStore

# Pillow format names (as stored on ImageBlob) to the media type browsers expect.
_MEDIA_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",  # multi-picture JPEG: its first frame is a plain JPEG
    "PNG": "image/png",
    "BMP": "image/bmp",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
}
CHUNK_SIZE = 256 * 1024


@dataclass(frozen=True)
class StoredObject:
    """An open object to stream back; the route closes `stream` when the response ends."""

    stream: BinaryIO
    size: int
    media_type: str
    etag: str

    def chunks(self) -> Iterator[bytes]:
        with self.stream:
            while chunk := self.stream.read(CHUNK_SIZE):
                yield chunk


def image_etag(sha256: str) -> str:
    return f'"{sha256}"'


@dataclass(frozen=True)
class ExportArchive:
    path: Path
    filename: str
    work_dir: Path
    """Holds `path`; remove it once the download is over."""
    skipped: int
    """Items the format could not hold (e.g. unlabelled images in ImageFolder)."""


class BrowseService:
    def __init__(self, session: Session, store: ObjectStore) -> None:
        self.session = session
        self.store = store
        self.datasets = DatasetService(session)
        self.items = ItemRepository(session)
        self.blobs = BlobRepository(session)

    def version(
        self, principal: Principal, dataset_id: uuid.UUID, number: int
    ) -> tuple[Dataset, DatasetVersion]:
        return self.datasets.visible_version(principal, dataset_id, number)

    def page(
        self,
        principal: Principal,
        dataset_id: uuid.UUID,
        number: int,
        *,
        split: str | None,
        class_id: int | None,
        limit: int,
        offset: int,
    ) -> tuple[Sequence[DatasetItem], int]:
        _, version = self.version(principal, dataset_id, number)
        return self.items.page(
            version.id, split=split, class_id=class_id, limit=limit, offset=offset
        )

    def item(
        self, principal: Principal, dataset_id: uuid.UUID, number: int, item_id: uuid.UUID
    ) -> tuple[Dataset, DatasetItem]:
        dataset, version = self.version(principal, dataset_id, number)
        item = self.items.get(version.id, item_id)
        if item is None:
            raise NotFound("this version has no such item", code="item_not_found")
        return dataset, item

    def image(self, dataset: Dataset, item: DatasetItem) -> StoredObject:
        """The original image of an item found through `item` (which checked access)."""
        blob = self._blob(dataset, item)
        return StoredObject(
            stream=self.store.open(blob.object_key),
            size=blob.size_bytes,
            media_type=_MEDIA_TYPES.get(blob.format.upper(), "application/octet-stream"),
            etag=image_etag(blob.sha256),
        )

    def thumbnail(
        self, dataset: Dataset, item: DatasetItem, size: int, max_pixels: int
    ) -> thumbnails.Thumbnail:
        """The item's thumbnail (found through `item`, which checked access); images above
        `max_pixels` are refused from their recorded size, before anything is read."""
        blob = self._blob(dataset, item)
        thumbnails.check_renderable(blob.width, blob.height, max_pixels)
        return thumbnails.get_thumbnail(
            self.store, dataset.organization_id, blob.sha256, blob.object_key, size
        )

    def _blob(self, dataset: Dataset, item: DatasetItem) -> ImageBlob:
        blob = self.blobs.get(dataset.organization_id, item.image_sha256)
        if blob is None:
            raise NotFound("the image of this item is missing", code="image_not_found")
        return blob

    def manifest(self, version: DatasetVersion) -> StoredObject:
        """The canonical manifest of a version found through `version` (which checked access)."""
        info = self.store.head(version.manifest_key)
        return StoredObject(
            stream=self.store.open(version.manifest_key),
            size=info.size,
            media_type="application/json",
            etag=f'"{version.content_hash}"',
        )

    def stats(self, principal: Principal, dataset_id: uuid.UUID, number: int) -> VersionStatsRead:
        dataset, version = self.version(principal, dataset_id, number)
        try:
            stats = VersionStats.model_validate(version.stats)
        except ValidationError:
            # Stored by a release with another stats shape: recompute for this answer only;
            # a GET does not rewrite an immutable version.
            stats = VersionStats.model_validate(compute_stats(load_manifest(self.store, version)))
        return VersionStatsRead(
            dataset_id=dataset.id,
            version=version.number,
            warning_count=len(version.warnings or []),
            stats=stats,
        )

    def diff(
        self,
        principal: Principal,
        dataset_id: uuid.UUID,
        number: int,
        *,
        against: int,
        limit: int,
    ) -> VersionDiffRead:
        dataset, version = self.version(principal, dataset_id, number)
        _, base = self.version(principal, dataset_id, against)
        result = diff_manifests(
            load_manifest(self.store, base), load_manifest(self.store, version), limit=limit
        )
        return VersionDiffRead(
            dataset_id=dataset.id, from_version=base.number, to_version=version.number, diff=result
        )

    def export(
        self,
        principal: Principal,
        dataset_id: uuid.UUID,
        number: int,
        format: str,
        *,
        work_root: Path,
        checkpoint: Callable[[], None],
    ) -> ExportArchive:
        """The version zipped in `format`, in a fresh directory under `work_root` that the
        caller removes once the file is sent. `checkpoint` ends the read transaction before the
        long part (downloads, writing, zipping), which needs no database."""
        dataset, version = self.version(principal, dataset_id, number)
        check_export(format, Task(version.task))
        manifest = load_manifest(self.store, version)
        filename = f"{_file_safe(dataset.name)}-v{version.number}-{format}.zip"
        organization_id = dataset.organization_id
        checkpoint()
        work_dir = work_root / "exports" / uuid.uuid4().hex
        work_dir.mkdir(parents=True)
        try:
            written = write_export(
                self.store, organization_id, manifest, format, work_dir / "dataset"
            )
            path = work_dir / filename
            zip_directory(written.path, path)
        except BaseException:
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
        return ExportArchive(
            path=path, filename=filename, work_dir=work_dir, skipped=len(written.skipped)
        )


def _file_safe(name: str) -> str:
    """A dataset name usable in a download's file name (no separators, quotes or spaces)."""
    return re.sub(r"[^\w.-]+", "-", name).strip("-.") or "dataset"
