"""`client.artifacts`: model files (pretrained weights) uploaded to a project, which trainings
start from with `client.jobs.create(..., weights_id=...)`."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lensforge.client._http import HttpSession
from lensforge.client.model_work_models import ModelArtifact
from lensforge.client.models import Page
from lensforge.client.resources import Resource, iterate_pages, path_id
from lensforge.client.resources.uploads import ProgressCallback, Uploads


class Artifacts(Resource):
    def __init__(self, session: HttpSession, uploads: Uploads) -> None:
        super().__init__(session)
        self._uploads = uploads

    def upload(
        self,
        path: str | os.PathLike[str],
        project_id: uuid.UUID | str,
        name: str | None = None,
        *,
        on_progress: ProgressCallback | None = None,
    ) -> ModelArtifact:
        """Upload a model file (`.pt`, `.pth`, `.onnx`, `.safetensors`, at most 2 GiB) through
        a resumable upload (`on_progress(bytes_done, total)` as parts go), then record it as an
        artifact named `name` (default: the file's stem). A name taken in the project raises
        `ConflictError` (`artifact_name_taken`)."""
        upload = self._uploads.upload_file(project_id, path, on_progress=on_progress)
        return self.create(project_id, upload.id, name or Path(path).stem)

    def create(
        self, project_id: uuid.UUID | str, upload_id: uuid.UUID | str, name: str
    ) -> ModelArtifact:
        """Record a completed upload as a model artifact."""
        body = {"project_id": path_id(project_id), "upload_id": path_id(upload_id), "name": name}
        return self._session.call(ModelArtifact, "POST", "/models/artifacts", json=body)

    def list(
        self, *, project_id: uuid.UUID | str | None = None, limit: int = 50, offset: int = 0
    ) -> Page[ModelArtifact]:
        """One page of the artifacts you can see, newest first; of one project with
        `project_id`."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if project_id is not None:
            params["project_id"] = path_id(project_id)
        return self._session.call(Page[ModelArtifact], "GET", "/models/artifacts", params=params)

    def iter(
        self, *, project_id: uuid.UUID | str | None = None, page_size: int = 100
    ) -> Iterator[ModelArtifact]:
        return iterate_pages(
            lambda offset: self.list(project_id=project_id, limit=page_size, offset=offset)
        )

    def get(self, artifact_id: uuid.UUID | str) -> ModelArtifact:
        return self._session.call(ModelArtifact, "GET", f"/models/artifacts/{path_id(artifact_id)}")

    def delete(self, artifact_id: uuid.UUID | str) -> None:
        """Refused (`ConflictError`, `artifact_in_use`) while a job starts from it."""
        self._session.send("DELETE", f"/models/artifacts/{path_id(artifact_id)}")
