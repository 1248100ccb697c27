"""Turning what people type into deployments and the models to deploy: a deployment by name or
id, and a model source that is either an export (id or id prefix) or a training job (id, id
prefix or name)."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Annotated

import typer

from lensforge.cli._job_refs import find_job
from lensforge.cli.output import fail
from lensforge.client import Deployment, LensforgeClient, ModelExport, NotFoundError

DeploymentArgument = Annotated[str, typer.Argument(help="Deployment name or id.")]
SourceArgument = Annotated[
    str,
    typer.Argument(
        metavar="JOB|EXPORT",
        help="A training job (id, id prefix or name; its checkpoint is exported to ONNX on the "
        "way) or a verified export (id or id prefix).",
    ),
]
MIN_PREFIX = 6
_HEX_PREFIX = re.compile(r"^[0-9a-f-]+$")


@dataclass(frozen=True)
class ModelSource:
    """What to deploy: an export, or a job's checkpoint (exported and verified on the way)."""

    export: ModelExport | None = None
    job_id: uuid.UUID | None = None
    label: str = ""


def find_deployment(client: LensforgeClient, ref: str) -> Deployment:
    try:
        return client.deployments.get(ref.strip())
    except NotFoundError:
        fail(f"no deployment with name or id {ref!r}; see `lensforge deployments list`")


def find_source(client: LensforgeClient, ref: str) -> ModelSource:
    """An export when `ref` names one (its id, or an id prefix no job shares), else a job."""
    ref = ref.strip()
    try:
        exact = uuid.UUID(ref)
    except ValueError:
        pass
    else:
        try:
            export = client.exports.get(exact)
        except NotFoundError:
            detail = client.jobs.get(exact)  # NotFoundError ends the command with its message
            return ModelSource(job_id=detail.id, label=f"job {detail.name}")
        return ModelSource(export=export, label=f"export {export.id}")
    prefix = ref.lower()
    if len(prefix) >= MIN_PREFIX and _HEX_PREFIX.match(prefix):
        exports = [e for e in client.exports.iter() if str(e.id).startswith(prefix)]
        if len(exports) == 1:
            return ModelSource(export=exports[0], label=f"export {exports[0].id}")
        if len(exports) > 1:
            fail(f"{len(exports)} exports start with {ref!r}; pass more of the id")
    job = find_job(client, ref)
    return ModelSource(job_id=job.id, label=f"job {job.name}")
