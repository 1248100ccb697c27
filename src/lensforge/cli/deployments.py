"""`lensforge deploy` (serve a trained model or a verified export as a live endpoint),
`lensforge deployments list|show|activate|deactivate|update|rollback|usage|delete|keys` and
`lensforge infer` (predictions of a deployment on local images)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Column, Table

from lensforge.cli._client import open_client, print_json, when
from lensforge.cli._deployment_refs import (
    DeploymentArgument,
    ModelSource,
    SourceArgument,
    find_deployment,
    find_source,
)
from lensforge.cli._job_render import status
from lensforge.cli._model_work_refs import CheckpointOption
from lensforge.cli._model_work_render import result_table
from lensforge.cli.api_keys import keys_table
from lensforge.cli.output import EXIT_FAILURE, EXIT_INTERRUPTED, console, err_console, fail
from lensforge.client import (
    Deployment,
    DeploymentVersion,
    ImageResult,
    InferAnswer,
    LensforgeClient,
)
from lensforge.serving.snippets import curl_snippet, triton_snippet

app = typer.Typer(
    help="Deployments: versions, keys, usage, rollback.",
    no_args_is_help=True,
)
keys_app = typer.Typer(help="API keys restricted to one deployment.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
WaitOption = Annotated[
    bool,
    typer.Option("--wait/--no-wait", help="Follow the deployment until it is ready (default)."),
]
TimeoutOption = Annotated[
    float, typer.Option(min=1, help="Seconds to wait for the deployment to be ready.")
]
POLL_SECONDS = 1.0
MAX_IMAGES = 20
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
DEPLOY_HELP = (
    "Serve a training job's model (its best checkpoint by default, exported to ONNX and "
    "verified on the way) or a verified export as a live prediction endpoint.\n\n"
    "Shows the deployment's progress until it is ready, then its URLs with a curl and a "
    "tritonclient example. Exits with 1 when it fails; Ctrl-C stops watching (exit 130) while "
    "the deployment goes on."
)
INFER_HELP = (
    "Send images to a deployment and show what its model found in each: class, score and "
    "box.\n\nWith --save-dir, each image is saved with the predictions drawn "
    "(<image>.jpg) next to results.json. Uses your login's credentials."
)


# --- batching and limits shared by deploy and update -------------------------------------------

MaxBatchOption = Annotated[
    int | None, typer.Option(min=1, help="Dynamic batching: requests run together, at most.")
]
QueueDelayOption = Annotated[
    float | None, typer.Option(min=0, help="Dynamic batching: ms the first request waits.")
]
QueueLimitOption = Annotated[
    int | None, typer.Option(min=1, help="Requests waiting at most; more get 503.")
]
RateOption = Annotated[
    float | None, typer.Option(min=0, help="Requests per second per API key (token bucket).")
]
BurstOption = Annotated[int | None, typer.Option(min=1, help="Burst size of the rate limit.")]


def _settings(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


# --- deploy ------------------------------------------------------------------------------------


def deploy(
    source: SourceArgument,
    name: Annotated[str, typer.Option("--name", "-n", help="The deployment's (model) name.")],
    checkpoint: CheckpointOption = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    max_batch_size: MaxBatchOption = None,
    max_queue_delay_ms: QueueDelayOption = None,
    queue_limit: QueueLimitOption = None,
    rate_limit: RateOption = None,
    rate_burst: BurstOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 1800,
    as_json: JsonOption = False,
) -> None:
    """Deploy a model (see `DEPLOY_HELP`)."""
    with open_client() as client:
        found = find_source(client, source)
        if found.export is not None and checkpoint is not None:
            raise typer.BadParameter(
                "--checkpoint goes with a training job, not an export", param_hint="--checkpoint"
            )
        created = client.deployments.create(
            name,
            export_id=found.export.id if found.export else None,
            job_id=found.job_id,
            checkpoint=checkpoint if found.job_id else None,
            description=description,
            max_batch_size=max_batch_size,
            max_queue_delay_ms=max_queue_delay_ms,
            queue_limit=queue_limit,
            rate_limit_per_second=rate_limit,
            rate_limit_burst=rate_burst,
        )
        if not as_json:
            err_console.print(
                f"created deployment [bold]{escape(created.name)}[/] ({created.id}) from "
                f"{escape(found.label)}"
            )
        done = _follow(client, created, timeout) if wait else created
    if as_json:
        print_json(done)
    else:
        _print_deployment(done)
        if done.ready:
            _print_hints(done)
        elif not wait:
            console.print(f"follow it with `lensforge deployments show {done.name}`", style="dim")
    if done.status == "failed":
        raise typer.Exit(EXIT_FAILURE)


def _progress(client: LensforgeClient, deployment: Deployment) -> str:
    """The spinner's line: the deployment's state, and the export made on the way."""
    text = f"deployment {escape(deployment.name)}: {status(deployment.status)}"
    version = deployment.version
    if deployment.status == "creating" and version is not None and version.export_id:
        export = client.exports.get(version.export_id)
        text += f" · ONNX export and verification: {status(export.status)}"
    return text


def _follow(client: LensforgeClient, created: Deployment, timeout: float) -> Deployment:
    """The deployment's progress on a spinner until it is ready or failed; Ctrl-C stops
    watching, not the deployment."""
    if created.settled:
        return created
    try:
        with err_console.status(_progress(client, created)) as spinner:
            return client.deployments.wait_ready(
                created.id,
                timeout=timeout,
                poll_interval=POLL_SECONDS,
                on_update=lambda d: spinner.update(_progress(client, d)),
            )
    except KeyboardInterrupt:
        err_console.print(
            f"stopped watching; deployment {created.name} goes on. See it with "
            f"`lensforge deployments show {created.name}`"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


def _active(deployment: Deployment) -> str:
    return "[green]active[/]" if deployment.active else "[yellow]inactive[/]"


def _print_deployment(deployment: Deployment) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    version = deployment.version
    reason = f" ({escape(deployment.status_reason)})" if deployment.status_reason else ""
    rows: list[tuple[str, str]] = [
        ("Deployment", f"{escape(deployment.name)}  [dim]{deployment.id}[/]"),
        ("Status", f"{status(deployment.status)}{reason}, {_active(deployment)}"),
        ("Version", _version_line(version) if version else "-"),
        ("Image API", escape(deployment.urls.image)),
        ("OIP v2", f"{escape(deployment.urls.v2)}  model {escape(deployment.urls.model_name)}"),
        ("Batching", _batching(deployment)),
        ("Rate limit", _rate(deployment)),
        ("Created", when(deployment.created_at)),
    ]
    if deployment.description:
        rows.insert(1, ("Description", escape(deployment.description)))
    if deployment.parameters:
        rows.append(("Parameters", escape(json.dumps(deployment.parameters, sort_keys=True))))
    for label, value in rows:
        table.add_row(label, value)
    console.print(table)


def _version_line(version: DeploymentVersion) -> str:
    """`2 (onnx, detection: cat, dog)`: the number, format, task and first classes."""
    classes = ", ".join(version.class_names[:8]) + ("…" if len(version.class_names) > 8 else "")
    what = ", ".join(part for part in (version.format, version.task) if part)
    return f"{version.number} ({escape(what)}{': ' + escape(classes) if classes else ''})"


def _batching(deployment: Deployment) -> str:
    if deployment.max_batch_size is None:
        return "-"
    return (
        f"up to {deployment.max_batch_size} per batch, {deployment.max_queue_delay_ms:g} ms "
        f"delay, {deployment.queue_limit} queued at most"
    )


def _rate(deployment: Deployment) -> str:
    if deployment.rate_limit_per_second is None:
        return "server default"
    burst = f", burst {deployment.rate_limit_burst}" if deployment.rate_limit_burst else ""
    return f"{deployment.rate_limit_per_second:g}/s per key{burst}"


def usage_snippets(deployment: Deployment) -> dict[str, str]:
    """Ready-to-copy calls of a deployment (the web page shows the same ones)."""
    curl = curl_snippet(deployment.urls.image)
    imgsz = deployment.version.model_info.get("imgsz") if deployment.version else None
    triton = triton_snippet(deployment.urls.v2, deployment.urls.model_name, imgsz)
    return {"curl": curl, "tritonclient": triton}


def _print_hints(deployment: Deployment) -> None:
    snippets = usage_snippets(deployment)
    console.print(
        "\n[bold]Try it[/] (a key restricted to it: "
        f"`lensforge deployments keys create {escape(deployment.name)}`):"
    )
    console.print(snippets["curl"], markup=False, highlight=False, soft_wrap=True)
    console.print(f"lensforge infer {escape(deployment.name)} image.jpg", highlight=False)
    console.print("\n[bold]tritonclient[/]:")
    console.print(snippets["tritonclient"], markup=False, highlight=False, soft_wrap=True)


# --- deployments ... ---------------------------------------------------------------------------


@app.command("list")
def list_deployments(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Only this project's (name or id).")
    ] = None,
    status_filter: Annotated[
        str | None, typer.Option("--status", help="creating, ready or failed.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Deployments to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List the deployments of your organization."""
    with open_client() as client:
        project_id = None
        if project is not None:
            from lensforge.cli.projects import resolve

            project_id = resolve(client, project).id
        page = client.deployments.list(project_id=project_id, status=status_filter, limit=limit)
    if as_json:
        print_json({"items": page.items, "total": page.total})
        return
    if not page.items:
        console.print("no deployments; create one with `lensforge deploy JOB --name NAME`")
        return
    table = Table("Name", "Status", "Active", Column("Version", justify="right"), "Image URL")
    for item in page.items:
        table.add_row(
            escape(item.name),
            status(item.status),
            _active(item),
            str(item.current_version) if item.current_version is not None else "-",
            escape(item.urls.image),
        )
    console.print(table)
    if page.total > len(page.items):
        console.print(f"showing {len(page.items)} of {page.total}; use --limit", style="dim")


