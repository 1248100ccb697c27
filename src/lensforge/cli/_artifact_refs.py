"""Model artifacts on the command line: finding one by id or name, and uploading a model file
with a progress bar (shared by `lensforge models` and `lensforge train --weights`)."""

from __future__ import annotations

import uuid
from pathlib import Path

from lensforge.cli._dataset_render import resumable_upload
from lensforge.cli.output import fail
from lensforge.client import LensforgeClient, ModelArtifact, NotFoundError, Project


def find_artifact(
    client: LensforgeClient, ref: str, project: Project | None = None
) -> ModelArtifact:
    """The artifact with id `ref`, or else the one named `ref` (in `project` when given; a
    name used in several projects must be narrowed with a project)."""
    try:
        artifact_id = uuid.UUID(ref)
    except ValueError:
        scope = None if project is None else project.id
        matches = [a for a in client.artifacts.iter(project_id=scope) if a.name == ref]
        where = "" if project is None else f" in project {project.name!r}"
        if not matches:
            fail(f"no model artifact named {ref!r}{where}; see `lensforge models list`")
        if len(matches) > 1:
            fail(f"several projects have a model artifact named {ref!r}: give --project or its id")
        return matches[0]
    try:
        artifact = client.artifacts.get(artifact_id)
    except NotFoundError:
        fail(f"no model artifact with id {ref}; see `lensforge models list`")
    if project is not None and artifact.project_id != project.id:
        fail(f"model artifact {ref} belongs to another project than {project.name!r}")
    return artifact


def upload_artifact(
    client: LensforgeClient, project: Project, path: Path, name: str
) -> ModelArtifact:
    """Upload with a progress bar (resumable: Ctrl-C, then the same command, continues)."""
    return resumable_upload(
        path.name,
        lambda advance: client.artifacts.upload(path, project.id, name, on_progress=advance),
    )
