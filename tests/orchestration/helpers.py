"""Local workers on real databases with real trainer subprocesses.

The trainer used here is a small script (`TRAINER_SCRIPT`) registered through a plugin folder:
it records its environment and pid in its work folder, can ignore SIGTERM, sleep, exit with a
code, spool reports, and report `started`/`completed` over the contract's HTTP endpoints
(plain httpx) when a live server is given. Each behaviour is chosen per job in its config.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.jobs.state import JobStatus, transition
from lensforge.kit.db import transaction
from lensforge.models import (
    Dataset,
    DatasetVersion,
    JobAttempt,
    JobCheckpoint,
    Organization,
    Project,
    TrainingJob,
)
from lensforge.orchestration.local import LocalWorker
from lensforge.trainers.registry import TrainerRegistry, load_registry

TRAINER = "scripted"

TRAINER_SCRIPT = r"""
import json, os, signal, sys, time

config = json.loads(os.environ["LENSFORGE_CONFIG"])["basic"]
if config.get("ignore_term"):  # first: a test may cancel as soon as it sees env.json
    def _ignored(*_):
        with open("got-sigterm", "w") as out:
            out.write("1")
    signal.signal(signal.SIGTERM, _ignored)
with open("env.json", "w") as out:
    json.dump(dict(os.environ), out)
with open("pid", "w") as out:
    out.write(str(os.getpid()))
print("hello on stdout", flush=True)
print("hello on stderr", file=sys.stderr, flush=True)


def mark(what):
    if config.get("marks"):
        with open(config["marks"], "a") as out:
            out.write(f"{what} {os.environ['LENSFORGE_JOB_ID']} {time.time()}\n")


def post(reports):
    import httpx

    url = os.environ["LENSFORGE_API_URL"] + "/api/v1/trainer/jobs/" + os.environ["LENSFORGE_JOB_ID"]
    headers = {"Authorization": "Bearer " + os.environ["LENSFORGE_JOB_TOKEN"]}
    body = {"reports": [{"sequence": i, "kind": k, "data": d} for i, (k, d) in enumerate(reports)]}
    httpx.post(url + "/reports", json=body, headers=headers, timeout=30).raise_for_status()


def spool(reports, acked):
    folder = os.path.join(os.environ["LENSFORGE_SPOOL_DIR"], "attempt-" + os.environ["LENSFORGE_ATTEMPT"])
    os.makedirs(folder, exist_ok=True)
    offset = 0
    with open(os.path.join(folder, "reports.jsonl"), "w") as out:
        for sequence, (kind, data) in enumerate(reports, start=1):
            line = json.dumps({"sequence": sequence, "kind": kind, "data": data}) + "\n"
            out.write(line)
            if sequence <= acked:
                offset += len(line)
        out.write('{"sequence": 99, "kind": "log", "da')  # torn by the kill
    with open(os.path.join(folder, "ack.json"), "w") as out:
        json.dump({"offset": offset, "sequence": acked}, out)


mark("start")
if config.get("spool"):
    spool(config["spool"], config.get("acked", 0))
resumed = os.environ["LENSFORGE_RESUME"] == "1"
if config.get("complete") or (resumed and config.get("complete_when_resumed")):
    post([("started", {}), ("completed", {"metrics": {"acc": 1.0}})])
    mark("end")
    sys.exit(0)
