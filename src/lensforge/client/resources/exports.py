"""`client.exports`: converting a trained model to another format (ONNX, ...), following the
export to its verification report, and downloading the checked artifact."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from lensforge.client._polling import poll_until
from lensforge.client._verified_download import Progress, download_verified, safe_filename
from lensforge.client.errors import LensforgeError
from lensforge.client.model_work_models import ModelExport, ModelExportLink
from lensforge.client.models import Page
from lensforge.client.resources import Resource, iterate_pages, path_id

ExportUpdate = Callable[[ModelExport], None]
DOWNLOAD_TIMEOUT = 300.0


class Exports(Resource):
    def create(
        self,
        job_id: uuid.UUID | str,
        format: str,
        *,
        checkpoint: str = "best",
        options: Mapping[str, Any] | None = None,
    ) -> ModelExport:
        """Export the `checkpoint` (`best` or `last`) of training job `job_id` to `format`,
        with the trainer's `options` (ONNX: `opset`, `dynamic`, `half`, `nms`, `simplify`,
        `imgsz`). The export is queued as a job; follow it with `wait`. Options the trainer
        does not accept raise `ValidationError`; a format it cannot produce, `ValidationError`
        with code `capability_unavailable`."""
        body = {
            "job_id": path_id(job_id),
            "checkpoint": checkpoint,
            "format": format,
            "options": dict(options or {}),
        }
        return self._session.call(ModelExport, "POST", "/exports", json=body)

    def list(
        self, *, job_id: uuid.UUID | str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[ModelExport]:
        """One page of exports, newest first; of one training job's model with `job_id`."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if job_id is not None:
            params["job_id"] = path_id(job_id)
        return self._session.call(Page[ModelExport], "GET", "/exports", params=params)

    def iter(
        self, *, job_id: uuid.UUID | str | None = None, page_size: int = 100
    ) -> Iterator[ModelExport]:
        """Every export (see `list`), page by page."""
        return iterate_pages(
            lambda offset: self.list(job_id=job_id, limit=page_size, offset=offset)
        )

    def get(self, export_id: uuid.UUID | str) -> ModelExport:
        """An export with its status and, once it ran, its verification report."""
        return self._session.call(ModelExport, "GET", _export_path(export_id))

    def wait(
        self,
        export_id: uuid.UUID | str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_update: ExportUpdate | None = None,
    ) -> ModelExport:
        """Poll until the export is completed, failed or cancelled and return it (a failed
        export is returned, not raised: its `verification` says why). `on_update` sees every
        poll. After `timeout` seconds this raises `LensforgeError` (code `wait_timeout`)."""
        return poll_until(
            lambda: self.get(export_id),
            lambda export: export.finished,
            poll_interval=poll_interval,
            timeout=timeout,
            on_poll=on_update,
            timed_out=lambda: LensforgeError(
                f"export {export_id} has not finished after {timeout:g} s; it goes on on the "
                "server (see `get`)",
                code="wait_timeout",
            ),
        )

    def link(self, export_id: uuid.UUID | str) -> ModelExportLink:
        """A presigned link to the artifact (`ConflictError` `export_not_ready` until the
        export completed)."""
        return self._session.call(ModelExportLink, "GET", _export_path(export_id, "/download"))

    def download(
        self,
        export_id: uuid.UUID | str,
        dest: str | Path,
        *,
        on_progress: Progress | None = None,
        timeout: float = DOWNLOAD_TIMEOUT,
    ) -> Path:
        """Download the artifact to `dest` (a file, or a folder to keep the server's file
        name), streamed, and check its size and sha256 before it is put in place; returns
        the path written. `on_progress(done, total)` follows the bytes."""
        found = self.link(export_id)
        target = Path(dest)
        if target.is_dir():
            target /= safe_filename(found.filename, f"{path_id(export_id)}.{_suffix(found)}")
        return download_verified(
            self._session,
            found.url,
            target,
            size=found.size,
            sha256=found.sha256,
            timeout=timeout,
            on_progress=on_progress,
        )


def _suffix(link: ModelExportLink) -> str:
    return Path(link.filename).suffix.lstrip(".") or "bin"


def _export_path(export_id: uuid.UUID | str, rest: str = "") -> str:
    return f"/exports/{path_id(export_id)}{rest}"
