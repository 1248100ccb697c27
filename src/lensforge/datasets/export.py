"""Exporting a version: the formats layer writes it to disk, then it is zipped for download.

Images are fetched from object storage once each (by hash: an image shared by several items is
downloaded once), streamed straight to files in the work directory, so no image is ever held
whole in memory. The writer takes them through its `image_source` callable and hard-links them
(same filesystem), so the export costs one copy of the images plus the zip.
"""

from __future__ import annotations

import shutil
import uuid
import zipfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lensforge.datasets import keys
from lensforge.errors import ValidationFailed
from lensforge.formats import (
    SUPPORTED_EXTENSIONS,
    TASKS_OF,
    DatasetManifest,
    DatasetWriteError,
    Item,
    Task,
    WriteResult,
    write_dataset,
)
from lensforge.formats.writers import WRITERS
from lensforge.storage.base import ObjectStore

EXPORT_FORMATS: tuple[str, ...] = tuple(WRITERS)
# Parallel downloads hide object-store latency (S3: tens of ms per GET); local disks don't mind.
_DOWNLOAD_THREADS = 8
_COPY_CHUNK = 1024 * 1024
# Images are already compressed: deflating them costs CPU and saves nothing.
_STORED_SUFFIXES = SUPPORTED_EXTENSIONS


class UnsupportedExport(ValidationFailed):
    code = "unsupported_export"


def formats_for(task: Task) -> list[str]:
    """The export formats that can hold a `task` dataset."""
    return [name for name in EXPORT_FORMATS if task in TASKS_OF[name]]


def check_export(format: str, task: Task) -> None:
    """Refuse, before any work, a format that cannot hold the task (or that does not exist)."""
    if format not in EXPORT_FORMATS or task not in TASKS_OF[format]:
        raise _unsupported(f"a {task.value} version cannot be exported as {format!r}", format, task)


def _unsupported(reason: str, format: str, task: Task) -> UnsupportedExport:
    usable = formats_for(task)
    return UnsupportedExport(
        f"{reason}; use one of: {', '.join(usable)}",
        details={"format": format, "task": task.value, "formats": usable},
    )


def export_version(
    store: ObjectStore,
    organization_id: uuid.UUID,
    manifest: DatasetManifest,
    format: str,
    dest_dir: Path,
) -> Path:
    """Write `manifest` in `format` under `dest_dir` and return the zip of it (also there).

    `dest_dir` is the caller's scratch directory; the caller removes it when done with the zip.
    """
    write_export(store, organization_id, manifest, format, dest_dir / "dataset")
    archive = dest_dir / "export.zip"
    zip_directory(dest_dir / "dataset", archive)
    return archive


def write_export(
    store: ObjectStore,
    organization_id: uuid.UUID,
    manifest: DatasetManifest,
    format: str,
    dest: Path,
) -> WriteResult:
    """The dataset written in `format` to `dest` (a new folder), images fetched from storage.
    The result names items the format could not hold (e.g. unlabelled images in ImageFolder)."""
    check_export(format, manifest.task)
    cache = _ImageCache(store, organization_id, dest.parent / f".{dest.name}-images")
    try:
        cache.fetch_all(manifest.items)
        return write_dataset(manifest, format, dest, cache.path_of)
    except DatasetWriteError as exc:
        # A limit of the format for this data (multi-label ImageFolder, ...): the user's choice
        # of format is what has to change, as for an unsupported task.
        raise _unsupported(exc.message, format, manifest.task) from exc
    finally:
        # The writer hard-linked or copied what it needed: the downloads can go now.
        shutil.rmtree(cache.root, ignore_errors=True)


def zip_directory(source: Path, archive: Path) -> None:
    """Zip every file under `source` (paths relative to it), images stored, text deflated."""
    with zipfile.ZipFile(archive, "w", allowZip64=True) as zf:
        for path in sorted(source.rglob("*")):
            if not path.is_file():
                continue
            stored = path.suffix.lower() in _STORED_SUFFIXES
            zf.write(
                path,
                path.relative_to(source).as_posix(),
                compress_type=zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED,
            )


class _ImageCache:
    """One local file per image hash, downloaded before the writer asks for it."""

    def __init__(self, store: ObjectStore, organization_id: uuid.UUID, root: Path) -> None:
        self.store = store
        self.organization_id = organization_id
        self.root = root

    def path_of(self, item: Item) -> Path:
        if item.sha256 is None:
            raise ValueError(f"{item.file_name} has no image hash; only stored versions export")
        return self.root / item.sha256[:2] / item.sha256

    def fetch_all(self, items: Iterable[Item]) -> None:
        unique = {item.sha256: item for item in items if item.sha256 is not None}
        with ThreadPoolExecutor(_DOWNLOAD_THREADS) as pool:
            # list(): re-raises the first download error here.
            list(pool.map(self._fetch, unique.values()))

    def _fetch(self, item: Item) -> None:
        assert item.sha256 is not None
        target = self.path_of(item)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part")
        key = keys.image_key(self.organization_id, item.sha256)
        with self.store.open(key) as source, partial.open("wb") as out:
            shutil.copyfileobj(source, out, _COPY_CHUNK)
        partial.replace(target)