time.sleep(config.get("sleep", 0))
mark("end")
sys.exit(config.get("exit", 0))
"""


def write_trainer(
    folder: Path, *, resume: bool = True, requirements: list[str] | None = None
) -> Path:
    """A plugin folder holding the scripted trainer; returns the folder to list in plugin_dirs."""
    home = folder / TRAINER
    home.mkdir(parents=True, exist_ok=True)
    script = home / "train.py"
    script.write_text(TRAINER_SCRIPT)
    manifest = {
        "name": TRAINER,
        "version": "1.0.0",
        "tasks": ["classification"],
        "models": [{"name": "tiny", "tasks": ["classification"]}],
        "entrypoints": {"train": [str(script)]},
        "capabilities": {"resume": resume},
        "requirements": requirements or [],
        "config_schema": {"basic": {"type": "object"}},
    }
    (home / "manifest.json").write_text(json.dumps(manifest))
    return folder


def worker_settings(base: Settings, tmp_path: Path, **worker: Any) -> Settings:
    plugins = write_trainer(tmp_path / "plugins")
    return base.model_copy(
        update={
            "trainers": base.trainers.model_copy(
                update={"environment": "current", "plugin_dirs": [str(plugins)]}
            ),
            "worker": base.worker.model_copy(
                update={
                    "name": worker.pop("name", "test-worker"),
                    "poll_interval_seconds": 0.1,
                    "heartbeat_interval_seconds": 0.2,
                    "cancel_grace_seconds": 0.3,
                    "kill_grace_seconds": 0.3,
                    **worker,
                }
            ),
        }
    )


def registry_for(settings: Settings) -> TrainerRegistry:
    return load_registry(settings.trainers.plugin_dirs)


class Jobs:
    """Jobs inserted straight into the database (the API's validation is not under test)."""

    def __init__(self, sessions: sessionmaker[Session], *, seed: bool = True) -> None:
        self.sessions = sessions
        if not seed:  # only reading jobs made elsewhere (through the API)
            return
        with transaction(sessions) as session:
            org = Organization(name="Org", slug=f"org-{uuid.uuid4().hex[:8]}")
            session.add(org)
            session.flush()
            project = Project(organization_id=org.id, name="P")
            session.add(project)
            session.flush()
            dataset = Dataset(
                organization_id=org.id, project_id=project.id, name="D", task="classification"
            )
            session.add(dataset)
            session.flush()
            version = DatasetVersion(
                dataset_id=dataset.id,
                number=1,
                content_hash="0" * 64,
                task="classification",
                classes=["a", "b"],
                split_config={},
                source={"kind": "import"},
                stats={},
                item_count=0,
                annotation_count=0,
                manifest_key="manifests/x.json",
            )
            session.add(version)
            session.flush()
            self.ids = (org.id, project.id, dataset.id, version.id)

    def create(
        self,
        *,
        max_attempts: int = 1,
        resources: dict[str, int] | None = None,
        queue: str = "default",
        priority: int = 0,
        last_checkpoint_epoch: int | None = None,
        **behaviour: Any,
    ) -> uuid.UUID:
        org, project, dataset, version = self.ids
        with transaction(self.sessions) as session:
            job = TrainingJob(
                organization_id=org,
                project_id=project,
                dataset_id=dataset,
                dataset_version_id=version,
                dataset_content_hash="0" * 64,
                name="job",
                trainer=TRAINER,
                trainer_version="1.0.0",
                model="tiny",
                task="classification",
                config={"basic": behaviour, "advanced": {}},
                split_config={},
                resources=resources or {"cpu": 1, "gpu": 0},
                queue=queue,
                priority=priority,
                max_attempts=max_attempts,
                retries_left=max_attempts - 1,
                status="pending",
            )
            session.add(job)
            session.flush()
            if last_checkpoint_epoch is not None:
                session.add(
                    JobCheckpoint(
                        job_id=job.id,
                        attempt_number=0,
                        kind="last",
                        trained_epoch=last_checkpoint_epoch,
                        object_key=f"jobs/{job.id}/outputs/checkpoints/last.json",
                        size_bytes=1,
                    )
                )
            transition(session, job, JobStatus.QUEUED, "created and validated")
            return job.id

    def get(self, job_id: uuid.UUID) -> TrainingJob:
        with transaction(self.sessions) as session:
            job = session.get(TrainingJob, job_id)
            assert job is not None
            return job

    def attempts(self, job_id: uuid.UUID) -> list[JobAttempt]:
        with transaction(self.sessions) as session:
            return list(
                session.scalars(
                    select(JobAttempt)
                    .where(JobAttempt.job_id == job_id)
                    .order_by(JobAttempt.number)
                )
            )


@contextmanager
def running(worker: LocalWorker) -> Iterator[LocalWorker]:
    """The worker's loop on a thread (its trainers are tied to that thread by PDEATHSIG)."""
    failure: list[BaseException] = []

    def _run() -> None:
        try:
            worker.run()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=_run, name=f"worker-{worker.name}", daemon=True)
    thread.start()
    try:
        yield worker
    finally:
        worker.stop()
        thread.join(timeout=30)
        assert not thread.is_alive(), "the worker did not stop"
        if failure:
            raise failure[0]


def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition"
) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def attempt_dir(settings: Settings, job_id: uuid.UUID, number: int) -> Path:
    return settings.data_dir / "jobs" / str(job_id) / f"attempt-{number}"


def trainer_env(settings: Settings, job_id: uuid.UUID, number: int) -> dict[str, str]:
    path = attempt_dir(settings, job_id, number) / "env.json"
    wait_until(path.exists, what=f"{path}")
    # Written by the trainer while we may read: retry until it parses.
    return wait_until(lambda: _try_json(path), what=f"{path} complete")  # type: ignore[no-any-return]


def _try_json(path: Path) -> dict[str, str] | None:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except ValueError:
        return None


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting for a reaper (a container's init may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


LENSFORGE = str(Path(sys.executable).parent / "lensforge")


def worker_env(settings: Settings, plugins: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")}
    secret = settings.security.secret_key
    return env | {
        "LENSFORGE_ENV": "test",
        "LENSFORGE_DATA_DIR": str(settings.data_dir),
        "LENSFORGE_DATABASE__URL": settings.database_url,
        "LENSFORGE_STORAGE__LOCAL__ROOT": str(settings.local_storage_root),
        "LENSFORGE_SECURITY__SECRET_KEY": secret.get_secret_value() if secret else "",
        "LENSFORGE_SERVER__PUBLIC_URL": settings.public_url,
        "LENSFORGE_TRAINERS__ENVIRONMENT": "current",
        "LENSFORGE_TRAINERS__PLUGIN_DIRS": json.dumps([str(plugins)]),
        "LENSFORGE_WORKER__POLL_INTERVAL_SECONDS": "0.1",
        "LENSFORGE_WORKER__HEARTBEAT_INTERVAL_SECONDS": "0.2",
        "LENSFORGE_WORKER__KILL_GRACE_SECONDS": "2",
    }


@contextmanager
def process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
