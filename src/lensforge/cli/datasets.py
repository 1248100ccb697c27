"""`lensforge datasets import|list|show|versions|split|stats|export|report|diff`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.filesize import decimal
from rich.markup import escape
from rich.table import Column, Table

from lensforge.cli._client import open_client, print_json, when
from lensforge.cli._dataset_import import IMPORT_HELP, import_dataset
from lensforge.cli._dataset_refs import (
    DatasetArgument,
    JsonOption,
    ProjectOption,
    find_dataset,
    project_names,
    split_config,
    version_or_latest,
)
from lensforge.cli._dataset_render import (
    print_diff,
    print_import,
    print_stats,
    print_version,
    transfer_progress,
    versions_table,
)
from lensforge.cli.output import console, fail
from lensforge.cli.projects import resolve as resolve_project

app = typer.Typer(
    help="Datasets: imports, versions, splits, stats and exports.", no_args_is_help=True
)
app.command("import", help=IMPORT_HELP)(import_dataset)

VersionArgument = Annotated[int, typer.Argument(min=1, help="Version number.")]
OptionalVersion = Annotated[
    int | None, typer.Argument(min=1, help="Version number (default: the latest).")
]
EXPORT_FORMATS = ("yolo", "coco", "voc", "imagefolder", "native")


@app.command("list")
def list_datasets(project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """List the datasets you can see (of one project, with --project)."""
    with open_client() as client:
        found = resolve_project(client, project) if project is not None else None
        items = list(client.datasets.iter(project_id=found.id if found else None))
        names = {found.id: found.name} if found is not None else project_names(client)
    if as_json:
        print_json({"items": items, "total": len(items)})
        return
    if not items:
        console.print("no datasets yet; create one with `lensforge datasets import --create`")
        return
    table = Table(
        Column("ID", no_wrap=True),
        Column("Name", overflow="fold"),
        Column("Project", overflow="fold"),
        Column("Task", no_wrap=True),
        Column("Latest", no_wrap=True),
    )
    for dataset in items:
        shared = " [dim](shared)[/]" if dataset.shared_with_organization else ""
        table.add_row(
            str(dataset.id),
            escape(dataset.name) + shared,
            escape(names.get(dataset.project_id, str(dataset.project_id))),
            dataset.task,
            str(dataset.latest_version_number),
        )
    console.print(table)


@app.command()
def show(
    dataset: DatasetArgument, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """Show a dataset and its latest version."""
    with open_client() as client:
        found = find_dataset(client, dataset, project)
        latest = (
            client.datasets.get_version(found.id, found.latest_version_number)
            if found.latest_version_number
            else None
        )
    if as_json:
        print_json({**found.model_dump(mode="json"), "latest_version": latest})
        return
    console.print(f"[bold]{escape(found.name)}[/] ({found.id}) — {found.task}")
    if found.description:
        console.print(found.description, markup=False, highlight=False)
    shared = "shared with the organization" if found.shared_with_organization else "not shared"
    console.print(f"  {shared}   created: {when(found.created_at)}")
    if latest is None:
        console.print("  no versions yet", style="dim")
        return
    print_version(latest)
    console.print(f"  classes: {escape(', '.join(latest.classes))}")


@app.command()
def versions(
    dataset: DatasetArgument, project: ProjectOption = None, as_json: JsonOption = False
) -> None:
    """List a dataset's versions, newest first."""
    with open_client() as client:
        found = find_dataset(client, dataset, project)
        items = client.datasets.list_versions(found.id)
    if as_json:
        print_json(items)
        return
    if not items:
        console.print(f"dataset {escape(found.name)} has no versions yet")
        return
    console.print(versions_table(items))


@app.command()
def split(
    dataset: DatasetArgument,
    version: VersionArgument,
    ratio: Annotated[str, typer.Option(help="train,val,test, e.g. 0.7,0.2,0.1 or 70,20,10.")],
    seed: Annotated[int, typer.Option(help="Seed of the assignment.")] = 0,
    no_stratify: Annotated[
        bool, typer.Option("--no-stratify", help="Do not balance classes across splits.")
    ] = False,
    message: Annotated[str, typer.Option(help="A note kept with the new version.")] = "",
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Re-assign train/val/test by ratio: a new version with the same data."""
    config = split_config(ratio, seed, stratify=not no_stratify)
    assert config is not None  # a ratio was given
    with open_client() as client:
        found = find_dataset(client, dataset, project)
        created = client.datasets.split(found.id, version, config, message)
    if as_json:
        print_json(created)
        return
    if created.number <= found.latest_version_number:
        console.print(f"same data and splits as version {created.number}: no new version")
    print_version(created)


@app.command()
def stats(
    dataset: DatasetArgument,
    version: OptionalVersion = None,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """Counts per class and split, as a histogram."""
    with open_client() as client:
        found = find_dataset(client, dataset, project)
        result = client.datasets.stats(found.id, version_or_latest(found, version))
    if as_json:
        print_json(result)
        return
    print_stats(result)


@app.command()
def export(
    dataset: DatasetArgument,
    format: Annotated[str, typer.Option(help=f"One of {', '.join(EXPORT_FORMATS)}.")],
    version: OptionalVersion = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="File or folder (default: the server's file name)."),
    ] = None,
    project: ProjectOption = None,
) -> None:
    """Download a version as a zip in a training format."""
    if format not in EXPORT_FORMATS:
        raise typer.BadParameter(
            f"choose one of {', '.join(EXPORT_FORMATS)}", param_hint="--format"
        )
    with open_client() as client:
        found = find_dataset(client, dataset, project)
        number = version_or_latest(found, version)
        with transfer_progress() as progress:
            task = progress.add_task("building the zip on the server", total=None)

            def advance(done: int, total: int | None) -> None:
                progress.update(task, description="download", completed=done, total=total)

            saved = client.datasets.download_export(
                found.id, number, format, output or Path.cwd(), on_progress=advance
            )
    console.print(f"saved {escape(str(saved.path))} ({decimal(saved.size)})")
    if saved.skipped_items:
        console.print(
            f"{saved.skipped_items} image(s) left out: {format} has no place for them",
            style="yellow",
        )


@app.command()
def report(
    import_id: Annotated[str, typer.Argument(help="The import's id.")],
    as_json: JsonOption = False,
) -> None:
    """Show an import's status and validation report; exits with 1 if it failed."""
    try:
        parsed = uuid.UUID(import_id)
    except ValueError:
        fail(f"{import_id!r} is not an import id")
    with open_client() as client:
        record = client.datasets.get_import(parsed)
        version = (
            client.datasets.get_version(record.dataset_id, record.version_number)
            if record.succeeded and record.version_number is not None
            else None
        )
    if as_json:
        print_json({"import": record, "version": version})
    else:
        print_import(record, version)
    if record.status == "failed":
        raise typer.Exit(1)


@app.command()
def diff(
    dataset: DatasetArgument,
    a: Annotated[int, typer.Argument(min=1, help="The older version.")],
    b: Annotated[int, typer.Argument(min=1, help="The newer version.")],
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Entries per list.")] = 100,
    project: ProjectOption = None,
    as_json: JsonOption = False,
) -> None:
    """What changed from version A to version B."""
    with open_client() as client:
        found = find_dataset(client, dataset, project)
        result = client.datasets.diff(found.id, b, a, limit=limit)
    if as_json:
        print_json(result)
        return
    print_diff(result)
