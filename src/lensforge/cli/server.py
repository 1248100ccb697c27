"""`lensforge server` (API only) and `lensforge up` (everything one machine needs)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
import uvicorn

from lensforge.cli._data_dir import describe_database, server_record, server_settings
from lensforge.cli.output import console, fail
from lensforge.config import Environment, Settings
from lensforge.errors import ConfigurationError

if TYPE_CHECKING:
    from lensforge.cli.serve import SupervisedChild


def _settings(host: str | None, port: int | None, data_dir: Path | None) -> Settings:
    overrides: dict[str, object] = {}
    # The server itself: a running server is not a reason to look elsewhere, nor is a
    # database that does not exist yet (it creates it).
    settings = server_settings(data_dir, needs_database=False, with_servers=False)
    server = settings.server.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    overrides["server"] = server
    return settings.model_copy(update=overrides)


def _serve(settings: Settings) -> None:
    from lensforge.app import create_app

    try:
        _ = settings.secret_key
    except ConfigurationError as exc:
        fail(exc.message)
    app = create_app(settings)
    with server_record(settings):
        uvicorn.run(
            app,
            host=settings.server.host,
            port=settings.server.port,
            log_config=None,
            proxy_headers=True,
            forwarded_allow_ips="127.0.0.1",
        )


def this_command() -> str:
    """How to run the `lensforge` that is running now, from any directory: `lensforge` when that
    is the one on PATH, else its absolute path (`./scripts/up` runs `.venv/bin/lensforge` from
    the repository's root, which need not be the user's current directory), so that a command
    printed for the user works exactly as printed."""
    program = Path(sys.argv[0]).absolute()
    if program.name != "lensforge" or not program.is_file():
        return "lensforge"
    on_path = shutil.which("lensforge")
    if on_path is not None and Path(on_path).absolute() == program:
        return "lensforge"
    return str(program)


HostOption = Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(help="Port to bind (default 8000).")]
DataDirOption = Annotated[
    Path | None, typer.Option(help="Where the embedded database, objects and secrets live.")
]


def server(
    host: HostOption = None, port: PortOption = None, data_dir: DataDirOption = None
) -> None:
    """Run the API server only (for deployments with separate workers)."""
    _serve(_settings(host, port, data_dir))


def up(
    host: HostOption = None,
    port: PortOption = None,
    data_dir: DataDirOption = None,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not run a local worker beside the server.")
    ] = False,
    no_serve: Annotated[
        bool,
        typer.Option(
            "--no-serve", help="Do not run the serving process (deployments' predictions)."
        ),
    ] = False,
    orchestrator: Annotated[
        str | None,
        typer.Option(
            help="local (default) or temporal: an embedded Temporal dev server, and the "
            "worker polling it (try the cluster backend on one machine)."
        ),
    ] = None,
) -> None:
    """Run everything one machine needs: the API server on the embedded defaults, a local
    worker (a supervised child process) that runs the training jobs, and the serving process
    (another supervised child) that answers the deployments' predictions."""
    settings = _settings(host, port, data_dir)
    if orchestrator is not None:
        if orchestrator not in ("local", "temporal"):
            raise typer.BadParameter("local or temporal", param_hint="--orchestrator")
        settings = settings.model_copy(update={"orchestrator": orchestrator})
    serving = None if no_serve else _start_serving(settings)
    try:
        _up(settings, no_worker=no_worker, serving=serving is not None)
    finally:
        if serving is not None:
            serving.stop()


def _start_serving(settings: Settings) -> SupervisedChild:
    from lensforge.cli.serve import embedded_serving

    child = embedded_serving(settings)
    child.start()
    return child


def _serving_line(settings: Settings, serving: bool) -> None:
    from lensforge.cli.serve import serving_url

    if serving:
        console.print(f"  serving:        {serving_url(settings)} (predictions: /v2, /v1/infer)")
    else:
        console.print("  serving:        none (--no-serve); run `lensforge serve` elsewhere")


def _up(settings: Settings, *, no_worker: bool, serving: bool) -> None:
    if settings.orchestrator == "temporal":
        _up_with_temporal(settings, no_worker, serving)
        return
    console.print(f"[bold]Lensforge[/] on {settings.public_url}")
    console.print(f"  data directory: {settings.data_dir}")
    console.print(f"  database:       {describe_database(settings)}")
    console.print(f"  storage:        {settings.storage.backend}")
    if settings.env is Environment.DEVELOPMENT:
        console.print("  [yellow]development mode[/]")
    console.print(f"  API docs:       {settings.public_url}/api/v1/docs")
    _serving_line(settings, serving)
    console.print(
        f"  First time? Create your account: `{this_command()} users create-admin`, or sign "
        f"up at {settings.public_url}",
        soft_wrap=True,  # one line, so that it can be copied as it is
    )
    if no_worker:
        console.print("  worker:         none (--no-worker); run `lensforge worker` elsewhere")
        _serve(settings)
        return
    from lensforge.cli.worker import EmbeddedWorker

    console.print("  worker:         a local worker process (jobs run on this machine)")
    embedded = EmbeddedWorker(settings)
    embedded.start()
    try:
        _serve(settings)
    finally:
        embedded.stop()


def _up_with_temporal(settings: Settings, no_worker: bool, serving: bool) -> None:
    """`up` with the Temporal backend: the dev server (state in the data directory), the API
    server starting workflows on it, and a Temporal worker child polling its task queue."""
    from lensforge.cli.worker import EmbeddedWorker
    from lensforge.orchestration.temporal.devserver import DevServer, SupervisedDevServer

    temporal = settings.temporal
    db_file = Path(temporal.dev_server_db or settings.data_dir / "temporal" / "temporal.db")
    # Watched and restarted when it dies; `/ready` reports Temporal unreachable meanwhile.
    dev = SupervisedDevServer(
        DevServer(db_file, port=temporal.dev_server_port, ui_port=temporal.dev_server_ui_port)
    )
    ui_url = temporal.ui_url or (
        f"http://127.0.0.1:{temporal.dev_server_ui_port}" if temporal.dev_server_ui_port else ""
    )
    settings = settings.model_copy(
        update={"temporal": temporal.model_copy(update={"host": dev.address, "ui_url": ui_url})}
    )
    console.print(f"[bold]Lensforge[/] on {settings.public_url} (Temporal backend)")
    console.print(f"  data directory: {settings.data_dir}")
    console.print(f"  temporal:       dev server on {dev.address}, state in {db_file}")
    if ui_url:
        console.print(f"  temporal UI:    {ui_url}")
    console.print(f"  API docs:       {settings.public_url}/api/v1/docs")
    _serving_line(settings, serving)
    try:
        dev.start()
    except (RuntimeError, ConfigurationError) as exc:
        dev.stop()
        fail(str(exc))
    embedded = None
    if not no_worker:
        console.print(f"  worker:         a Temporal worker on task queue {temporal.task_queue}")
        embedded = EmbeddedWorker(
            settings,
            {"LENSFORGE_ORCHESTRATOR": "temporal", "LENSFORGE_TEMPORAL__HOST": dev.address},
        )
        embedded.start()
    try:
        _serve(settings)
    finally:
        if embedded is not None:
            embedded.stop()
        dev.stop()
