"""`client.inference`: testing a trained model on images (`predict`), batch runs on a dataset
version, and reading what came back: results page by page, the JSON Lines file, and each
image with its predictions drawn."""

from __future__ import annotations

import contextlib
import mimetypes
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from lensforge.client._download import stream_to_file
from lensforge.client._polling import poll_until
from lensforge.client.errors import LensforgeError
from lensforge.client.model_work_models import ImageResult, InferenceRun, Prediction
from lensforge.client.models import Page
from lensforge.client.resources import Resource, iterate_pages, path_id

RunUpdate = Callable[[InferenceRun], None]
DEFAULT_WAIT = 60.0
# The server holds a predict request up to `wait` seconds; allow for the upload and the answer.
_WAIT_SLACK = 60.0
_IMAGE_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}


class Inference(Resource):
    def predict(
        self,
        job_id: uuid.UUID | str,
        images: Sequence[str | Path],
        *,
        checkpoint: str | None = None,
        export_id: uuid.UUID | str | None = None,
        conf: float | None = None,
        iou: float | None = None,
        wait: float = DEFAULT_WAIT,
    ) -> Prediction:
        """Run training job `job_id`'s model (its `checkpoint`, `best` by default, or one of
        its exports with `export_id`) on `images` (jpg, png or webp files; 20 at most, 20 MB
        each). The server waits up to `wait` seconds (≤ 300) for the run: then `results` holds
        one result per image, in order; otherwise `results` is None and the run goes on (see
        `wait` and `results`). A failed run is returned with `run.status` `failed`."""
        if checkpoint is not None and export_id is not None:
            raise ValueError("pass either checkpoint or export_id, not both")
        form: dict[str, str] = {"wait": f"{wait:g}"}
        if export_id is not None:
            form["export_id"] = path_id(export_id)
        else:
            form["checkpoint"] = checkpoint or "best"
        if conf is not None:
            form["conf"] = f"{conf:g}"
        if iou is not None:
            form["iou"] = f"{iou:g}"
        with contextlib.ExitStack() as stack:
            files: list[tuple[str, tuple[str, BinaryIO, str]]] = []
            for image in images:
                path = Path(image)
                handle = stack.enter_context(path.open("rb"))
                files.append(("files", (path.name, handle, _content_type(path))))
            return self._session.call(
                Prediction,
                "POST",
                f"/training/jobs/{path_id(job_id)}/predict",
                files=files,
                data=form,
                timeout=wait + _WAIT_SLACK,
            )

    def start(
        self,
        job_id: uuid.UUID | str,
        *,
        dataset_version_id: uuid.UUID | str | None = None,
        upload_id: uuid.UUID | str | None = None,
        checkpoint: str | None = None,
        export_id: uuid.UUID | str | None = None,
        split: str | None = None,
        conf: float | None = None,
        iou: float | None = None,
    ) -> InferenceRun:
        """Queue a batch run of the model on a dataset version's images (one `split` of them,
        if given) or on the images of an uploaded zip or tar archive (`upload_id` of a
        completed upload, see `client.uploads`); follow it with `wait`."""
        body: dict[str, Any] = {"job_id": path_id(job_id)}
        ids = {"dataset_version_id": dataset_version_id, "upload_id": upload_id}
        body |= {key: path_id(value) for key, value in ids.items() if value is not None}
        if export_id is not None:
            body["export_id"] = path_id(export_id)
        optional = {"checkpoint": checkpoint, "split": split, "conf": conf, "iou": iou}
        body |= {key: value for key, value in optional.items() if value is not None}
        return self._session.call(InferenceRun, "POST", "/inference", json=body)

    def list(
        self, *, job_id: uuid.UUID | str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[InferenceRun]:
        """One page of inference runs, newest first; of one training job's model with
        `job_id`."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if job_id is not None:
            params["job_id"] = path_id(job_id)
        return self._session.call(Page[InferenceRun], "GET", "/inference", params=params)

    def iter(
        self, *, job_id: uuid.UUID | str | None = None, page_size: int = 100
    ) -> Iterator[InferenceRun]:
        """Every inference run (see `list`), page by page."""
        return iterate_pages(
            lambda offset: self.list(job_id=job_id, limit=page_size, offset=offset)
        )

    def get(self, run_id: uuid.UUID | str) -> InferenceRun:
        return self._session.call(InferenceRun, "GET", _run_path(run_id))

    def wait(
        self,
        run_id: uuid.UUID | str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_update: RunUpdate | None = None,
    ) -> InferenceRun:
        """Poll until the run is completed, failed or cancelled and return it (a failed run
        is returned, not raised). After `timeout` seconds this raises `LensforgeError` (code
        `wait_timeout`); the run goes on."""
        return poll_until(
            lambda: self.get(run_id),
            lambda run: run.finished,
            poll_interval=poll_interval,
            timeout=timeout,
            on_poll=on_update,
            timed_out=lambda: LensforgeError(
                f"inference run {run_id} has not finished after {timeout:g} s; it goes on on "
                "the server (see `get`)",
                code="wait_timeout",
            ),
        )

    def results(
        self, run_id: uuid.UUID | str, *, limit: int = 100, offset: int = 0
    ) -> Page[ImageResult]:
        """One page of a finished run's results, in the order of its images."""
        return self._session.call(
            Page[ImageResult],
            "GET",
            _run_path(run_id, "/results"),
            params={"limit": limit, "offset": offset},
        )

    def iter_results(
        self, run_id: uuid.UUID | str, *, page_size: int = 100
    ) -> Iterator[ImageResult]:
        """Every result of a finished run, page by page."""
        return iterate_pages(lambda offset: self.results(run_id, limit=page_size, offset=offset))

    def download_results(
        self,
        run_id: uuid.UUID | str,
        dest: str | Path,
        *,
        on_progress: Callable[[int, int | None], None] | None = None,
        timeout: float = 300.0,
    ) -> Path:
        """Stream the run's JSON Lines file (one result per line) to `dest` (a file, or a
        folder to keep the server's name); returns the path written."""
        self.get(run_id)  # an ordinary call first: it refreshes an expired token
        done = stream_to_file(
            self._session,
            _run_path(run_id, "/results/download"),
            Path(dest),
            params=None,
            default_name=f"{path_id(run_id)}.jsonl",
            timeout=timeout,
            on_progress=on_progress,
        )
        return done.path

    def rendered(self, run_id: uuid.UUID | str, index: int) -> bytes:
        """PNG bytes of image `index` (from 0) with its predictions drawn."""
        return self._session.send("GET", _image_path(run_id, index, "rendered")).content

    def original(self, run_id: uuid.UUID | str, index: int) -> bytes:
        """The bytes of image `index` (from 0) as it was sent."""
        return self._session.send("GET", _image_path(run_id, index, "original")).content


def _content_type(path: Path) -> str:
    known = _IMAGE_TYPES.get(path.suffix.lower())
    return known or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _run_path(run_id: uuid.UUID | str, rest: str = "") -> str:
    return f"/inference/{path_id(run_id)}{rest}"


def _image_path(run_id: uuid.UUID | str, index: int, what: str) -> str:
    if index < 0:
        raise ValueError(f"image index must be 0 or more, got {index}")
    return _run_path(run_id, f"/images/{int(index)}/{what}")
