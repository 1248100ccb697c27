"""`lensforge train`: build a trainer config from options, validate it, create the job and,
with --follow, watch it to the end."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.markup import escape
from rich.table import Column, Table

from lensforge.cli._artifact_refs import find_artifact
from lensforge.cli._client import open_client, print_json
from lensforge.cli._dataset_refs import find_in_project, split_config
from lensforge.cli._job_follow import Follower
from lensforge.cli._job_refs import apply_set, merge, read_config_file
from lensforge.cli._job_render import status
from lensforge.cli._train_view import TrainingView, summary
from lensforge.cli.output import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    console,
    err_console,
    fail,
)
from lensforge.cli.projects import resolve as resolve_project
from lensforge.client import FieldError, JobDetail, LensforgeClient, Project, ValidationError

TRAIN_HELP = (
    "Train a model on a dataset version: the config is built from the options (a config file, "
    "then the shortcuts such as --epochs, then each --set), checked against the trainer's "
    "schema, and the job is queued.\n\n"
    "Invalid config fields are listed and the command exits with 2. With --follow it shows "
    "progress and logs until the job ends and exits with 0 when it completed, 1 otherwise; "
    "Ctrl-C stops following (exit 130) while the job keeps running."
)


def train(
    project: Annotated[str, typer.Option("--project", "-p", help="Project id or name.")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Dataset id or name.")],
    trainer: Annotated[str, typer.Option(help="Trainer name (see `lensforge trainers list`).")],
    model: Annotated[str, typer.Option(help="One of the trainer's models.")],
    version: Annotated[
        int | None, typer.Option(min=1, help="Dataset version (default: the latest).")
    ] = None,
    task: Annotated[str | None, typer.Option(help="Task (default: the dataset's).")] = None,
    epochs: Annotated[int | None, typer.Option(help="Epochs (basic.epochs).")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Batch size (basic.batch_size).")] = None,
    learning_rate: Annotated[
        float | None, typer.Option(help="Learning rate (basic.learning_rate).")
    ] = None,
    imgsz: Annotated[int | None, typer.Option(help="Image size (basic.imgsz).")] = None,
    device: Annotated[
        str | None, typer.Option(help="Device, e.g. cpu or 0 (basic.device).")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="SECTION.KEY=VALUE, SECTION basic or advanced; VALUE is read as JSON when it "
            "parses (3, 0.1, true, [1,2]), else as a string. Repeat for more.",
        ),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(help="A JSON or YAML file with 'basic' and 'advanced' sections."),
    ] = None,
    split_ratio: Annotated[
        str | None,
        typer.Option(help="Override the version's split: train,val,test, e.g. 0.8,0.1,0.1."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split override.")] = None,
    queue: Annotated[str, typer.Option(help="Worker queue.")] = "default",
    gpu: Annotated[int, typer.Option(min=0, max=16, help="GPUs the job needs.")] = 0,
    priority: Annotated[
        int, typer.Option(min=-100, max=100, help="Higher runs first in its queue.")
    ] = 0,
    max_attempts: Annotated[
        int, typer.Option(min=1, max=20, help="Attempts before a crashing job fails.")
    ] = 3,
    name: Annotated[str | None, typer.Option(help="Job name (default: derived).")] = None,
    weights: Annotated[
        str | None,
        typer.Option(
            help="Start from pretrained weights: a model artifact's name or id in the project "
            "(see `lensforge models upload`), or an official weights file of the trainer such "
            "as yolo11n.pt, which the server downloads once (verified by SHA-256) and caches."
        ),
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Show progress and logs until it ends.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Train a model (see `TRAIN_HELP`)."""
    config = build_config(
        config_file,
        {
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "imgsz": imgsz,
            "device": device,
        },
        set_ or [],
    )
    split = split_config(split_ratio, seed, option="--split-ratio")
    with open_client() as client:
        found_project = resolve_project(client, project)
        found = find_in_project(client, found_project, dataset)
        if found is None:
            fail(
                f"no dataset {dataset!r} in project {found_project.name!r}; see "
                "`lensforge datasets list`"
            )
        weights_id, weights_name = _weights_reference(client, weights, found_project)
        checked = client.trainers.validate_config(trainer, config)
        if not checked.valid:
            field_errors(f"the config is not valid for trainer {trainer}", checked.errors)
        try:
            job = client.jobs.create(
                found_project.id,
                found.id,
                trainer,
                model,
                dataset_version=version,
                task=task,
                name=name,
                config=config,
                split=split,
                resources={"gpu": gpu},
                queue=queue,
                priority=priority,
                max_attempts=max_attempts,
                weights_id=weights_id,
                weights=weights_name,
            )
        except ValidationError as exc:
            if exc.code == "weights_unavailable":  # the whole message says what to do
                fail(exc.message, code=EXIT_USAGE)
            field_errors(exc.message.split(":")[0], exc.fields)
        if as_json and not follow:
            print_json(job)
            return
        created = f"created job [bold]{escape(job.name)}[/] ({job.id}): {status(job.status)}"
        if not follow:
            console.print(created)
            console.print(f"follow it with `lensforge jobs logs {job.id} --follow`", style="dim")
            return
        err_console.print(created)
        finished = follow_training(client, job)
    if as_json:
        print_json(finished)
    else:
        console.print(summary(finished))
    if finished.status != "completed":
        raise typer.Exit(EXIT_FAILURE)


def _weights_reference(
    client: LensforgeClient, ref: str | None, project: Project
) -> tuple[uuid.UUID | None, str | None]:
    """An id is an artifact the CLI checks; a name goes to the server, which resolves it (an
    artifact of the project, or an official file it fetches) before the job is created."""
    if ref is None:
        return None, None
    try:
        uuid.UUID(ref)
    except ValueError:
        return None, ref
    return find_artifact(client, ref, project).id, None


def build_config(
    config_file: Path | None, basic: dict[str, Any], assignments: list[str]
) -> dict[str, Any]:
    """The file's config, then the shortcut options (those given), then each --set."""
    config = read_config_file(config_file) if config_file is not None else {}
    shortcuts = {key: value for key, value in basic.items() if value is not None}
    if shortcuts:
        config = merge(config, {"basic": shortcuts})
    for assignment in assignments:
        apply_set(config, assignment)
    return config


def field_errors(title: str, errors: list[FieldError]) -> NoReturn:
    """List each invalid field and exit with the usage error code."""
    table = Table(Column("Field", no_wrap=True), Column("Problem", overflow="fold", ratio=1))
    for error in errors:
        table.add_row(escape(error.field), escape(error.message))
    err_console.print(f"[bold red]error:[/] {escape(title)}")
    if errors:
        err_console.print(table)
    raise typer.Exit(EXIT_USAGE)


def follow_training(client: LensforgeClient, job: JobDetail) -> JobDetail:
    """Show the job's progress until it ends; Ctrl-C stops watching, not the job."""
    follower = Follower(client, job.id)
    try:
        with follower.started(), TrainingView() as view:
            view.logs.catch_up(client, job.id)
            finished = follower.run(
                view.event, view.job, catch_up=lambda: view.logs.catch_up(client, job.id)
            )
            view.logs.catch_up(client, job.id)  # lines whose events were lost at the very end
            return finished
    except KeyboardInterrupt:
        err_console.print(
            f"stopped following; job {job.id} keeps running. Watch it with "
            f"`lensforge jobs logs {job.id} --follow`, stop it with "
            f"`lensforge jobs cancel {job.id}`"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
