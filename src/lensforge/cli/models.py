"""`lensforge models`: what each trainer can do with the models it trains (`capabilities`), and
the model files uploaded to start trainings from (`upload`, `list`, `delete`)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.filesize import decimal
from rich.markup import escape
from rich.table import Column, Table

from lensforge.cli._artifact_refs import find_artifact, upload_artifact
from lensforge.cli._client import open_client, print_json
from lensforge.cli._model_work_render import capabilities_table, training_table
from lensforge.cli.output import EXIT_USAGE, console, fail
from lensforge.cli.projects import resolve as resolve_project
from lensforge.client import ModelArtifact

# What the server accepts (kept in step with lensforge.model_artifacts.service): checked here
# too, so a wrong file fails before a long upload rather than after it.
MODEL_SUFFIXES = (".pt", ".pth", ".onnx", ".safetensors")
MAX_ARTIFACT_BYTES = 2 * 1024**3

app = typer.Typer(help="What trained models can do: predict, export formats.", no_args_is_help=True)


@app.command()
def capabilities(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """What each trainer can train (tasks and their models) and do with its models (predict,
    export formats: which are available, and why not where they are not)."""
    with open_client() as client:
        found = client.models.capabilities()
    if as_json:
        print_json(found)
        return
    if not found.trainers:
        console.print("no trainers registered; see `lensforge trainers list`")
        return
    console.print(training_table(found))
    console.print(capabilities_table(found))


@app.command()
def upload(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="The model file.")],
    project: Annotated[str, typer.Option("--project", "-p", help="Project id or name.")],
    name: Annotated[
        str | None, typer.Option(help="Name to train from with --weights (default: file stem).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Upload pretrained weights (.pt, .pth, .onnx, .safetensors; at most 2 GiB) to a project;
    `lensforge train --weights NAME` starts a training from them. Resumable: after Ctrl-C or a
    lost connection, the same command continues the upload."""
    if not file.name.lower().endswith(MODEL_SUFFIXES):
        fail(f"{file.name} is not a model file ({', '.join(MODEL_SUFFIXES)})", code=EXIT_USAGE)
    if file.stat().st_size > MAX_ARTIFACT_BYTES:
        fail(f"{file.name} is larger than {decimal(MAX_ARTIFACT_BYTES)}", code=EXIT_USAGE)
    with open_client() as client:
        found = resolve_project(client, project)
        artifact = upload_artifact(client, found, file, name or file.stem)
    if as_json:
        print_json(artifact)
        return
    console.print(
        f"uploaded [bold]{escape(artifact.name)}[/] ({artifact.id}) to project "
        f"{escape(found.name)}: {artifact.filename}, {decimal(artifact.size_bytes)}"
    )
    console.print(f"train from it with `--weights {artifact.name}`", style="dim")


@app.command("list")
def list_artifacts(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project id or name.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """The uploaded model files you can see, newest first."""
    with open_client() as client:
        scope = None if project is None else resolve_project(client, project)
        artifacts = list(client.artifacts.iter(project_id=None if scope is None else scope.id))
        projects = {p.id: p.name for p in client.projects.iter()}
    if as_json:
        print_json(artifacts)
        return
    if not artifacts:
        console.print("no model artifacts; upload one with `lensforge models upload`")
        return
    console.print(_artifacts_table(artifacts, projects))


@app.command()
def delete(
    artifact: Annotated[str, typer.Argument(help="Artifact id or name.")],
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project id or name.")
    ] = None,
) -> None:
    """Delete an uploaded model file (refused while a job starts from it)."""
    with open_client() as client:
        scope = None if project is None else resolve_project(client, project)
        found = find_artifact(client, artifact, scope)
        client.artifacts.delete(found.id)
    console.print(f"deleted model artifact [bold]{escape(found.name)}[/] ({found.id})")


def _artifacts_table(artifacts: list[ModelArtifact], projects: dict[uuid.UUID, str]) -> Table:
    table = Table(
        Column("Name", no_wrap=True),
        Column("Project"),
        Column("File"),
        Column("Size", justify="right", no_wrap=True),
        Column("Uploaded"),
        Column("Id", style="dim", no_wrap=True),
    )
    for a in artifacts:
        table.add_row(
            escape(a.name),
            escape(projects.get(a.project_id, str(a.project_id))),
            escape(a.filename),
            decimal(a.size_bytes),
            a.created_at.strftime("%Y-%m-%d %H:%M"),
            str(a.id),
        )
    return table
