"""`lensforge trainers list|show` and `lensforge train --trainer ultralytics` against a real
server: the manifest as users see it, and a job created with the schema's defaults (nothing
runs: the trainer itself is tested in tests/trainers/ultralytics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from lensforge.cli.main import app
from lensforge.client import Dataset, LensforgeClient
from tests.client.dataset_files import yolo_folder, zip_folder
from tests.fixtures.live_server import LiveServer

runner = CliRunner()


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


def _logged_in(live_server: LiveServer, admin: LensforgeClient, tmp_path: Path) -> Dataset:
    cli("login", "--url", live_server.url, "--api-key", admin.api_keys.create("cli").secret)
    project = admin.projects.create("vision")
    dataset = admin.datasets.create(project.id, "pets", "detection")
    archive = zip_folder(yolo_folder(tmp_path / "pets"), tmp_path / "pets.zip")
    assert admin.datasets.import_file(dataset.id, project.id, archive, poll_interval=0.05).succeeded
    return admin.datasets.get(dataset.id)


def test_ultralytics_is_listed_shown_and_trains_from_the_cli(
    live_server: LiveServer, admin: LensforgeClient, tmp_path: Path
) -> None:
    _logged_in(live_server, admin, tmp_path)
    assert "ultralytics" in [t["manifest"]["name"] for t in cli_json("trainers", "list")]
    table = cli("trainers", "show", "ultralytics").stdout
    for expected in ("yolov8n", "yolo11n-seg", "yolo26n-pose", "basic.optimizer", "advanced.nbs"):
        assert expected in table
    job = cli_json(
        "train", "-p", "vision", "-d", "pets", "--trainer", "ultralytics", "--model", "yolov8n",
        "--epochs", "3", "--imgsz", "64", "--set", "advanced.mosaic=0.5",
    )  # fmt: skip
    assert (job["trainer"], job["model"], job["task"]) == ("ultralytics", "yolov8n", "detection")
    basic, advanced = job["config"]["basic"], job["config"]["advanced"]
    assert (basic["epochs"], basic["imgsz"], basic["optimizer"]) == (3, 64, "auto")
    assert (advanced["mosaic"], advanced["nbs"], advanced["lrf"]) == (0.5, None, 0.01)
    cli("jobs", "cancel", job["id"])  # nothing runs it here

    bad = cli(
        "train", "-p", "vision", "-d", "pets", "--trainer", "ultralytics", "--model", "yolov8n",
        "--imgsz", "100", code=2,
    )  # fmt: skip
    assert "basic.imgsz" in bad.stderr
    assert "multiple of 32" in bad.stderr
    wrong_task = cli(
        "train", "-p", "vision", "-d", "pets", "--trainer", "ultralytics",
        "--model", "yolov8n-cls", code=2,
    )  # fmt: skip
    assert "classification" in wrong_task.stderr