@app.command()
def show(deployment: DeploymentArgument, as_json: JsonOption = False) -> None:
    """Show a deployment: status, URLs, settings and its versions."""
    with open_client() as client:
        found = find_deployment(client, deployment)
        versions = client.deployments.versions(found.id)
    if as_json:
        print_json({**found.model_dump(mode="json"), "versions": versions})
        return
    _print_deployment(found)
    if versions:
        console.print(_versions_table(versions, found.current_version))
    if found.ready:
        _print_hints(found)


def _versions_table(versions: Sequence[DeploymentVersion], current: int | None) -> Table:
    table = Table(
        Column("Version", justify="right"), "Status", "Format", "Export", "Activated", "Created"
    )
    for version in versions:
        mark = " [bold green]← current[/]" if version.number == current else ""
        table.add_row(
            f"{version.number}{mark}",
            status(version.status),
            escape(version.format),
            str(version.export_id)[:8] if version.export_id else "-",
            when(version.activated_at),
            when(version.created_at),
        )
    return table


@app.command()
def activate(deployment: DeploymentArgument) -> None:
    """Answer predictions again."""
    with open_client() as client:
        done = client.deployments.activate(find_deployment(client, deployment).id)
    console.print(f"deployment [bold]{escape(done.name)}[/] is active")


