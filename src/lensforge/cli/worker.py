"""`lensforge worker`: run a local worker that claims queued jobs and runs their trainers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from lensforge.cli._data_dir import describe_database, server_settings
from lensforge.cli.output import console, fail
from lensforge.config import Settings


def _parse_gpus(value: str) -> list[int]:
    try:
        return [int(part) for part in value.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter("GPU indices separated by commas, e.g. 0,1") from None


def worker_settings(
    queue: list[str] | None,
    cpu_slots: int | None,
    gpus: str | None,
    name: str | None,
    data_dir: Path | None,
) -> Settings:
    settings = server_settings(data_dir, needs_database=True)
    overrides: dict[str, object] = {}
    if queue:
        overrides["queues"] = queue
    if cpu_slots is not None:
        overrides["cpu_slots"] = cpu_slots
    if gpus is not None:
        overrides["gpus"] = _parse_gpus(gpus)
    if name is not None:
        overrides["name"] = name
    return settings.model_copy(update={"worker": settings.worker.model_copy(update=overrides)})


def worker(
    queue: Annotated[
        list[str] | None,
        typer.Option(
            "--queue", "-q", help="Queue to take jobs from (repeatable; default: default)."
        ),
    ] = None,
    cpu_slots: Annotated[
        int | None, typer.Option(min=0, help="Jobs' CPU slots this worker offers (default 1).")
    ] = None,
    gpus: Annotated[
        str | None, typer.Option(help="GPU indices this worker may hand out, e.g. 0,1.")
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(help="Stable worker name (default: <hostname>-<data directory hash>)."),
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option(help="Where the embedded database and job folders live.")
    ] = None,
    orchestrator: Annotated[
        str | None,
        typer.Option(
            help="local (claim jobs from the database) or temporal (poll Temporal task queues; "
            "see docs/deployment.md). Default: the `orchestrator` setting."
        ),
    ] = None,
) -> None:
    """Run a worker: claim queued jobs, run their trainers, supervise and recover them."""
    from lensforge.kit.db import create_db_engine, create_session_factory
    from lensforge.logging import configure_logging
    from lensforge.orchestration.local import LocalWorker
    from lensforge.orchestration.local.registration import NameInUse
    from lensforge.trainers.registry import load_registry

    settings = worker_settings(queue, cpu_slots, gpus, name, data_dir)
    if orchestrator is not None:
        if orchestrator not in ("local", "temporal"):
            raise typer.BadParameter("local or temporal", param_hint="--orchestrator")
        settings = settings.model_copy(update={"orchestrator": orchestrator})
    configure_logging(settings.log_level, json=settings.log_json)
    if settings.orchestrator == "temporal":
        _run_temporal_worker(settings)
        return
    engine = create_db_engine(settings.database_url, pool_size=2)
    local = LocalWorker(
        settings, create_session_factory(engine), load_registry(settings.trainers.plugin_dirs)
    )

    def _stop(signum: int, _frame: FrameType | None) -> None:
        console.print(f"{signal.Signals(signum).name}: stopping; running jobs will be resumed")
        local.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    console.print(
        f"[bold]worker[/] {local.name}: queues {', '.join(local.queues)}, "
        f"{settings.worker.cpu_slots} CPU slot(s), GPUs {settings.worker.gpus or 'none'}"
    )
    console.print(f"database: {describe_database(settings)}", soft_wrap=True)
    try:
        local.run()
    except NameInUse as exc:
        fail(str(exc))
    finally:
        engine.dispose()


def _run_temporal_worker(settings: Settings) -> None:
    import asyncio

    from lensforge.kit.db import create_db_engine, create_session_factory
    from lensforge.orchestration.temporal.worker import TemporalWorker
    from lensforge.trainers.registry import load_registry

    engine = create_db_engine(settings.database_url, pool_size=4)
    temporal = TemporalWorker(
        settings, create_session_factory(engine), load_registry(settings.trainers.plugin_dirs)
    )
    console.print(
        f"[bold]temporal worker[/] {temporal.name}: task queues {', '.join(temporal.queues)} "
        f"on {settings.temporal.host} ({settings.temporal.namespace}), "
        f"{settings.worker.cpu_slots} CPU slot(s), GPUs {settings.worker.gpus or 'none'}"
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()

        def _stop(signum: signal.Signals) -> None:
            console.print(f"{signum.name}: stopping; running jobs will be resumed elsewhere")
            stop.set()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, _stop, signum)
        await temporal.run(stop)

    try:
        asyncio.run(main())
    finally:
        engine.dispose()


class EmbeddedWorker:
    """The worker `lensforge up` runs beside the API server, as a child process rather than a
    thread: a trainer (or the worker) crashing, leaking or being killed by the OOM killer must
    never take the API down. The child is restarted when it dies (with a growing delay), and
    stopped gracefully (SIGTERM: its jobs are re-queued for the next start) with the server."""

    _MAX_DELAY = 30.0
    _HEALTHY_AFTER = 60.0

    def __init__(self, settings: Settings, extra_env: dict[str, str] | None = None) -> None:
        self._env = {
            **os.environ,
            "LENSFORGE_DATA_DIR": str(settings.data_dir),
            "LENSFORGE_SERVER__HOST": settings.server.host,
            "LENSFORGE_SERVER__PORT": str(settings.server.port),
            **(extra_env or {}),
        }
        self._grace = settings.worker.kill_grace_seconds + 5.0
        self._stopping = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._supervise, name="embedded-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        from lensforge.orchestration.local.processes import die_with_parent

        return subprocess.Popen(
            [sys.executable, "-c", "from lensforge.cli.main import run; run()", "worker"],
            env=self._env,
            # Its own session: the terminal's Ctrl-C reaches `up`, which then stops it in order.
            start_new_session=True,
            # Dies with `up` even on kill -9; its trainers die with it in turn.
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - see die_with_parent
        )

    def _supervise(self) -> None:
        delay = 1.0
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process = self._spawn()
            started = time.monotonic()
            code = self._process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > self._HEALTHY_AFTER:
                delay = 1.0
            console.print(f"[yellow]the worker exited ({code}); restarting in {delay:.0f} s[/]")
            self._stopping.wait(delay)
            delay = min(delay * 2, self._MAX_DELAY)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=self._grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
