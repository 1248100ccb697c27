"""The README's first command, for real: `lensforge up` in a subprocess on the embedded defaults,
then the issue's walk with plain HTTP: ready → sign-up → login → project → API key → use it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fixtures.app import STRONG_PASSWORD

pytestmark = pytest.mark.xdist_group("subprocess-server")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def running_up(tmp_path: Path) -> Iterator[str]:
    port = _free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("LENSFORGE_")} | {
        "LENSFORGE_DATA_DIR": str(tmp_path / "data"),
        # Its serving child on a free port too: parallel tests would all want 8001.
        "LENSFORGE_SERVING__PORT": str(_free_port()),
    }
    lensforge = Path(sys.executable).parent / "lensforge"
    log = (tmp_path / "server.log").open("wb")
    process = subprocess.Popen(
        [str(lensforge), "up", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/v1/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                log.flush()
                pytest.fail(
                    f"lensforge up did not become ready:\n{(tmp_path / 'server.log').read_text()}"
                )
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_up_serves_the_whole_account_walk(running_up: str, tmp_path: Path) -> None:
    base = f"{running_up}/api/v1"
    ready = httpx.get(f"{base}/ready").json()
    assert ready["checks"] == {"database": "ok", "storage": "ok"}
    # The embedded defaults: SQLite file and object folder inside the data directory,
    # and a generated secret readable by the owner only.
    data = tmp_path / "data"
    assert (data / "lensforge.db").exists()
    assert (data / "secret_key").stat().st_mode & 0o777 == 0o600

    signup = httpx.post(
        f"{base}/auth/signup",
        json={"email": "owner@example.com", "password": STRONG_PASSWORD, "display_name": "Owner"},
    )
    assert signup.status_code == 201, signup.text
    tokens = httpx.post(
        f"{base}/auth/login", json={"email": "owner@example.com", "password": STRONG_PASSWORD}
    ).json()
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    project = httpx.post(f"{base}/projects", json={"name": "Raccoons"}, headers=bearer)
    assert project.status_code == 201
    key = httpx.post(f"{base}/api-keys", json={"name": "ci"}, headers=bearer).json()["secret"]
    listed = httpx.get(f"{base}/projects", headers={"Authorization": f"Bearer {key}"})
    assert listed.status_code == 200
    assert [p["name"] for p in listed.json()["items"]] == ["Raccoons"]
    docs = httpx.get(f"{base}/openapi.json").json()
    assert "/api/v1/projects" in docs["paths"]