@app.command()
def deactivate(deployment: DeploymentArgument) -> None:
    """Stop answering predictions (everything else is kept)."""
    with open_client() as client:
        done = client.deployments.deactivate(find_deployment(client, deployment).id)
    console.print(f"deployment [bold]{escape(done.name)}[/] is inactive")


@app.command()
def update(
    deployment: DeploymentArgument,
    source: Annotated[
        str | None,
        typer.Argument(
            metavar="[JOB|EXPORT]",
            help="Deploy this model as a new version (a job or an export, as for deploy).",
        ),
    ] = None,
    checkpoint: CheckpointOption = None,
    description: Annotated[str | None, typer.Option(help="What it is for.")] = None,
    max_batch_size: MaxBatchOption = None,
    max_queue_delay_ms: QueueDelayOption = None,
    queue_limit: QueueLimitOption = None,
    rate_limit: RateOption = None,
    rate_burst: BurstOption = None,
    wait: WaitOption = True,
    timeout: TimeoutOption = 1800,
    as_json: JsonOption = False,
) -> None:
    """Deploy another model version (switched to once ready and warm) and/or change settings."""
    settings = _settings(
        description=description,
        max_batch_size=max_batch_size,
        max_queue_delay_ms=max_queue_delay_ms,
        queue_limit=queue_limit,
        rate_limit_per_second=rate_limit,
        rate_limit_burst=rate_burst,
    )
    if source is None and not settings:
        raise typer.BadParameter("give a JOB|EXPORT to deploy, or settings to change")
    with open_client() as client:
        found = find_deployment(client, deployment)
        if settings:
            found = client.deployments.update(found.id, **settings)
        if source is not None:
            model: ModelSource = find_source(client, source)
            version = client.deployments.deploy_version(
                found.id,
                export_id=model.export.id if model.export else None,
                job_id=model.job_id,
                checkpoint=checkpoint if model.job_id else None,
            )
            if not as_json:
                err_console.print(f"version {version.number} from {escape(model.label)}")
            if wait:
                version = _follow_version(client, found, version, timeout)
            found = client.deployments.get(found.id)
            if version.status == "failed":
                fail(f"version {version.number} failed: {version.status_reason or 'no reason'}")
    if as_json:
        print_json(found)
        return
    _print_deployment(found)


