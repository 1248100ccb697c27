"""`lensforge trainers|train|jobs ...` against a real server, and one real training run: a
local worker running the reference trainer, followed from the CLI and the event stream."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lensforge.cli._job_follow import Follower
from lensforge.cli.main import app
from lensforge.client import Dataset, JobEvent, LensforgeClient
from lensforge.config import Settings
from lensforge.kit.db import create_db_engine, create_session_factory
from lensforge.orchestration.local import LocalWorker
from lensforge.trainers.registry import load_registry
from tests.client.dataset_files import yolo_folder, zip_folder
from tests.fixtures.live_server import LiveServer

runner = CliRunner()
TRAIN = ("train", "-p", "vision", "-d", "pets", "--trainer", "reference", "--model", "linear")


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


@pytest.fixture
def logged_in(live_server: LiveServer, admin: LensforgeClient, tmp_path: Path) -> Dataset:
    """The CLI logged in (API key) as `admin`, whose project `vision` holds dataset `pets`
    (detection, one version)."""
    cli("login", "--url", live_server.url, "--api-key", admin.api_keys.create("cli").secret)
    project = admin.projects.create("vision")
    dataset = admin.datasets.create(project.id, "pets", "detection")
    archive = zip_folder(yolo_folder(tmp_path / "pets"), tmp_path / "pets.zip")
    assert admin.datasets.import_file(dataset.id, project.id, archive, poll_interval=0.05).succeeded
    return admin.datasets.get(dataset.id)


def test_trainers_list_and_show(logged_in: Dataset) -> None:
    listed = cli_json("trainers", "list")
    assert "reference" in [t["manifest"]["name"] for t in listed]
    assert "reference" in cli("trainers", "list").stdout
    shown = cli_json("trainers", "show", "reference")
    assert shown["manifest"]["capabilities"]["resume"] is True
    table = cli("trainers", "show", "reference").stdout
    for expected in ("linear", "centroid", "basic.epochs", "advanced.weight_decay", "pillow"):
        assert expected in table
    assert "≥ 1" in table  # epochs' minimum, in the range column
    assert "no trainer named 'nope'" in cli("trainers", "show", "nope", code=1).stderr


def test_trainers_install_in_current_mode_needs_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LENSFORGE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("LENSFORGE_TRAINERS__ENVIRONMENT", "current")
    out = cli("trainers", "install", "reference").stdout
    assert "nothing needs installing" in out
    assert "pillow" in out
    assert "no trainer named 'nope'" in cli("trainers", "install", "nope", code=1).stderr


def test_train_refuses_an_invalid_config_with_its_fields(logged_in: Dataset) -> None:
    result = cli(*TRAIN, "--set", "basic.epochs=0", "--set", "advanced.colour=red", code=2)
    assert "basic.epochs" in result.stderr
    assert "0 is less than the minimum of 1" in result.stderr
    assert "advanced.colour" in result.stderr
    result = cli(*TRAIN[:-1], "nope", code=2)  # the model is checked when the job is created
    assert "body.model" in result.stderr
    assert "unknown model" in result.stderr
    assert "SECTION.KEY=VALUE" in cli(*TRAIN, "--set", "epochs=3", code=2).output
    assert cli_json("jobs", "list")["items"] == []


def test_train_then_list_show_cancel_restart(logged_in: Dataset, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("basic:\n  epochs: 7\n  imgsz: 8\nadvanced:\n  weight_decay: 0.01\n")
    job = cli_json(
        *TRAIN, "--config-file", str(config), "--epochs", "4", "--set", "advanced.save_every_epoch=true",
        "--learning-rate", "0.05", "--split-ratio", "0.5,0.5,0", "--seed", "2", "--name", "run-a",
    )  # fmt: skip
    assert (job["name"], job["status"]) == ("run-a", "queued")
    basic, advanced = job["config"]["basic"], job["config"]["advanced"]
    assert (basic["epochs"], basic["imgsz"], basic["learning_rate"]) == (4, 8, 0.05)
    assert (advanced["weight_decay"], advanced["save_every_epoch"]) == (0.01, True)
    assert job["split_override"]["train"] == 0.5
    created = cli(*TRAIN, "--name", "run-b", "--queue", "gpu", "--gpu", "1").stdout
    assert "created job run-b" in created

    listed = cli_json("jobs", "list", "--project", "vision")
    assert [j["name"] for j in listed["items"]] == ["run-b", "run-a"]
    assert cli_json("jobs", "list", "--status", "completed")["items"] == []
    assert "run-a" in cli("jobs", "list").stdout

    shown = cli_json("jobs", "show", job["id"][:8])
    assert shown["id"] == job["id"]
    assert [t["to_status"] for t in shown["transitions"]] == ["queued"]
    assert (shown["last_metrics"], shown["checkpoints"]) == (None, [])
    text = cli("jobs", "show", "run-a").stdout
    assert "created and validated" in text
    assert cli_json("jobs", "metrics", "run-a")["points"] == []
    assert cli("jobs", "logs", "run-a").stdout == ""

    cancelled = cli("jobs", "cancel", "run-a").stdout
    assert "cancelled" in cancelled
    assert "already cancelled" in cli("jobs", "cancel", "run-a", code=1).stderr
    assert "no checkpoint" in cli("jobs", "resume", "run-a", code=1).stderr
    restarted = cli_json("jobs", "restart", job["id"])
    assert (restarted["status"], restarted["status_reason"]) == ("queued", "restarted by user")
    assert "restarted by user" in cli("jobs", "show", "run-a").stdout
    transitions = cli_json("jobs", "show", "run-a")["transitions"]
    assert [(t["to_status"], t["reason"]) for t in transitions] == [
        ("queued", "created and validated"),
        ("cancelled", "cancelled before it started"),
        ("queued", "restarted by user"),
    ]


def test_job_references_that_match_several_or_none(logged_in: Dataset) -> None:
    first = cli_json(*TRAIN, "--name", "same")
    second = cli_json(*TRAIN, "--name", "same")
    result = cli("jobs", "show", "same", code=1)
    assert "2 jobs match 'same'" in result.stderr
    assert first["id"] in result.stderr.replace("\n", "")
    assert second["id"] in result.stderr.replace("\n", "")
    assert (
        "no job with id, id prefix or name 'other'" in cli("jobs", "show", "other", code=1).stderr
    )
    assert "prefixes need 6+" in cli("jobs", "show", first["id"][:4], code=1).stderr
    assert cli_json("jobs", "show", first["id"])["id"] == first["id"]
    assert "unknown nope" in cli("jobs", "list", "--status", "nope", code=2).output


# --- a real run ----------------------------------------------------------------------------------


@pytest.fixture
def worker(live_server: LiveServer, tmp_path: Path) -> Iterator[LocalWorker]:
    """A local worker on the live server's database, running trainers with this interpreter."""
    base = live_server.settings
    settings: Settings = base.model_copy(
        update={
            "trainers": base.trainers.model_copy(update={"environment": "current"}),
            "worker": base.worker.model_copy(
                update={
                    "name": "cli-test-worker",
                    "poll_interval_seconds": 0.1,
                    "heartbeat_interval_seconds": 0.5,
                    "jobs_dir": str(tmp_path / "jobs"),
                }
            ),
        }
    )
    engine = create_db_engine(settings.database_url, pool_size=2)
    local = LocalWorker(
        settings, create_session_factory(engine), load_registry(settings.trainers.plugin_dirs)
    )
    thread = threading.Thread(target=local.run, name="test-worker", daemon=True)
    thread.start()
    try:
        yield local
    finally:
        local.stop()
        thread.join(timeout=30)
        engine.dispose()


