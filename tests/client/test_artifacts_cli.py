"""`lensforge models upload|list|delete` and `lensforge train --weights` against a real server:
pretrained weights uploaded as a model artifact, then named by a training."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lensforge.cli.main import app
from lensforge.client import Dataset, LensforgeClient
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
    cli("login", "--url", live_server.url, "--api-key", admin.api_keys.create("cli").secret)
    project = admin.projects.create("vision")
    dataset = admin.datasets.create(project.id, "pets", "detection")
    archive = zip_folder(yolo_folder(tmp_path / "pets"), tmp_path / "pets.zip")
    assert admin.datasets.import_file(dataset.id, project.id, archive, poll_interval=0.05).succeeded
    return admin.datasets.get(dataset.id)


def test_upload_list_train_with_weights_and_delete(
    logged_in: Dataset, admin: LensforgeClient, tmp_path: Path
) -> None:
    weights = tmp_path / "yolo11n-start.pt"
    weights.write_bytes(b"weights " * 50_000)

    shown = cli("models", "upload", str(weights), "--project", "vision")
    assert "uploaded yolo11n-start" in shown.stdout
    assert "--weights yolo11n-start" in shown.stdout
    named = cli_json("models", "upload", str(weights), "-p", "vision", "--name", "second")
    assert named["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert named["filename"] == "yolo11n-start.pt"
    taken = cli("models", "upload", str(weights), "-p", "vision", code=1)
    assert "already has a model artifact named 'yolo11n-start'" in taken.stderr

    listed = cli_json("models", "list", "--project", "vision")
    assert {a["name"] for a in listed} == {"yolo11n-start", "second"}
    assert "yolo11n-start" in cli("models", "list").stdout

    job = cli_json(*TRAIN, "--weights", "yolo11n-start")
    first = next(a for a in listed if a["name"] == "yolo11n-start")
    assert job["weights_artifact_id"] == first["id"]
    assert admin.jobs.get(job["id"]).weights_artifact_id is not None
    # Weights that cannot be had: said, with what to do, before any job exists (issue 13).
    jobs_before = len(admin.jobs.list().items)
    missing = cli(*TRAIN, "--weights", "nope", code=2)
    assert "'nope' is neither a model artifact of project 'vision'" in missing.stderr
    assert "lensforge models upload" in missing.stderr
    yolo = ("train", "-p", "vision", "-d", "pets", "--trainer", "ultralytics", "--model", "yolo11n")
    official = cli(*yolo, "--weights", "yolo11n.pt", code=2)
    assert "LENSFORGE_TRAINERS__WEIGHTS_CHECKSUMS" in " ".join(official.stderr.split())
    assert len(admin.jobs.list().items) == jobs_before

    in_use = cli("models", "delete", "yolo11n-start", code=1)
    assert "start from this model artifact" in in_use.stderr
    assert "deleted model artifact second" in cli("models", "delete", named["id"]).stdout
    assert [a["name"] for a in cli_json("models", "list")] == ["yolo11n-start"]


def test_upload_refuses_a_file_that_is_not_a_model_before_sending_it(
    logged_in: Dataset, admin: LensforgeClient, tmp_path: Path
) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("not weights")
    refused = cli("models", "upload", str(notes), "-p", "vision", code=2)
    assert "not a model file" in refused.stderr
    assert admin.artifacts.list().total == 0