def _follow_version(
    client: LensforgeClient, deployment: Deployment, version: DeploymentVersion, timeout: float
) -> DeploymentVersion:
    from lensforge.client._polling import poll_until
    from lensforge.client.errors import LensforgeError

    def fetch() -> DeploymentVersion:
        listed = client.deployments.versions(deployment.id)
        return next((v for v in listed if v.number == version.number), version)

    try:
        with err_console.status(f"version {version.number}: {status(version.status)}") as spinner:
            return poll_until(
                fetch,
                lambda v: v.status in ("ready", "failed"),
                poll_interval=POLL_SECONDS,
                timeout=timeout,
                on_poll=lambda v: spinner.update(f"version {v.number}: {status(v.status)}"),
                timed_out=lambda: LensforgeError(
                    f"version {version.number} is not ready after {timeout:g} s; it goes on",
                    code="wait_timeout",
                ),
            )
    except KeyboardInterrupt:
        err_console.print("stopped watching; the new version goes on on the server")
        raise typer.Exit(EXIT_INTERRUPTED) from None


@app.command()
def rollback(
    deployment: DeploymentArgument,
    version: Annotated[
        int | None, typer.Option(min=1, help="The version to go back to (default: previous).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Make an earlier version current again."""
    with open_client() as client:
        done = client.deployments.rollback(find_deployment(client, deployment).id, version=version)
    if as_json:
        print_json(done)
        return
    console.print(
        f"deployment [bold]{escape(done.name)}[/] now serves version {done.current_version}"
    )


def _parse_when(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is not a date (YYYY-MM-DD or ISO 8601)", param_hint=option
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@app.command()
def usage(
    deployment: DeploymentArgument,
    group: Annotated[str, typer.Option(help="day or hour.")] = "day",
    start: Annotated[str | None, typer.Option(help="From (YYYY-MM-DD or ISO 8601, UTC).")] = None,
    end: Annotated[str | None, typer.Option(help="Until (YYYY-MM-DD or ISO 8601, UTC).")] = None,
    csv: Annotated[
        Path | None, typer.Option("--csv", dir_okay=False, help="Write the rows as CSV here.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Requests, errors, images, bytes and latency of a deployment per day or hour."""
    if group not in ("day", "hour"):
        raise typer.BadParameter(f"{group!r}: choose day or hour", param_hint="--group")
    since, until = _parse_when(start, "--start"), _parse_when(end, "--end")
    with open_client() as client:
        found = find_deployment(client, deployment)
        if csv is not None:
            text = client.deployments.usage_csv(found.id, group=group, start=since, end=until)
            csv.write_text(text)
            console.print(f"wrote {len(text.splitlines()) - 1} row(s) to {escape(str(csv))}")
            return
        answer = client.deployments.usage(found.id, group=group, start=since, end=until)
    if as_json:
        print_json(answer)
        return
    if not answer.rows:
        console.print(f"no requests to {escape(found.name)} in this period")
        return
    table = Table(
        "Period",
        Column("Requests", justify="right"),
        Column("Errors", justify="right"),
        Column("Images", justify="right"),
        Column("In", justify="right"),
        Column("Out", justify="right"),
        Column("Compute s", justify="right"),
        Column("p50 ms", justify="right"),
        Column("p95 ms", justify="right"),
        title=f"usage of {escape(found.name)} per {group}",
    )
    for row in answer.rows:
        table.add_row(
            row.period.astimezone(UTC).strftime("%Y-%m-%d" if group == "day" else "%Y-%m-%d %H:00"),
            str(row.requests),
            str(row.errors),
            str(row.images),
            _bytes(row.bytes_in),
            _bytes(row.bytes_out),
            f"{row.compute_ms / 1000:.1f}",
            _ms(row.p50_total_ms),
            _ms(row.p95_total_ms),
        )
    console.print(table)


def _bytes(value: int) -> str:
    from rich.filesize import decimal

    return decimal(value)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


@app.command()
def delete(
    deployment: DeploymentArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a deployment (its usage records are kept)."""
    with open_client() as client:
        found = find_deployment(client, deployment)
        if not yes and not typer.confirm(f"Delete deployment {found.name}?"):
            raise typer.Exit(EXIT_FAILURE)
        client.deployments.delete(found.id)
    console.print(f"deleted deployment [bold]{escape(found.name)}[/]")


# --- keys ------------------------------------------------------------------------------------


@keys_app.command("create")
def create_key(
    deployment: DeploymentArgument,
    name: Annotated[str, typer.Option("--name", "-n", help="What the key is for.")] = "client",
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope", help="deployment:infer (default) and/or deployment:read; repeatable."
        ),
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="Expire after this many days (default: never).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create a key that reaches only this deployment. Its secret is printed once."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with open_client() as client:
        found = find_deployment(client, deployment)
        created = client.deployments.create_key(
            found.id, name, scopes=scope or None, expires_at=expires_at
        )
    if as_json:
        print_json(created)
        return
    console.print(
        Panel(
            f"[bold]{escape(created.name)}[/] ({created.id}) for {escape(found.name)}\n"
            f"scopes: {escape(', '.join(created.scopes))}   expires: {when(created.expires_at)}\n\n"
            "[bold yellow]Copy the key now: it will not be shown again.[/]",
            title="API key created",
            expand=False,
        )
    )
    console.print(created.secret, markup=False, highlight=False, soft_wrap=True)


@keys_app.command("list")
def list_keys(deployment: DeploymentArgument, as_json: JsonOption = False) -> None:
    """The keys restricted to this deployment."""
    with open_client() as client:
        found = find_deployment(client, deployment)
        keys = client.deployments.keys(found.id)
    if as_json:
        print_json(keys)
        return
    if not keys:
        console.print(
            f"no keys for {escape(found.name)}; create one with "
            f"`lensforge deployments keys create {escape(found.name)}`"
        )
        return
    console.print(keys_table(keys))


@keys_app.command("rotate")
def rotate_key(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `keys list`).")],
    overlap_seconds: Annotated[
        int | None, typer.Option(min=0, help="How long the old key keeps working (default 1 day).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Replace a key: a new secret (printed once); the old one works until the overlap ends."""
    with open_client() as client:
        created = client.deployments.rotate_key(key_id, overlap_seconds=overlap_seconds)
    if as_json:
        print_json(created)
        return
    console.print(f"rotated key [bold]{escape(created.name)}[/]; the new key ({created.id}):")
    console.print(created.secret, markup=False, highlight=False, soft_wrap=True)


# --- infer -----------------------------------------------------------------------------------


def infer(
    deployment: DeploymentArgument,
    images: Annotated[
        list[Path],
        typer.Argument(
            help=f"Images (jpg, png, webp, bmp; up to {MAX_IMAGES}).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    conf: Annotated[
        float | None, typer.Option(min=0.0, max=1.0, help="Confidence threshold.")
    ] = None,
    iou: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="NMS IoU threshold.")] = None,
    max_det: Annotated[int | None, typer.Option(min=1, help="Detections per image.")] = None,
    save_dir: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="Write <image>.jpg with the predictions drawn, and results.json, here.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the raw answer.")] = False,
) -> None:
    """Predictions of a deployment on images (see `INFER_HELP`)."""
    if len(images) > MAX_IMAGES:
        raise typer.BadParameter(
            f"{len(images)} images given; send {MAX_IMAGES} at a time", param_hint="IMAGES"
        )
    unsupported = [path.name for path in images if path.suffix.lower() not in IMAGE_SUFFIXES]
    if unsupported:
        raise typer.BadParameter(
            f"{', '.join(unsupported)}: only {', '.join(IMAGE_SUFFIXES)} images are accepted",
            param_hint="IMAGES",
        )
    with open_client() as client:
        found = find_deployment(client, deployment)
        with err_console.status(f"sending {len(images)} image(s) to {escape(found.name)}…"):
            answer = client.deployments.infer(
                found,
                images,
                conf=conf,
                iou=iou,
                max_det=max_det,
                render=save_dir is not None,
            )
    if save_dir is not None:
        _save(answer, images, save_dir)
    if as_json:
        print_json(answer)
        return
    for result in answer.results:
        console.print(result_table(result))
    console.print(
        f"{escape(answer.deployment)} version {answer.version}, request {answer.request_id}",
        style="dim",
    )
    if save_dir is not None:
        console.print(
            f"saved {len(answer.results)} rendered image(s) and results.json to "
            f"{escape(str(save_dir))}"
        )


def _save(answer: InferAnswer, images: list[Path], folder: Path) -> None:
    """`<image stem>.jpg` per image (a number added when two stems clash) and results.json;
    drawn by the server, or here when it did not send the rendered images."""
    folder.mkdir(parents=True, exist_ok=True)
    rendered = answer.rendered_images()
    used: set[str] = set()
    for index, (result, source) in enumerate(zip(answer.results, images, strict=False)):
        stem = source.stem or f"image-{index}"
        name, count = stem, 1
        while name in used:
            count += 1
            name = f"{stem}-{count}"
        used.add(name)
        if index < len(rendered):
            (folder / f"{name}.jpg").write_bytes(rendered[index])
        else:
            (folder / f"{name}.png").write_bytes(_render_here(source, result))
    dumped = [result.model_dump(mode="json", exclude_none=True) for result in answer.results]
    (folder / "results.json").write_text(json.dumps(dumped, indent=2) + "\n")


def _render_here(source: Path, result: ImageResult) -> bytes:
    from lensforge.inference import render, results

    parsed = results.ImageResult.model_validate(result.model_dump(mode="json", exclude_none=True))
    return render.render_png(source, parsed)