def test_train_follow_runs_to_the_end(
    logged_in: Dataset, admin: LensforgeClient, worker: LocalWorker
) -> None:
    events: list[JobEvent] = []
    with admin.jobs.stream_events(project_id=logged_in.project_id) as stream:
        stream.connect()
        reader = threading.Thread(target=lambda: events.extend(stream), daemon=True)
        reader.start()
        result = cli(*TRAIN, "--epochs", "3", "--imgsz", "8", "--name", "e2e", "--follow")
        stream.close()
        reader.join(timeout=10)

    assert "completed" in result.stdout
    assert "best val/accuracy" in result.stdout
    assert "status: running" in result.stderr
    assert "epochs" in result.stderr  # the progress bar

    progress = [e for e in events if e.type == "training_progress"]
    assert [e.data["epoch"] for e in progress] == [1, 2, 3]
    assert all(e.data["total_epochs"] == 3 for e in progress)
    assert {"job_status", "log", "checkpoint"} <= {e.type for e in events}

    points = cli_json("jobs", "metrics", "e2e")["points"]
    assert [p["epoch"] for p in points] == [1, 2, 3]
    assert "val/accuracy" in points[-1]["values"]
    assert "val/accuracy" in cli("jobs", "metrics", "e2e").stdout
    logs = cli("jobs", "logs", "e2e").stdout
    assert "epoch 3" in logs.lower()
    assert cli("jobs", "logs", "e2e", "--level", "error").stdout == ""
    shown = cli_json("jobs", "show", "e2e")
    assert shown["status"] == "completed"
    assert shown["last_metrics"]["epoch"] == 3
    assert {c["kind"] for c in shown["checkpoints"]} >= {"best", "last"}
    followed = cli("jobs", "logs", "e2e", "--follow")  # a finished job: stored lines, then done
    assert followed.stdout == logs
    assert "completed" in followed.stderr


