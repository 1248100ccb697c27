"""`client.datasets`: datasets, their imports (asynchronous, with validation reports) and their
immutable versions (splits, stats, diffs, items, manifests and exports)."""

from __future__ import annotations

import builtins
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from lensforge.client._download import stream_to_file
from lensforge.client._http import HttpSession
from lensforge.client._polling import poll_until
from lensforge.client.dataset_models import (
    Dataset,
    DatasetImport,
    DatasetItem,
    DatasetVersion,
    ExportDownload,
    ImportSource,
    SplitConfig,
    UploadSource,
    VersionDiff,
    VersionStats,
)
from lensforge.client.errors import LensforgeError
from lensforge.client.models import Page
from lensforge.client.resources import Resource, iterate_pages, path_id
from lensforge.client.resources.uploads import ProgressCallback, Uploads

ImportProgress = Callable[[DatasetImport], None]
DownloadProgress = Callable[[int, int | None], None]
ImportMode = Literal["replace", "merge"]

# Building an export zip of a large version takes minutes before the first byte is sent.
EXPORT_TIMEOUT_SECONDS = 3600.0


class Datasets(Resource):
    def __init__(self, session: HttpSession, uploads: Uploads) -> None:
        super().__init__(session)
        self._uploads = uploads

    # --- datasets ----------------------------------------------------------------------------

    def create(
        self, project_id: uuid.UUID | str, name: str, task: str, *, description: str = ""
    ) -> Dataset:
        """An empty dataset for `task` (detection, segmentation, classification or pose);
        its versions come from imports."""
        body = {
            "project_id": path_id(project_id),
            "name": name,
            "task": task,
            "description": description,
        }
        return self._session.call(Dataset, "POST", "/datasets", json=body)

    def list(
        self, *, project_id: uuid.UUID | str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[Dataset]:
        """One page of the datasets you can see (of one project, with `project_id`)."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if project_id is not None:
            params["project_id"] = path_id(project_id)
        return self._session.call(Page[Dataset], "GET", "/datasets", params=params)

    def iter(
        self, *, project_id: uuid.UUID | str | None = None, page_size: int = 100
    ) -> Iterator[Dataset]:
        """Every dataset you can see (of one project, with `project_id`), page by page."""
        return iterate_pages(
            lambda offset: self.list(project_id=project_id, limit=page_size, offset=offset)
        )

    def get(self, dataset_id: uuid.UUID | str) -> Dataset:
        return self._session.call(Dataset, "GET", f"/datasets/{path_id(dataset_id)}")

    def update(
        self,
        dataset_id: uuid.UUID | str,
        *,
        name: str | None = None,
        description: str | None = None,
    ) -> Dataset:
        """Change the given fields; those left as None stay as they are."""
        changes = {"name": name, "description": description}
        body = {key: value for key, value in changes.items() if value is not None}
        return self._session.call(Dataset, "PATCH", f"/datasets/{path_id(dataset_id)}", json=body)

    def delete(self, dataset_id: uuid.UUID | str) -> None:
        self._session.send("DELETE", f"/datasets/{path_id(dataset_id)}")

    def set_sharing(self, dataset_id: uuid.UUID | str, shared: bool) -> Dataset:
        """Share the dataset read-only with every member of the organization (or stop)."""
        return self._session.call(
            Dataset,
            "PUT",
            f"/datasets/{path_id(dataset_id)}/sharing",
            json={"shared_with_organization": shared},
        )

    # --- imports -----------------------------------------------------------------------------

    def start_import(
        self,
        dataset_id: uuid.UUID | str,
        source: ImportSource,
        *,
        format: str | None = None,
        mode: ImportMode = "replace",
        split: SplitConfig | None = None,
        message: str = "",
        skip_invalid_images: bool = False,
    ) -> DatasetImport:
        """Start importing `source` into a new version and return the pending import at once.

        `format` None detects it from the files. `mode="merge"` keeps the latest version's
        items and adds (or replaces, by file name) the imported ones. `split` None keeps the
        latest version's split config (else the platform default). `skip_invalid_images`
        leaves out images that cannot be decoded (each listed in the report) instead of
        failing. Follow it with `wait_import`.
        """
        body: dict[str, Any] = {
            "source": source.model_dump(),
            "format": format,
            "mode": mode,
            "message": message,
            "skip_invalid_images": skip_invalid_images,
        }
        if split is not None:
            body["split"] = split.model_dump()
        return self._session.call(
            DatasetImport, "POST", f"/datasets/{path_id(dataset_id)}/imports", json=body
        )

    def get_import(self, import_id: uuid.UUID | str) -> DatasetImport:
        """An import's status, progress and (once finished) its validation report."""
        return self._session.call(DatasetImport, "GET", f"/datasets/imports/{path_id(import_id)}")

    def list_imports(self, dataset_id: uuid.UUID | str) -> builtins.list[DatasetImport]:
        return self._session.call(
            list[DatasetImport], "GET", f"/datasets/{path_id(dataset_id)}/imports"
        )

    def wait_import(
        self,
        import_id: uuid.UUID | str,
        *,
        poll_interval: float = 0.5,
        timeout: float | None = None,
        on_progress: ImportProgress | None = None,
    ) -> DatasetImport:
        """Poll until the import has succeeded or failed and return it (check `.status`: a
        failed import is returned, not raised). `on_progress` sees every poll. After `timeout`
        seconds this raises `LensforgeError` (code `import_timeout`); the import goes on."""
        return poll_until(
            lambda: self.get_import(import_id),
            lambda record: record.finished,
            poll_interval=poll_interval,
            timeout=timeout,
            on_poll=on_progress,
            timed_out=lambda: LensforgeError(
                f"import {import_id} has not finished after {timeout:g} s; it goes on on "
                "the server (see `get_import`)",
                code="import_timeout",
            ),
        )

    def import_file(
        self,
        dataset_id: uuid.UUID | str,
        project_id: uuid.UUID | str,
        path: str | os.PathLike[str],
        *,
        format: str | None = None,
        mode: ImportMode = "replace",
        split: SplitConfig | None = None,
        message: str = "",
        on_upload_progress: ProgressCallback | None = None,
        on_import_progress: ImportProgress | None = None,
        poll_interval: float = 0.5,
    ) -> DatasetImport:
        """Upload an archive (resumably: calling again after an interruption sends only what
        the server is missing), import it and wait; returns the finished import."""
        upload = self._uploads.upload_file(project_id, path, on_progress=on_upload_progress)
        started = self.start_import(
            dataset_id,
            UploadSource(upload_id=str(upload.id)),
            format=format,
            mode=mode,
            split=split,
            message=message,
        )
        return self.wait_import(
            started.id, poll_interval=poll_interval, on_progress=on_import_progress
        )

    # --- versions ----------------------------------------------------------------------------

    def list_versions(self, dataset_id: uuid.UUID | str) -> builtins.list[DatasetVersion]:
        """The dataset's versions, newest first."""
        return self._session.call(
            list[DatasetVersion], "GET", f"/datasets/{path_id(dataset_id)}/versions"
        )

    def get_version(self, dataset_id: uuid.UUID | str, number: int) -> DatasetVersion:
        return self._session.call(DatasetVersion, "GET", _version_path(dataset_id, number))

    def split(
        self,
        dataset_id: uuid.UUID | str,
        number: int,
        split_config: SplitConfig,
        message: str = "",
    ) -> DatasetVersion:
        """A new version with version `number`'s data and another train/val/test assignment
        (or `number` itself when the assignment comes out the same as the latest version)."""
        return self._session.call(
            DatasetVersion,
            "POST",
            _version_path(dataset_id, number, "/split"),
            json={"split": split_config.model_dump(), "message": message},
        )

    def stats(self, dataset_id: uuid.UUID | str, number: int) -> VersionStats:
        """Counts and distributions: per class, per split, image and box sizes."""
        return self._session.call(VersionStats, "GET", _version_path(dataset_id, number, "/stats"))

    def diff(
        self, dataset_id: uuid.UUID | str, number: int, against: int, *, limit: int = 100
    ) -> VersionDiff:
        """What changed from version `against` (the older side) to version `number`."""
        return self._session.call(
            VersionDiff,
            "GET",
            _version_path(dataset_id, number, "/diff"),
            params={"against": against, "limit": limit},
        )

    def items(
        self,
        dataset_id: uuid.UUID | str,
        number: int,
        *,
        split: str | None = None,
        class_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[DatasetItem]:
        """One page of the version's images with their objects, by file name."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if split is not None:
            params["split"] = split
        if class_id is not None:
            params["class_id"] = class_id
        return self._session.call(
            Page[DatasetItem], "GET", _version_path(dataset_id, number, "/items"), params=params
        )

    def manifest(self, dataset_id: uuid.UUID | str, number: int) -> dict[str, Any]:
        """The canonical manifest (classes, items, objects); the SHA-256 of its bytes as
        served is the version's `content_hash`."""
        response = self._session.send("GET", _version_path(dataset_id, number, "/manifest"))
        data: dict[str, Any] = response.json()
        return data

    def download_export(
        self,
        dataset_id: uuid.UUID | str,
        number: int,
        format: str,
        dest_path: str | os.PathLike[str],
        on_progress: DownloadProgress | None = None,
    ) -> ExportDownload:
        """Export version `number` as a zip in `format` (yolo, coco, imagefolder, native) and
        stream it to `dest_path` (a file, or a folder to put the server's file name in).

        The zip is written under a temporary name beside the target and renamed when complete,
        so `dest_path` never holds half a file. `on_progress(bytes_done, total_or_None)`.
        """
        # An ordinary call first: it refreshes an expired token and fails fast on a bad version.
        self.get_version(dataset_id, number)
        return stream_to_file(
            self._session,
            _version_path(dataset_id, number, "/export"),
            Path(dest_path),
            params={"format": format},
            default_name=f"{path_id(dataset_id)}-v{number}-{format}.zip",
            timeout=EXPORT_TIMEOUT_SECONDS,
            on_progress=on_progress,
        )


def _version_path(dataset_id: uuid.UUID | str, number: int, rest: str = "") -> str:
    return f"/datasets/{path_id(dataset_id)}/versions/{int(number)}{rest}"
