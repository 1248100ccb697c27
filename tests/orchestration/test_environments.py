"""Isolated trainer environments built with uv, offline: from a local package and a wheel
folder; shared by key, hard-linked from one cache, built once under concurrency, and a failed
install failing the job with error type `dependency`."""

from __future__ import annotations

import subprocess
import threading
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.orchestration.local import LocalWorker
from lensforge.trainers.environments import (
    SDK_REQUIREMENTS,
    EnvironmentBuildFailed,
    EnvironmentManager,
    environment_key,
)
from lensforge.trainers.manifest import TrainerManifest
from tests.orchestration.helpers import (
    Jobs,
    registry_for,
    running,
    wait_until,
    worker_settings,
    write_trainer,
)
from tests.orchestration.wheels import tiny_package, wheelhouse

pytestmark = pytest.mark.xdist_group("uv-environments")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return wheelhouse(list(SDK_REQUIREMENTS), tmp_path_factory.mktemp("wheels"))


@pytest.fixture
def offline(tmp_path: Path, wheels: Path) -> Settings:
    return Settings.model_validate(
        {
            "data_dir": str(tmp_path / "data"),
            "trainers": {"environment": "isolated", "offline": True, "find_links": [str(wheels)]},
        }
    )


def _manifest(name: str, requirements: list[str]) -> TrainerManifest:
    return TrainerManifest.model_validate(
        {
            "name": name,
            "version": "1.0.0",
            "tasks": ["classification"],
            "models": [{"name": "m", "tasks": ["classification"]}],
            "entrypoints": {"train": ["-c", "pass"]},
            "requirements": requirements,
            "config_schema": {"basic": {"type": "object"}},
        }
    )


def _python(python: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, check=False, env={}
    )


def test_isolated_environment_is_built_offline_and_reused_by_key(
    offline: Settings, tmp_path: Path
) -> None:
    tiny = tiny_package(tmp_path / "tinypkg-src").as_uri()
    manager = EnvironmentManager(offline)
    lines: list[str] = []
    python = manager.python_for(_manifest("one", [f"tinypkg @ {tiny}"]), lines.append)

    envs = offline.data_dir / "envs"
    key = environment_key(_manifest("one", [f"tinypkg @ {tiny}"]))
    assert python == envs / key / "bin" / "python"
    assert (envs / key / ".ready").is_file()
    assert any("tinypkg" in line for line in lines), lines  # uv's output reached the log
    ran = _python(python, "import tinypkg, httpx, lensforge.sdk; print(tinypkg.ANSWER)")
    assert ran.stdout.strip() == "42", ran.stderr
    # Lensforge is there without the server's dependencies.
    assert _python(python, "import fastapi").returncode != 0
    assert _python(python, "import sqlalchemy").returncode != 0
    assert [p.name for p in envs.iterdir() if not p.name.startswith(".")] == [key]

    # Same requirements (another trainer, another order): the same environment, not rebuilt.
    again: list[str] = []
    same = manager.python_for(_manifest("two", [f"tinypkg @ {tiny}"]), again.append)
    assert (same, again) == (python, [])

    # Other requirements: another environment, whose shared files are hard links of one copy.
    other = manager.python_for(_manifest("three", [f"tinypkg @ {tiny}", "idna"]), lines.append)
    assert other != python
    # (A wheel's files are linked from uv's cache; a local source tree is rebuilt per env.)
    first = _python(python, "import httpx; print(httpx.__file__)").stdout.strip()
    second = _python(other, "import httpx; print(httpx.__file__)").stdout.strip()
    assert first != second
    assert Path(first).stat().st_ino == Path(second).stat().st_ino


def test_two_builders_of_one_environment_build_it_once(offline: Settings) -> None:
    manifest = _manifest("same", ["idna"])
    logs: list[list[str]] = [[], []]
    results: list[Path] = []
    threads = [
        threading.Thread(
            target=lambda log=log: results.append(
                EnvironmentManager(offline).python_for(manifest, log.append)
            )
        )
        for log in logs
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2
    assert results[0] == results[1]
    builds = [line for log in logs for line in log if line.startswith("building environment")]
    assert len(builds) == 1


def test_an_install_that_fails_offline_says_why_and_leaves_nothing(offline: Settings) -> None:
    manifest = _manifest("broken", ["surely-not-a-package-lensforge==9.9"])
    with pytest.raises(EnvironmentBuildFailed) as failure:
        EnvironmentManager(offline).python_for(manifest, lambda _line: None)
    assert failure.value.error_type == "dependency"
    assert "surely-not-a-package-lensforge" in failure.value.message
    envs = offline.data_dir / "envs"
    assert [p.name for p in envs.iterdir() if not p.name.endswith(".lock")] == []


def test_a_job_whose_environment_cannot_be_built_fails_with_a_dependency_error(
    settings: Settings,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    jobs: Jobs,
    wheels: Path,
) -> None:
    wsettings = worker_settings(settings, tmp_path)
    write_trainer(tmp_path / "plugins", requirements=["surely-not-a-package-lensforge==9.9"])
    wsettings = wsettings.model_copy(
        update={
            "trainers": wsettings.trainers.model_copy(
                update={"environment": "isolated", "offline": True, "find_links": [str(wheels)]}
            )
        }
    )
    job_id = jobs.create(max_attempts=3)
    with running(LocalWorker(wsettings, sessions, registry_for(wsettings))):
        wait_until(lambda: jobs.get(job_id).status == "failed", timeout=60, what="the failure")
    job = jobs.get(job_id)
    attempt = jobs.attempts(job_id)[0]
    assert len(jobs.attempts(job_id)) == 1  # not retried: it would fail the same way
    assert attempt.error_type == "dependency"
    assert "surely-not-a-package-lensforge" in (attempt.error_message or "")
    assert job.status_reason.startswith("dependency: ")