def test_a_job_cancelled_while_followed_exits_1(
    logged_in: Dataset, admin: LensforgeClient, worker: LocalWorker
) -> None:
    def cancel_once_running() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            running = admin.jobs.list(status="running").items
            if running and running[0].epoch:
                admin.jobs.cancel(running[0].id)
                return
            time.sleep(0.05)

    canceller = threading.Thread(target=cancel_once_running, daemon=True)
    canceller.start()
    result = cli(
        *TRAIN, "--epochs", "50", "--set", "advanced.epoch_delay_seconds=0.2", "--follow", code=1
    )
    canceller.join(timeout=5)
    assert "cancelled" in result.stdout
    assert "status: cancelled" in result.stderr


def test_ctrl_c_stops_following_but_not_the_job(
    logged_in: Dataset, admin: LensforgeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # the user pressing Ctrl-C while the job runs

    monkeypatch.setattr(Follower, "run", interrupted)
    result = cli(*TRAIN, "--name", "watched", "--follow", code=130)
    assert "keeps running" in result.stderr
    [job] = admin.jobs.list().items
    assert (job.name, job.status) == ("watched", "queued")


def test_logs_follow_prints_each_line_once_until_the_job_ends(
    logged_in: Dataset, admin: LensforgeClient, worker: LocalWorker
) -> None:
    job = admin.jobs.create(
        logged_in.project_id,
        logged_in.id,
        "reference",
        "linear",
        name="slow",
        config={"basic": {"epochs": 4}, "advanced": {"epoch_delay_seconds": 0.3}},
    )
    result = cli("jobs", "logs", str(job.id)[:8], "--follow")
    lines = result.stdout.splitlines()
    for epoch in range(1, 5):
        assert sum(f"epoch {epoch}/4" in line for line in lines) == 1, result.stdout
    assert "trainer exited (0)" in result.stdout
    assert "completed" in result.stderr
    warnings = cli("jobs", "logs", "slow", "--level", "warning", "--search", "VAL SPLIT").stdout
    assert "the val split has no labelled samples" in warnings
    assert "epoch" not in warnings
    assert cli("jobs", "logs", "slow", "--attempt", "2").stdout == ""
    assert cli("jobs", "logs", "slow", "--since", "1h").stdout == result.stdout
    assert cli("jobs", "logs", "slow", "--since", "2999-01-01T00:00").stdout == ""
    assert "neither a time" in cli("jobs", "logs", "slow", "--since", "soon", code=2).output
