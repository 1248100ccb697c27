"""Fixtures for the browser tests: a real `lensforge up` (server and local worker running the
reference trainer) and Debian's Chromium driven by Playwright, headless, with screenshots."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.fixtures.shared_data import REPOSITORY

CHROMIUM = os.environ.get("LENSFORGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = REPOSITORY / ".test-artifacts" / "screenshots"
VIEWPORT = {"width": 1440, "height": 900}  # a laptop screen


@dataclass(frozen=True)
class UpServer:
    url: str
    data_dir: Path
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def up_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpServer]:
    """`lensforge up` in a subprocess: the server and a local worker that runs the reference
    trainer in the current environment (no per-trainer virtualenv to build)."""
    root = tmp_path_factory.mktemp("up")
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LENSFORGE_")}
    env |= {
        "LENSFORGE_DATA_DIR": str(root / "data"),
        "LENSFORGE_TRAINERS__ENVIRONMENT": "current",
        "LENSFORGE_WORKER__POLL_INTERVAL_SECONDS": "0.2",
        "LENSFORGE_WORKER__HEARTBEAT_INTERVAL_SECONDS": "0.5",
        "LENSFORGE_WORKER__KILL_GRACE_SECONDS": "2",
        # Its serving child on a free port too: parallel tests would all want 8001.
        "LENSFORGE_SERVING__PORT": str(_free_port()),
    }
    log = root / "server.log"
    lensforge = Path(sys.executable).parent / "lensforge"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(lensforge), "up", "--port", str(port)], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/api/v1/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"lensforge up did not become ready:\n{log.read_text()}")
            time.sleep(0.2)
        yield UpServer(url=url, data_dir=root / "data", log=log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"Chromium is not at {CHROMIUM}: `apt-get install -y chromium` "
            "(./scripts/test does it when it runs as root), or set LENSFORGE_TEST_CHROMIUM"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


class Screens:
    """Saves named screenshots of the key pages under .test-artifacts/screenshots/."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(self, page: Page, name: str, *, full_page: bool = False) -> Path:
        path = SCREENSHOTS / f"{self.prefix}-{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path
