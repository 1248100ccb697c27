"""`lensforge export` (convert a trained model, follow it to its verification report, download
it) and `lensforge exports list|show|download`."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.filesize import decimal
from rich.markup import escape

from lensforge.cli._client import open_client, print_json
from lensforge.cli._dataset_render import transfer_progress
from lensforge.cli._job_refs import JobArgument, find_job, parse_value
from lensforge.cli._job_render import status
from lensforge.cli._model_work_refs import CheckpointOption, find_export
from lensforge.cli._model_work_render import exports_table, print_export
from lensforge.cli.output import EXIT_FAILURE, EXIT_INTERRUPTED, console, err_console
from lensforge.cli.train import field_errors
from lensforge.client import LensforgeClient, ModelExport, ValidationError

app = typer.Typer(help="Exported models: list, show, download.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", help="File or folder (default: the server's file name)."),
]
POLL_SECONDS = 1.0
EXPORT_HELP = (
    "Export a training job's model to another format (ONNX, ...), checked against the PyTorch "
    "model on validation images.\n\n"
    "Shows the export's status until it ends, then its verification report (output "
    "differences against the tolerance, detection agreement, latency of both); with -o it "
    "downloads the artifact, its sha256 checked. Exits with 1 when the export fails; Ctrl-C "
    "stops watching (exit 130) while the export goes on."
)


def export(
    job: JobArgument,
    format: Annotated[str, typer.Option(help="onnx, torchscript, openvino, ...")],
    checkpoint: CheckpointOption = None,
    opset: Annotated[int | None, typer.Option(min=1, help="ONNX opset (11–20).")] = None,
    dynamic: Annotated[bool, typer.Option("--dynamic", help="Dynamic input shapes.")] = False,
    half: Annotated[bool, typer.Option("--half", help="FP16 weights.")] = False,
    nms: Annotated[bool, typer.Option("--nms", help="Put NMS inside the model.")] = False,
    simplify: Annotated[bool, typer.Option("--simplify", help="Simplify the ONNX graph.")] = False,
    imgsz: Annotated[int | None, typer.Option(min=1, help="Input image size.")] = None,
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            help="KEY=VALUE, another option of the trainer's format (see `lensforge models "
            "capabilities --json`); VALUE is read as JSON when it parses. Repeat for more.",
        ),
    ] = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Create the export and return at once.")
    ] = False,
    output: OutputOption = None,
    as_json: JsonOption = False,
) -> None:
    """Export a model (see `EXPORT_HELP`)."""
    if no_wait and output is not None:
        raise typer.BadParameter(
            "-o downloads the finished export; drop --no-wait, or download it later with "
            "`lensforge exports download`",
            param_hint="--no-wait",
        )
    options: dict[str, Any] = {"opset": opset, "imgsz": imgsz}
    options = {key: value for key, value in options.items() if value is not None}
    flags = {"dynamic": dynamic, "half": half, "nms": nms, "simplify": simplify}
    options |= {key: True for key, on in flags.items() if on}
    for assignment in option or []:
        key, sep, raw = assignment.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{assignment!r} is not KEY=VALUE", param_hint="--option")
        options[key.strip()] = parse_value(raw.strip())
    with open_client() as client:
        found = find_job(client, job)
        try:
            created = client.exports.create(
                found.id, format, checkpoint=checkpoint or "best", options=options
            )
        except ValidationError as exc:  # an unavailable format, options the trainer refuses
            field_errors(exc.message, exc.fields)
        if no_wait:
            if as_json:
                print_json(created)
                return
            console.print(f"created export {created.id}: {status(created.status)}")
            console.print(f"follow it with `lensforge exports show {created.id}`", style="dim")
            return
        err_console.print(
            f"created export {created.id} ({escape(format)} of job {escape(found.name)})"
        )
        finished = _follow(client, created)
        if finished.succeeded and output is not None:
            _download(client, finished.id, output)
    if as_json:
        print_json(finished)
    else:
        print_export(finished, found.name)
    if not finished.succeeded:
        raise typer.Exit(EXIT_FAILURE)


def _follow(client: LensforgeClient, created: ModelExport) -> ModelExport:
    """The export's status on a spinner until it ends; Ctrl-C stops watching, not the export."""
    try:
        with err_console.status(f"export {created.format}: {status(created.status)}") as spinner:
            return client.exports.wait(
                created.id,
                poll_interval=POLL_SECONDS,
                on_update=lambda e: spinner.update(f"export {e.format}: {status(e.status)}"),
            )
    except KeyboardInterrupt:
        err_console.print(
            f"stopped watching; export {created.id} goes on. See it with "
            f"`lensforge exports show {created.id}`"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _download(client: LensforgeClient, export_id: uuid.UUID, output: Path) -> None:
    with transfer_progress() as progress:
        task = progress.add_task("download", total=None)
        saved = client.exports.download(
            export_id,
            output,
            on_progress=lambda done, total: progress.update(task, completed=done, total=total),
        )
    err_console.print(
        f"saved {escape(str(saved))} ({decimal(saved.stat().st_size)}, sha256 checked)"
    )


@app.command("list")
def list_exports(
    job: Annotated[
        str | None, typer.Option("--job", "-j", help="Only exports of this job's model.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Newest exports to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List exports, newest first."""
    with open_client() as client:
        source = find_job(client, job) if job is not None else None
        page = client.exports.list(job_id=source.id if source else None, limit=limit)
        sources = {export.source_job_id for export in page.items}
        names = {str(source_id): client.jobs.get(source_id).name for source_id in sources}
    if as_json:
        print_json({"items": page.items, "total": page.total})
        return
    if not page.items:
        console.print("no exports; create one with `lensforge export JOB --format onnx`")
        return
    console.print(exports_table(page.items, names))
    if page.total > len(page.items):
        console.print(f"showing {len(page.items)} of {page.total}; use --limit", style="dim")


@app.command()
def show(
    export_id: Annotated[str, typer.Argument(help="Export id or id prefix (6+ characters).")],
    as_json: JsonOption = False,
) -> None:
    """Show an export: format, options, status, artifact and verification report; exits with
    1 when it failed."""
    with open_client() as client:
        found = find_export(client, export_id)
        job_name = client.jobs.get(found.source_job_id).name
    if as_json:
        print_json(found)
    else:
        print_export(found, job_name)
    if found.finished and not found.succeeded:
        raise typer.Exit(EXIT_FAILURE)


@app.command()
def download(
    export_id: Annotated[str, typer.Argument(help="Export id or id prefix (6+ characters).")],
    output: OutputOption = None,
) -> None:
    """Download a completed export's artifact (streamed; size and sha256 checked)."""
    with open_client() as client:
        found = find_export(client, export_id)
        _download(client, found.id, output or Path.cwd())
