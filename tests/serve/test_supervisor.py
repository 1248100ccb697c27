"""`lensforge up` runs the serving process as a supervised child: a real `lensforge serve`,
killed, comes back by itself; stopping `up` stops it."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest

from lensforge.cli.serve import SupervisedChild, embedded_serving
from lensforge.config import Settings
from lensforge.kit import migrate
from lensforge.kit.db import create_db_engine


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_live(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{url}/v2/health/ready", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never became ready"
        time.sleep(0.1)


def test_a_killed_serving_process_is_restarted_and_stopped_with_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "data"
    engine = create_db_engine(f"sqlite:///{data / 'lensforge.db'}")
    migrate.upgrade(engine)
    engine.dispose()
    port = _free_port()
    settings = Settings.model_validate(
        {"data_dir": str(data), "serving": {"host": "127.0.0.1", "port": port}}
    )
    monkeypatch.setenv("LENSFORGE_SECURITY__SECRET_KEY", secrets.token_urlsafe(48))
    child: SupervisedChild = embedded_serving(settings, first_delay=0.1)
    url = f"http://127.0.0.1:{port}"
    child.start()
    try:
        _wait_live(url)
        first = child.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        _wait_live(url)
        assert child.pid != first
        assert child.starts == 2
    finally:
        child.stop()
    last = child.pid
    assert last is not None
    try:
        os.kill(last, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive
    try:
        httpx.get(f"{url}/v2/health/live", timeout=1)
        raise AssertionError("the serving process still answers after stop")
    except httpx.TransportError:
        pass
