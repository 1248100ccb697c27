"""Turning what people type into the model to use: a checkpoint name, or an export by id or
id prefix."""

from __future__ import annotations

import re
import uuid
from typing import Annotated

import typer

from lensforge.cli.output import fail
from lensforge.client import LensforgeClient, ModelExport

CHECKPOINTS = ("best", "last")
MIN_PREFIX = 6
_HEX_PREFIX = re.compile(r"^[0-9a-f-]+$")


def _checkpoint(value: str | None) -> str | None:
    if value is not None and value not in CHECKPOINTS:
        raise typer.BadParameter(f"{value!r}: choose best or last")
    return value


CheckpointOption = Annotated[
    str | None,
    typer.Option(help="The job's checkpoint to use: best (default) or last.", callback=_checkpoint),
]


def model_source(checkpoint: str | None, export: str | None) -> None:
    """A checkpoint or an export, not both."""
    if checkpoint is not None and export is not None:
        raise typer.BadParameter(
            "give either --checkpoint or --export, not both", param_hint="--export"
        )


def find_export(client: LensforgeClient, ref: str, job_id: uuid.UUID | None = None) -> ModelExport:
    """The export with id `ref`, else the only one (of `job_id`'s model, when given) whose id
    starts with `ref` (6 characters at least)."""
    ref = ref.strip().lower()
    try:
        export_id = uuid.UUID(ref)
    except ValueError:
        pass
    else:
        found = client.exports.get(export_id)
        if job_id is not None and found.source_job_id != job_id:
            fail(f"export {ref} is not an export of job {job_id}")
        return found
    if len(ref) < MIN_PREFIX or not _HEX_PREFIX.match(ref):
        fail(f"{ref!r} is not an export id or an id prefix of {MIN_PREFIX}+ characters")
    matches = [e for e in client.exports.iter(job_id=job_id) if str(e.id).startswith(ref)]
    if not matches:
        fail(f"no export whose id starts with {ref!r}; see `lensforge exports list`")
    if len(matches) > 1:
        fail(f"{len(matches)} exports start with {ref!r}; pass more of the id")
    return matches[0]
