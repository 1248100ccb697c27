"""`lensforge serve`: the serving process alone (deployments behind the inference protocol and
the image API), and the supervised child `lensforge up` runs it as."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from lensforge.cli._data_dir import server_settings
from lensforge.cli.output import console, fail
from lensforge.config import Settings
from lensforge.errors import ConfigurationError

HostOption = Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")]
PortOption = Annotated[int | None, typer.Option(help="Port to bind (default 8001).")]
DataDirOption = Annotated[
    Path | None, typer.Option(help="Where the embedded database, objects and secrets live.")
]


def serve_settings(host: str | None, port: int | None, data_dir: Path | None) -> Settings:
    settings = server_settings(data_dir, needs_database=True, with_servers=False)
    serving = settings.serving.model_copy(
        update={k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    )
    return settings.model_copy(update={"serving": serving})


def serving_url(settings: Settings) -> str:
    if settings.serving.public_url:
        return settings.serving.public_url.rstrip("/")
    return f"http://{settings.serving.host}:{settings.serving.port}"


def serve(host: HostOption = None, port: PortOption = None, data_dir: DataDirOption = None) -> None:
    """Run the serving process: every ready, active deployment answers predictions (OIP v2 at
    /v2, the image API at /v1/infer). Run as many as you like behind a load balancer."""
    settings = serve_settings(host, port, data_dir)
    run_serving(settings)


def run_serving(settings: Settings) -> None:
    import uvicorn

    from lensforge.serve.app import create_serve_app

    try:
        _ = settings.secret_key  # access tokens are checked with it
    except ConfigurationError as exc:
        fail(exc.message)
    console.print(f"[bold]Lensforge serving[/] on {serving_url(settings)}")
    uvicorn.run(
        create_serve_app(settings),
        host=settings.serving.host,
        port=settings.serving.port,
        log_config=None,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
    )


class SupervisedChild:
    """A child process restarted whenever it dies (with a growing delay, reset once it has run
    a while), stopped with SIGTERM (then SIGKILL after `grace` seconds). `lensforge up` runs the
    serving process this way, so that a crash or an out-of-memory kill in a model never takes
    the API down, and the predictions come back by themselves."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        name: str,
        env: dict[str, str] | None = None,
        first_delay: float = 1.0,
        max_delay: float = 30.0,
        healthy_after: float = 60.0,
        grace: float = 10.0,
    ) -> None:
        self._argv = list(argv)
        self._name = name
        self._env = env
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._healthy_after = healthy_after
        self._grace = grace
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self._thread = threading.Thread(
            target=self._supervise, name=f"supervise-{name}", daemon=True
        )

    @property
    def pid(self) -> int | None:
        with self._lock:
            return None if self._process is None else self._process.pid

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        from lensforge.orchestration.local.processes import die_with_parent

        return subprocess.Popen(  # noqa: S603 - our own argv
            self._argv,
            env=self._env,
            start_new_session=True,  # Ctrl-C reaches `up`, which stops it in order
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - dies with `up` even on kill -9
        )

    def _supervise(self) -> None:
        delay = self._first_delay
        while not self._stopping.is_set():
            with self._lock:
                if self._stopping.is_set():
                    return
                self._process = self._spawn()
                self.starts += 1
                process = self._process
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > self._healthy_after:
                delay = self._first_delay
            console.print(
                f"[yellow]the {self._name} exited ({code}); restarting in {delay:.0f} s[/]"
            )
            self._stopping.wait(delay)
            delay = min(delay * 2, self._max_delay)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=self._grace)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._thread.join(timeout=self._grace + 5)


def embedded_serving(settings: Settings, *, first_delay: float = 1.0) -> SupervisedChild:
    """The serving process `lensforge up` runs beside the API server."""
    env = {
        **os.environ,
        "LENSFORGE_DATA_DIR": str(settings.data_dir),
        "LENSFORGE_SERVING__HOST": settings.serving.host,
        "LENSFORGE_SERVING__PORT": str(settings.serving.port),
    }
    argv = [sys.executable, "-c", "from lensforge.cli.main import run; run()", "serve"]
    return SupervisedChild(argv, name="serving process", env=env, first_delay=first_delay)
