"""A real server that can be stopped and started again on the same port, and the worker's side
of an attempt (claim, environment, directories) done with the worker's own functions."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.app import create_app
from lensforge.config import Settings
from lensforge.kit.db import create_db_engine, create_session_factory, transaction
from lensforge.models import JobReport
from lensforge.orchestration.local.claim import Claim, claim_next
from lensforge.orchestration.local.launcher import prepare_dirs, trainer_environment
from lensforge.orchestration.local.paths import attempt_dir
from lensforge.orchestration.local.slots import Allocation
from tests.datasets.importing import create_dataset, create_project, import_archive, zip_folder
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import ThreadedServer
from tests.sdk.synthetic import halves


class RestartableServer:
    """uvicorn serving `create_app(settings)` on a fixed local port; `stop()` closes the port
    (clients get connection refused), `start()` serves again there with a fresh app."""

    def __init__(self, settings: Settings) -> None:
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings.model_copy(
            update={"server": settings.server.model_copy(update={"public_url": self.url})}
        )
        self._running: ThreadedServer | None = None

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self._running = ThreadedServer.start(create_app(self.settings, run_migrations=False), sock)

    def stop(self) -> None:
        if self._running is not None:
            self._running.stop()
            self._running = None


@contextmanager
def restartable(settings: Settings) -> Iterator[RestartableServer]:
    server = RestartableServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Attempt:
    claim: Claim
    env: dict[str, str]
    cwd: Path


class World:
    """A user on a live server, datasets and jobs made through the API, attempts made the way
    the worker makes them."""

    def __init__(self, server: RestartableServer) -> None:
        self.server = server
        self.settings = server.settings
        self.http = httpx.Client(base_url=server.url, timeout=60)
        self.account: Account = sign_up(self.http)  # type: ignore[arg-type]
        self.project_id = create_project(self.http, self.account)  # type: ignore[arg-type]
        self._engine = create_db_engine(self.settings.database.url)
        self.sessions: sessionmaker[Session] = create_session_factory(self._engine)

    def close(self) -> None:
        self.http.close()
        self._engine.dispose()

    def classification_version(self, folder: Path, per_split: dict[str, int], seed: int = 0) -> str:
        """A dataset whose images are left-bright or right-bright (ImageFolder); its id."""
        import random

        rng = random.Random(seed)
        for split, count in per_split.items():
            for index in range(count):
                label = index % 2
                # Names unique across splits: see the report on dataset_items' unique key.
                path = folder / split / ("left" if label == 0 else "right") / f"{split}-{index}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                halves(label == 0, rng).convert("RGB").save(path)
        dataset_id = create_dataset(
            self.http,
            self.account,
            self.project_id,
            task="classification",  # type: ignore[arg-type]
            name=f"halves-{uuid.uuid4().hex[:6]}",
        )
        archive = zip_folder(folder, folder.with_suffix(".zip"))
        result = import_archive(self.http, self.account, dataset_id, self.project_id, archive)  # type: ignore[arg-type]
        assert result["status"] == "succeeded", result
        return dataset_id

    def create_job(self, dataset_id: str, **config: Any) -> str:
        response = self.http.post(
            "/api/v1/training/jobs",
            json={
                "project_id": self.project_id,
                "dataset_id": dataset_id,
                "trainer": "reference",
                "model": "linear",
                "config": config or {"basic": {"epochs": 3}},
            },
            headers=self.account.headers,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def claim(self) -> Attempt:
        """What the local worker does: claim the queued job (a new attempt and its token) and
        build the trainer's environment and folders."""
        with transaction(self.sessions) as session:
            claim = claim_next(
                session, worker="sdk-tests", queues=["default"], free_cpu=64, free_gpus=0
            )
        assert claim is not None, "no queued job to claim"
        prepare_dirs(self.settings, claim)
        env = trainer_environment(self.settings, claim, Allocation(1, ()), source=os.environ)
        env["LENSFORGE_HEARTBEAT_INTERVAL"] = "1"
        return Attempt(claim, env, attempt_dir(self.settings, claim.job_id, claim.attempt_number))

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(path, params=params, headers=self.account.headers)
        assert response.status_code == 200, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/api/v1/training/jobs/{job_id}")
        return result


def start_trainer(attempt: Attempt) -> subprocess.Popen[bytes]:
    """The reference trainer as the worker starts it (its manifest's `train` entry point)."""
    with (
        (attempt.cwd / "stdout.txt").open("wb") as out,
        (attempt.cwd / "stderr.txt").open("wb") as err,
    ):  # the child keeps its own copies of the descriptors
        return subprocess.Popen(
            [sys.executable, "-m", "lensforge.trainers.reference", "train"],
            cwd=attempt.cwd,
            env=attempt.env,
            stdout=out,
            stderr=err,
        )


def finish(process: subprocess.Popen[bytes], attempt: Attempt, timeout: float = 180) -> int:
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError("the trainer did not finish: " + output(attempt)) from None
    return code


def output(attempt: Attempt) -> str:
    return "\n".join(
        f"--- {name}\n" + (attempt.cwd / name).read_text(errors="replace")
        for name in ("stdout.txt", "stderr.txt")
        if (attempt.cwd / name).exists()
    )


# --- checks on an attempt's spool -----------------------------------------------------------

FAST = {"imgsz": 8, "batch_size": 4}


def spool_of(attempt: Attempt) -> Path:
    return Path(attempt.env["LENSFORGE_SPOOL_DIR"]) / f"attempt-{attempt.claim.attempt_number}"


def spooled(attempt: Attempt) -> list[dict[str, Any]]:
    lines = (spool_of(attempt) / "reports.jsonl").read_bytes().splitlines()
    return [json.loads(line) for line in lines]


def unacked(attempt: Attempt) -> list[dict[str, Any]]:
    """The spooled reports the server has not confirmed yet."""
    folder = spool_of(attempt)
    try:
        offset = json.loads((folder / "ack.json").read_text())["offset"]
    except FileNotFoundError:
        offset = 0
    with (folder / "reports.jsonl").open("rb") as stream:
        stream.seek(offset)
        return [json.loads(line) for line in stream.read().splitlines()]


def wait_for(condition: Any, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def assert_fully_delivered(world: World, attempt: Attempt) -> list[dict[str, Any]]:
    """Every spooled report was applied once: the ack covers the file, nothing was rejected,
    and the server's (attempt, sequence) records are exactly the spool's sequences."""
    folder = spool_of(attempt)
    reports = spooled(attempt)
    sequences = [r["sequence"] for r in reports]
    assert sequences == list(range(1, len(reports) + 1))
    assert (
        json.loads((folder / "ack.json").read_text())["offset"]
        == (folder / "reports.jsonl").stat().st_size
    )
    assert not (folder / "reports.rejected").exists()
    assert applied_sequences(world, attempt) == sequences
    return reports


def applied_sequences(world: World, attempt: Attempt) -> list[int]:
    """The sequences the server recorded as applied for this attempt, in order."""
    with transaction(world.sessions) as session:
        applied = session.scalars(
            select(JobReport.sequence).where(JobReport.attempt_id == attempt.claim.attempt_id)
        ).all()
    return sorted(applied)
