"""The Ultralytics trainer for real: jobs created through the API, run by a local worker in the
trainer's own environment (torch, ultralytics), reporting to a live server. Small data, tiny
images and the smallest models, so each job takes seconds to a minute on a weak CPU.

One database backend (SQLite): what is under test is the trainer; the platform's jobs code runs
on both backends in tests/jobs and tests/orchestration."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.fixtures.app import sign_up
from tests.fixtures.live_server import LiveServer
from tests.trainers.ultralytics.jobs import (
    FAST,
    checkpoints,
    create_job,
    failure,
    import_folder,
    local_worker,
    logs,
    metrics,
    raccoon_subset,
    wait_finished,
)

pytestmark = [
    pytest.mark.xdist_group("ultralytics"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def sessions(database_url: str) -> sessionmaker[Session]:
    from lensforge.kit.db import create_db_engine, create_session_factory

    return create_session_factory(create_db_engine(database_url))


def test_yolo_detection_trains_on_the_raccoon_dataset(
    client: TestClient,
    live_server: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    ultralytics_python: Path,
) -> None:
    account = sign_up(client)
    project, dataset = import_folder(
        client, account, raccoon_subset(tmp_path / "raccoon", 40), "detection"
    )
    job_id = create_job(client, account, project, dataset, "yolov8n", FAST)
    with local_worker(live_server.settings, sessions):
        job = wait_finished(client, account, job_id)
    assert job["status"] == "completed", failure(job) + "\n" + logs(client, account, job_id)
    points = metrics(client, account, job_id)
    assert [p["step"] for p in points] == [1, 2], (points, logs(client, account, job_id))
    names = set(points[-1]["values"])
    assert {
        "train/box_loss",
        "train/cls_loss",
        "val/box_loss",
        "val/precision",
        "val/recall",
        "val/mAP50",
        "val/mAP50-95",
        "lr/pg0",
    } <= names, names
    assert all(isinstance(points[-1]["values"][n], float) for n in ("train/box_loss", "lr/pg0"))
    saved = checkpoints(client, account, job_id)
    assert saved["last"]["epoch"] == 2
    assert saved["best"]["epoch"] in (1, 2)
    assert saved["last"]["size_bytes"] > 100_000  # a real YOLOv8n, not a stub
    assert job["best_metric_name"] == "val/mAP50-95"
    assert job["attempts"][-1]["exit_code"] == 0
    text = logs(client, account, job_id)
    assert "epoch 2/2" in text
    assert "final evaluation of best" in text
