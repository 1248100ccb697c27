"""The server-side commands act on the data of the running server, with real processes: `lensforge
up` started as `./scripts/up` starts it (LENSFORGE_DATA_DIR=./.lensforge, an empty home), then
the commands its banner and the README suggest, run as printed, without the variable."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from lensforge.cli._data_dir import server_record
from lensforge.config import Settings
from lensforge.trainers.environments import environment_key, envs_dir
from lensforge.trainers.registry import load_registry
from tests.fixtures.app import STRONG_PASSWORD

pytestmark = pytest.mark.xdist_group("subprocess-server")

BIN = Path(sys.executable).parent
LENSFORGE = BIN / "lensforge"
WARM_UV_CACHE = Path(__file__).parents[2] / ".cache" / "uv-cache"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(home: Path) -> dict[str, str]:
    """This machine's environment without any Lensforge or XDG setting, with an empty home:
    a new user's shell."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("LENSFORGE_", "XDG_", "VIRTUAL_ENV"))
    }
    # `lensforge` is not on PATH, as after `./scripts/up`: it is `.venv/bin/lensforge`.
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and Path(p) != BIN]
    return env | {"HOME": str(home), "PATH": os.pathsep.join(path)}


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


@dataclass
class Up:
    url: str
    project: Path
    env: dict[str, str]
    log: Path


@pytest.fixture
def up(tmp_path: Path) -> Iterator[Up]:
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    env = clean_env(home)
    port = _free_port()
    log = tmp_path / "up.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(LENSFORGE), "up", "--port", str(port)],
            cwd=project,
            # Its serving child on a free port too: parallel tests would all want 8001.
            env=env
            | {"LENSFORGE_DATA_DIR": "./.lensforge", "LENSFORGE_SERVING__PORT": str(_free_port())},
            stdout=out,
            stderr=subprocess.STDOUT,
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
            yield Up(url, project, env, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def banner_command(log: Path) -> list[str]:
    """The create-admin command the banner of `up` suggests, as printed (with the absolute
    path of the executable, since it is not on PATH)."""
    found = re.search(r"`([^`]*users create-admin)`", log.read_text())
    assert found, log.read_text()
    return found.group(1).split()


def create_admin(command: list[str], email: str, cwd: Path, env: dict[str, str]) -> str:
    done = run(
        [*command, "--email", email, "--display-name", "Owner"],
        cwd,
        env | {"LENSFORGE_ADMIN_PASSWORD": STRONG_PASSWORD},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def login(up: Up, email: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return run(
        [str(LENSFORGE), "login", "--url", up.url, "--email", email],
        cwd,
        up.env | {"LENSFORGE_PASSWORD": STRONG_PASSWORD},
    )


def test_create_admin_as_the_banner_says_writes_where_the_server_reads(
    up: Up, tmp_path: Path
) -> None:
    command = banner_command(up.log)
    assert command == [str(LENSFORGE), "users", "create-admin"]
    out = create_admin(command, "owner@example.com", up.project, up.env)
    database = (up.project / ".lensforge" / "lensforge.db").resolve()
    assert f"database: {database}" in " ".join(out.split())
    logged_in = login(up, "owner@example.com", up.project)
    assert logged_in.returncode == 0, logged_in.stdout + logged_in.stderr
    # Nothing went to the platform's default data directory of the (empty) home.
    assert not (tmp_path / "home" / ".local" / "share" / "lensforge").exists()

    # From anywhere else, the running server's record says where its data is.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    create_admin([str(LENSFORGE), "users", "create-admin"], "second@example.com", elsewhere, up.env)
    assert login(up, "second@example.com", elsewhere).returncode == 0


def test_trainers_install_builds_where_the_worker_of_up_looks(up: Up) -> None:
    env = up.env
    if WARM_UV_CACHE.is_dir():  # where the packages come from; not where the env goes
        env = env | {"LENSFORGE_TRAINERS__UV_CACHE_DIR": str(WARM_UV_CACHE.resolve())}
    done = run([str(LENSFORGE), "trainers", "install", "reference"], up.project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    # The worker `up` runs gets the server's data directory and nothing else.
    worker = Settings(data_dir=(up.project / ".lensforge").resolve())
    manifest = load_registry(worker.trainers.plugin_dirs).get("reference").manifest
    expected = envs_dir(worker) / environment_key(manifest, worker.trainers) / "bin" / "python"
    assert f"runs with {expected}" in " ".join(done.stdout.split())
    assert expected.exists()


def test_refuses_when_no_server_database_is_found(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    for args in (["users", "create-admin"], ["db", "current"], ["trainers", "install", "x"]):
        done = run(
            [str(LENSFORGE), *args, "--email", "a@example.com", "--display-name", "A"][
                : len(args) + (5 if args[0] == "users" else 1)
            ],
            cwd,
            clean_env(home) | {"LENSFORGE_ADMIN_PASSWORD": STRONG_PASSWORD},
        )
        assert done.returncode == 1, (args, done.stdout, done.stderr)
        message = " ".join(done.stderr.split())
        assert "no Lensforge database in" in message
        assert "--data-dir DIR or LENSFORGE_DATA_DIR=DIR" in message
    assert not (home / ".local" / "share" / "lensforge" / "lensforge.db").exists()


def test_refuses_when_several_data_directories_could_be_meant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    (cwd / ".lensforge").mkdir(parents=True)
    home.mkdir()
    # A running server (this process, announced as `up` announces itself) on other data.
    monkeypatch.setenv("HOME", str(home))
    for key in [k for k in os.environ if k.startswith("XDG_")]:
        monkeypatch.delenv(key)
    with server_record(Settings(data_dir=tmp_path / "other")):
        done = run([str(LENSFORGE), "db", "current"], cwd, clean_env(home))
        explicit = run(
            [str(LENSFORGE), "db", "current", "--data-dir", str(tmp_path / "other")],
            cwd,
            clean_env(home),
        )
    assert done.returncode == 1
    message = " ".join(done.stderr.split())
    assert "several Lensforge data directories could be meant" in message
    assert str((cwd / ".lensforge").resolve()) in message
    assert str(tmp_path / "other") in message
    # Named explicitly, it is used (and an empty database reported, not refused).
    assert explicit.returncode == 0, explicit.stderr
    assert "current: empty" in explicit.stdout
