"""Issue 12, item 4: a trainer runs hostile code (a pickled payload, a malicious plugin) and
must not reach the server's secrets. A real local worker, running as root as in CI, starts a
hostile trainer (`hostile/train.py`) that tries to read the secret key, open the database,
list the stored objects, find secrets in its environment and write outside its own folders;
every attempt is refused, and it says so in its log.

The trainer user must be able to run its interpreter: the worker's own Python may live in a
private home (`/root/.pyenv`), so the hostile trainer's environment is built on a Python that
others can run (`trainers.python`), and the data directory lies outside pytest's private
temporary folder."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.kit import migrate
from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.orchestration.local import LocalWorker
from lensforge.orchestration.local.leftovers import unsent_reports
from lensforge.orchestration.local.paths import attempt_dir, dataset_cache_dir, job_dir, jobs_dir
from lensforge.orchestration.local.processes import ProcessRecord
from lensforge.orchestration.local.sandbox import TrainerIdentity, identity_for, unreachable
from lensforge.trainers.environments import envs_dir
from tests.orchestration.helpers import TRAINER, Jobs, registry_for, running, wait_until
from tests.trainers.ultralytics.conftest import UV_CACHE

HOSTILE = Path(__file__).parent / "hostile" / "train.py"
FINISHED = ("completed", "failed", "cancelled")
SECRET_VARIABLES = [
    "LENSFORGE_SECURITY__SECRET_KEY",
    "LENSFORGE_DATABASE__URL",
    "LENSFORGE_STORAGE__S3__SECRET_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "DATABASE_URL",
    "PGPASSWORD",
    "TEMPORAL_API_KEY",
]

root_only = pytest.mark.skipif(
    os.geteuid() != 0, reason="trainers run as users of their own only under a root worker"
)


def _python_others_can_run() -> str | None:
    probe = TrainerIdentity(uid=2_000_000_001, gid=2_000_000_001)
    for candidate in (sys.executable, "/usr/bin/python3", "/usr/local/bin/python3"):
        if Path(candidate).exists() and unreachable([Path(candidate)], probe) is None:
            return candidate
    return None


@pytest.fixture
def base() -> Iterator[Path]:
    """A folder others may enter (pytest's own temporary folder is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="lensforge-sandbox-"))
    folder.chmod(0o711)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _settings(base: Path, script: Path = HOSTILE, **trainers: Any) -> Settings:
    plugins = base / "plugins"
    (plugins / TRAINER).mkdir(parents=True)
    manifest = {
        "name": TRAINER,
        "version": "1.0.0",
        "tasks": ["classification"],
        "models": [{"name": "tiny", "tasks": ["classification"]}],
        "entrypoints": {"train": [str(script)]},
        "capabilities": {"resume": False},
        "requirements": [],
        "config_schema": {"basic": {"type": "object"}},
    }
    (plugins / TRAINER / "manifest.json").write_text(json.dumps(manifest))
    plugins.chmod(0o755)
    return Settings.model_validate(
        {
            "env": "test",
            "data_dir": str(base / "data"),
            "server": {"public_url": "http://127.0.0.1:9"},
            "trainers": {
                "plugin_dirs": [str(plugins)],
                "uv_cache_dir": str(UV_CACHE),
                "pass_env": [
                    "AWS_SECRET_ACCESS_KEY",
                    "DATABASE_URL",
                    "PGPASSWORD",
                    "WANDB_API_KEY",
                ],
                **trainers,
            },
            "worker": {
                "name": f"sandbox-{uuid.uuid4().hex[:6]}",
                "poll_interval_seconds": 0.1,
                "heartbeat_interval_seconds": 0.2,
                "kill_grace_seconds": 1.0,
            },
        }
    )


def _database(settings: Settings) -> sessionmaker[Session]:
    settings.data_dir.mkdir(parents=True)
    engine = create_db_engine(settings.database_url)
    migrate.upgrade(engine)
    _ = settings.secret_key  # generated into the data directory, as a fresh `up` does
    settings.local_storage_root.mkdir(parents=True)
    (settings.local_storage_root / "orgs").mkdir()
    return create_session_factory(engine)


def _run(
    settings: Settings, sessions: sessionmaker[Session], timeout: float = 240, **behaviour: Any
) -> tuple[uuid.UUID, Any]:
    jobs = Jobs(sessions)
    job_id = jobs.create(**behaviour)
    with running(LocalWorker(settings, sessions, registry_for(settings))):
        wait_until(
            lambda: (
                jobs.get(job_id).status in FINISHED
                and all(
                    a.exit_code is not None or a.status == "failed" for a in jobs.attempts(job_id)
                )
            ),
            timeout=timeout,
            what="the trainer to end",
        )
    return job_id, jobs


def _log(sessions: sessionmaker[Session], job_id: uuid.UUID) -> str:
    from sqlalchemy import select

    from lensforge.models import JobLog

    with sessions() as session:
        lines = session.scalars(select(JobLog.message).where(JobLog.job_id == job_id)).all()
    return "\n".join(lines)


@root_only
def test_a_hostile_trainer_reaches_none_of_the_servers_secrets(
    base: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = _python_others_can_run()
    if python is None:
        pytest.skip("no Python on this machine that an unprivileged user can run")
    settings = _settings(base, environment="isolated", python=python, isolation="required")
    sessions = _database(settings)
    for name in SECRET_VARIABLES:
        monkeypatch.setenv(name, f"the-server's-{name.lower()}")
    monkeypatch.setenv("WANDB_API_KEY", "an operator's choice")
    data = settings.data_dir
    targets = {
        "secret_key": str(data / "secret_key"),
        "database": str(data / "lensforge.db"),
        "objects": str(settings.local_storage_root),
        "data_dir": str(data),
        "jobs": str(jobs_dir(settings)),
        "secret_variables": SECRET_VARIABLES,
        "passed_variables": ["WANDB_API_KEY"],
        "writes": {
            "data directory": str(data / "pwned"),
            "jobs folder": str(jobs_dir(settings) / "pwned"),
            "dataset cache": str(dataset_cache_dir(settings) / "pwned"),
            "environments": str(envs_dir(settings) / "pwned"),
            "secret key": str(data / "secret_key"),
            "database": str(data / "lensforge.db"),
            "objects": str(settings.local_storage_root / "orgs" / "pwned"),
        },
    }
    job_id, jobs = _run(settings, sessions, targets=targets)
    assert len(jobs.attempts(job_id)) == 1
    found = json.loads((attempt_dir(settings, job_id, 1) / "hostile.json").read_text())
    log = _log(sessions, job_id)
    assert "hostile: " in log  # it reported back, through the worker's capture of stdout
    job = jobs.get(job_id)
    expected = identity_for(settings, job_id, job.organization_id)
    assert expected is not None
    assert (found["uid"], found["gid"], found["groups"]) == (expected.uid, expected.gid, [])
    for action in ("read secret key", "read database file", "list objects"):
        assert found[action].startswith("refused: PermissionError"), (action, found[action])
    assert found["open database"].startswith("refused: OperationalError: unable to open")
    for action in ("list data directory", "list jobs"):
        assert found[action].startswith("refused"), (action, found[action])
    assert found["env secrets"] == []
    assert found["env passed"] == ["WANDB_API_KEY"]
    for name in targets["writes"]:
        assert found[f"write {name}"].startswith("refused"), (name, found[f"write {name}"])
    assert found["write own work folder"].startswith("SUCCEEDED")
    assert found["write own tmp"].startswith("SUCCEEDED")
    assert not (data / "pwned").exists()
    # The server's files stay private to it; the trainer's folders are its own.
    assert (data / "secret_key").stat().st_mode & 0o077 == 0
    assert (data / "lensforge.db").stat().st_mode & 0o077 == 0
    assert settings.local_storage_root.stat().st_mode & 0o077 == 0
    assert attempt_dir(settings, job_id, 1).stat().st_uid == expected.uid
    assert job_dir(settings, job_id).stat().st_uid == 0
    with sqlite3.connect(data / "lensforge.db") as db:  # and the server still works with them
        assert db.execute("SELECT count(*) FROM training_jobs").fetchone() == (1,)


@root_only
@pytest.mark.parametrize("isolation", ["required", "auto"])
def test_a_trainer_its_user_cannot_read_fails_or_runs_unisolated_with_a_warning(
    base: Path, isolation: str
) -> None:
    """The trainer's files in a private folder (like a Python in /root/.pyenv): `required`
    fails the job with a configuration error that says what to change; `auto` runs it as the
    worker's user and says so in the job's log."""
    python = _python_others_can_run()
    if python is None:
        pytest.skip("no Python on this machine that an unprivileged user can run")
    private = Path(tempfile.mkdtemp(prefix="lensforge-private-"))  # mode 0700
    try:
        script = private / "train.py"
        shutil.copyfile(HOSTILE, script)
        settings = _settings(
            base, script, environment="isolated", python=python, isolation=isolation
        )
        sessions = _database(settings)
        job_id, jobs = _run(settings, sessions, targets={})
        (attempt,) = jobs.attempts(job_id)
        problem = f"{private} is mode 0700: others cannot enter it"
        if isolation == "required":
            assert jobs.get(job_id).status == "failed"
            assert attempt.error_type == "config"
            assert "cannot run as a user of its own" in (attempt.error_message or "")
            assert problem in (attempt.error_message or "")
        else:
            assert problem in _log(sessions, job_id)
            assert attempt.exit_code is not None  # it ran (as the worker's user)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def test_the_worker_reads_nothing_a_trainer_points_it_to(tmp_path: Path) -> None:
    """The spool and the attempt folder are the trainer's: the worker (root) must not follow a
    link planted there, block on a FIFO, or trust a process record the trainer could rewrite."""
    line = json.dumps({"sequence": 1, "kind": "log", "data": {"message": "x"}}) + "\n"
    elsewhere = tmp_path / "elsewhere.jsonl"
    elsewhere.write_text(line)
    spool = tmp_path / "spool"
    folder = spool / "attempt-1"
    folder.mkdir(parents=True)
    (folder / "reports.jsonl").write_text(line)
    assert len(unsent_reports(spool, 1)) == 1  # the trainer's own file is read
    (folder / "reports.jsonl").unlink()
    (folder / "reports.jsonl").symlink_to(elsewhere)
    assert unsent_reports(spool, 1) == []
    (folder / "reports.jsonl").unlink()
    os.mkfifo(folder / "reports.jsonl")
    assert unsent_reports(spool, 1) == []  # and it returned: no blocking open
    shutil.rmtree(folder)
    (spool / "attempt-1").symlink_to(tmp_path / "linked", target_is_directory=True)
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "reports.jsonl").write_text(line)
    assert unsent_reports(spool, 1) == []

    attempt = tmp_path / "job" / "attempt-1"
    attempt.mkdir(parents=True)
    ProcessRecord.of(os.getpid()).write(attempt)
    assert list(attempt.iterdir()) == []  # beside the trainer's folder, not in it
    assert ProcessRecord.read(attempt) == ProcessRecord.of(os.getpid())
