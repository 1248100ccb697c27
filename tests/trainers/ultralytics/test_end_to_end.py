"""The Ultralytics trainer for real: jobs created through the API, run by a local worker in the
trainer's own environment (torch, ultralytics), reporting to a live server. Small data, tiny
images and the smallest models, so each job takes seconds to a minute on a weak CPU.

One database backend (SQLite): what is under test is the trainer; the platform's jobs code runs
on both backends in tests/jobs and tests/orchestration."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from lensforge.orchestration.local.paths import dataset_cache_dir
from lensforge.orchestration.local.processes import ProcessRecord
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.orchestration.helpers import attempt_dir, wait_until
from tests.trainers.ultralytics.jobs import (
    FAST,
    checkpoints,
    create_job,
    export,
    failure,
    held_out_raccoon,
    import_folder,
    local_worker,
    logs,
    metrics,
    predict,
    raccoon_subset,
    upload_weights,
    wait_finished,
)
from tests.trainers.ultralytics.serving import assert_same_detections, deploy_and_predict
from tests.trainers.ultralytics.shapes import (
    classification_dataset,
    pose_dataset,
    segmentation_dataset,
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
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    account = sign_up(client)
    project, dataset = import_folder(
        client, account, raccoon_subset(tmp_path / "raccoon", 40), "detection"
    )
    job_id = create_job(client, account, project, dataset, "yolov8n", FAST)
    with local_worker(live_server.settings, sessions):
        job = wait_finished(client, account, job_id)
        assert job["status"] == "completed", failure(job) + "\n" + logs(client, account, job_id)
        held_out = held_out_raccoon(40)
        answer = predict(client, account, job_id, held_out, checkpoint="best", conf="0.001")
        onnx = export(client, account, job_id, "onnx")
        refused = client.post(
            "/api/v1/exports",
            json={"job_id": str(job_id), "format": "onnx", "options": {"opset": 99, "x": 1}},
            headers=account.headers,
        )
        unavailable = client.post(
            "/api/v1/exports",
            json={"job_id": str(job_id), "format": "tflite"},
            headers=account.headers,
        )
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
    _assert_evaluation_artifacts(client, account, job_id, text)
    # Ultralytics' colours and progress-bar redraws are stored as plain text (issue 13 item 6).
    assert "\x1b" not in text
    assert "\r" not in text
    assert "[K" not in text

    # A test inference on a held-out image, in the platform's result schema.
    assert answer["run"]["status"] == "completed", answer["run"]
    (result,) = answer["results"]
    assert (result["image"], result["task"]) == (held_out.name, "detection")
    assert (result["width"], result["height"]) == Image.open(held_out).size
    for detection in result["detections"]:
        assert detection["class_name"] == "raccoon"
        x1, y1, x2, y2 = detection["box"]
        assert 0 <= x1 <= x2 <= result["width"]
        assert 0 <= y1 <= y2 <= result["height"]

    # Export options are checked against the trainer's schema; unavailable formats say why.
    assert refused.status_code == 422, refused.text
    assert "options.opset" in refused.text
    assert unavailable.status_code == 422, unavailable.text
    assert "TensorFlow" in unavailable.text

    # A verified ONNX export whose report carries the parity numbers.
    assert onnx["status"] == "completed", onnx
    report = onnx["verification"]
    assert report["passed"] is True, report
    assert report["format"] == "onnx"
    assert onnx["options"]["imgsz"] == FAST["basic"]["imgsz"]  # the trained size, reported
    assert report["samples"] >= 1
    assert report["max_abs_diff"] is not None
    assert report["max_abs_diff"] <= report["tolerance"] == 1e-3
    assert report["detection_agreement"] >= report["min_agreement"]
    assert report["runtime"].startswith("onnxruntime")
    assert report["latency_ms"]["exported"]["median"] > 0
    assert report["latency_ms"]["pytorch"]["median"] > 0

    # Deployed through the CLI, it answers the image API and the inference protocol
    # (tritonclient, binary and JSON) with the job's own predictions (issue 14).
    monkeypatch.setenv("LENSFORGE_CONFIG_DIR", str(tmp_path / "cli-config"))
    served = deploy_and_predict(client, account, live_server, onnx["id"], held_out)
    assert_same_detections(answer["results"][0], served.image_api)
    assert_same_detections(answer["results"][0], served.protocol_binary)
    assert served.protocol_binary == served.protocol_json


def test_yolo_segmentation_trains_on_generated_shapes(
    client: TestClient,
    live_server: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    ultralytics_python: Path,
) -> None:
    account = sign_up(client)
    project, dataset = import_folder(
        client, account, segmentation_dataset(tmp_path / "shapes-seg"), "segmentation"
    )
    job_id = create_job(client, account, project, dataset, "yolo11n-seg", FAST)
    with local_worker(live_server.settings, sessions):
        job = wait_finished(client, account, job_id)
        assert job["status"] == "completed", failure(job) + "\n" + logs(client, account, job_id)
        image = next((tmp_path / "shapes-seg" / "images" / "val").iterdir())
        answer = predict(client, account, job_id, image, checkpoint="last", conf="0.0001")
        torchscript = export(client, account, job_id, "torchscript")
        openvino = export(client, account, job_id, "openvino", half=True)
        # The exported (zipped) OpenVINO folder serves predictions too.
        from_export = predict(
            client, account, job_id, image, export_id=openvino["id"], conf="0.0001"
        )
    points = metrics(client, account, job_id)
    assert [p["step"] for p in points] == [1, 2]
    assert {"train/seg_loss", "val/mask_mAP50", "val/mask_mAP50-95", "val/mAP50"} <= set(
        points[-1]["values"]
    )
    assert job["best_metric_name"] == "val/mask_mAP50-95"
    assert {"best", "last"} <= set(checkpoints(client, account, job_id))
    # Real masks traced to polygons (validated by the server before it stored them).
    assert answer["run"]["status"] == "completed", answer["run"]
    detections = answer["results"][0]["detections"]
    assert detections
    assert all(len(d["polygon"]) >= 3 for d in detections)
    for done, runtime in ((torchscript, "torch"), (openvino, "openvino")):
        assert done["status"] == "completed", (
            f"{done['status_reason']}\n{done['verification']}\n"
            + logs(client, account, done["job_id"])[-3000:]
        )
        assert done["verification"]["passed"] is True, done["verification"]
        assert done["verification"]["runtime"].startswith(runtime)
    assert openvino["verification"]["tolerance"] == 5e-2  # FP16 weights
    assert from_export["run"]["status"] == "completed", from_export["run"]
    assert from_export["results"][0]["detections"]


def test_yolo_classification_trains_on_generated_shapes(
    client: TestClient,
    live_server: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    ultralytics_python: Path,
) -> None:
    account = sign_up(client)
    project, dataset = import_folder(
        client, account, classification_dataset(tmp_path / "shapes-cls"), "classification"
    )
    config = {"basic": {**FAST["basic"], "imgsz": 32}, "advanced": {"workers": 0}}
    job_id = create_job(client, account, project, dataset, "yolov8n-cls", config)
    with local_worker(live_server.settings, sessions) as settings:
        job = wait_finished(client, account, job_id)
        assert job["status"] == "completed", failure(job) + "\n" + logs(client, account, job_id)
        image = next((tmp_path / "shapes-cls" / "val" / "square").iterdir())
        answer = predict(client, account, job_id, image)
        # Pretrained weights from the worker's weights cache (here: this job's `best`).
        weights = dataset_cache_dir(settings) / "weights"
        weights.mkdir(parents=True)
        best_url = checkpoints(client, account, job_id)["best"]["url"]
        downloaded = client.get(best_url)
        assert downloaded.status_code == 200, downloaded.text
        (weights / "shapes-cls.pt").write_bytes(downloaded.content)
        tuned_config = {
            "basic": {**config["basic"], "epochs": 1, "pretrained": "shapes-cls.pt"},
            "advanced": config["advanced"],
        }
        tuned_id = create_job(client, account, project, dataset, "yolov8n-cls", tuned_config)
        tuned = wait_finished(client, account, tuned_id)
        missing_config = {"basic": {**tuned_config["basic"], "pretrained": "nowhere.pt"}}
        missing_id = create_job(client, account, project, dataset, "yolov8n-cls", missing_config)
        missing = wait_finished(client, account, missing_id)
    points = metrics(client, account, job_id)
    assert [p["step"] for p in points] == [1, 2]
    assert {"train/loss", "val/accuracy_top1", "val/accuracy_top5", "lr/pg0"} <= set(
        points[-1]["values"]
    )
    assert job["best_metric_name"] == "val/accuracy_top1"
    (result,) = answer["results"]
    assert {c["class_name"] for c in result["classifications"]} == {"square", "triangle"}
    assert tuned["status"] == "completed", failure(tuned) + logs(client, account, tuned_id)
    assert "from pretrained weights" in logs(client, account, tuned_id)  # Ultralytics' transfer
    assert missing["status"] == "failed"
    assert missing["attempts"][0]["error_type"] == "config"
    assert "never downloads weights" in missing["attempts"][0]["error_message"]
    assert {"best", "last"} <= set(checkpoints(client, account, job_id))


HOSTILE = """
import os, pickle, sys, torch

class Payload:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[2],))

torch.save({"model": Payload(), "ema": None}, sys.argv[1] + "/zip-format.pt")
with open(sys.argv[1] + "/bare-pickle.pt", "wb") as out:
    pickle.dump({"model": Payload()}, out, protocol=2)
"""


def hostile_weights(python: Path, folder: Path, marker: Path) -> list[Path]:
    """Two `.pt` files whose unpickling creates `marker` (made with the trainer's torch)."""
    folder.mkdir()
    subprocess.run([str(python), "-c", HOSTILE, str(folder), str(marker)], check=True)
    assert not marker.exists()
    return [folder / "zip-format.pt", folder / "bare-pickle.pt"]


def test_classification_fine_tunes_from_uploaded_weights(
    client: TestClient,
    live_server: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    ultralytics_python: Path,
) -> None:
    """A .pt uploaded as a model artifact (here: a first job's `best`) starts a training; it
    wins over `basic.pretrained` (which names no cached file here, and is not looked for). A
    file Ultralytics cannot load fails the job as a config error with the loader's message."""
    account = sign_up(client)
    project, dataset = import_folder(
        client, account, classification_dataset(tmp_path / "shapes-cls"), "classification"
    )
    config = {"basic": {**FAST["basic"], "epochs": 1, "imgsz": 32}, "advanced": {"workers": 0}}
    with local_worker(live_server.settings, sessions):
        first_id = create_job(client, account, project, dataset, "yolov8n-cls", config)
        first = wait_finished(client, account, first_id)
        assert first["status"] == "completed", failure(first) + logs(client, account, first_id)
        best = client.get(checkpoints(client, account, first_id)["best"]["url"])
        assert best.status_code == 200, best.text
        (tmp_path / "shapes-start.pt").write_bytes(best.content)
        start = upload_weights(client, account, project, tmp_path / "shapes-start.pt", "start")
        (tmp_path / "broken.pt").write_bytes(b"these bytes are no checkpoint")
        broken = upload_weights(client, account, project, tmp_path / "broken.pt", "broken")
        # Issue 12, item 4: a pickle that runs code when unpickled, in torch's zip format and as
        # a bare pickle (torch.load's legacy path unpickles it first thing).
        marker = tmp_path / "pwned"
        hostile = [
            upload_weights(client, account, project, path, path.stem)
            for path in hostile_weights(ultralytics_python, tmp_path / "hostile", marker)
        ]

        tuned_config = {"basic": {**config["basic"], "pretrained": "nowhere.pt"}, "advanced": {}}
        tuned_id = create_job(
            client, account, project, dataset, "yolov8n-cls", tuned_config, weights_id=start
        )
        tuned = wait_finished(client, account, tuned_id)
        broken_id = create_job(
            client, account, project, dataset, "yolov8n-cls", config, weights_id=broken
        )
        refused = wait_finished(client, account, broken_id)
        attacks = [
            wait_finished(
                client,
                account,
                create_job(client, account, project, dataset, "yolov8n-cls", config, weights_id=w),
            )
            for w in hostile
        ]
        (tmp_path / "start.onnx").write_bytes(b"an onnx graph is no training start")
        onnx = upload_weights(client, account, project, tmp_path / "start.onnx", "onnx")
        onnx_id = create_job(
            client, account, project, dataset, "yolov8n-cls", config, weights_id=onnx
        )
        not_pt = wait_finished(client, account, onnx_id)
    text = logs(client, account, tuned_id)
    assert tuned["status"] == "completed", failure(tuned) + text
    assert tuned["weights_artifact_id"] == start
    assert "starting from uploaded weights start (shapes-start.pt)" in text
    assert "they replace basic.pretrained nowhere.pt" in text
    assert "from pretrained weights" in text  # Ultralytics' own transfer message
    assert refused["status"] == "failed"
    assert refused["attempts"][0]["error_type"] == "config"
    message = refused["attempts"][0]["error_message"]
    assert "weights broken (broken.pt) cannot be loaded" in message
    assert "UnpicklingError" in message  # the loader's own words
    assert not marker.exists()  # the pickled code never ran
    for attack in attacks:
        assert attack["status"] == "failed"
        assert attack["attempts"][0]["error_type"] == "config"
        assert "is refused" in attack["attempts"][0]["error_message"], failure(attack)
        assert "posix.system" in attack["attempts"][0]["error_message"]
    assert not_pt["status"] == "failed"
    assert not_pt["attempts"][0]["error_type"] == "config"
    assert "starts only from .pt weights" in not_pt["attempts"][0]["error_message"]


def test_trainer_killed_mid_run_resumes_from_last_and_finishes(
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
    epochs = 5
    config = {"basic": {**FAST["basic"], "epochs": epochs}, "advanced": FAST["advanced"]}
    job_id = create_job(client, account, project, dataset, "yolov8n", config)
    with local_worker(live_server.settings, sessions) as settings:
        wait_until(
            lambda: "last" in checkpoints(client, account, job_id),
            timeout=300,
            what="the first `last` checkpoint",
        )
        record = ProcessRecord.read(attempt_dir(settings, job_id, 1))
        assert record is not None
        os.kill(record.pid, signal.SIGKILL)
        job = wait_finished(client, account, job_id)
    assert job["status"] == "completed", failure(job) + "\n" + logs(client, account, job_id)
    first, second = job["attempts"]
    assert first["status"] == "lost"
    assert second["status"] == "completed"
    assert second["resumed_from"] is not None
    points = metrics(client, account, job_id)
    # Every epoch once; the resumed attempt trained only what was left.
    assert [p["step"] for p in points] == list(range(1, epochs + 1))
    assert points[0]["attempt_number"] == 1
    assert points[-1]["attempt_number"] == 2
    assert checkpoints(client, account, job_id)["last"]["epoch"] == epochs
    assert "resuming after epoch" in logs(client, account, job_id)


def test_cancel_stops_the_trainer_between_batches(
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
    config = {"basic": {**FAST["basic"], "epochs": 50}, "advanced": FAST["advanced"]}
    job_id = create_job(client, account, project, dataset, "yolov8n", config)
    with local_worker(live_server.settings, sessions):
        wait_until(
            lambda: "last" in checkpoints(client, account, job_id),
            timeout=300,
            what="the first epoch",
        )
        response = client.post(f"/api/v1/training/jobs/{job_id}/cancel", headers=account.headers)
        assert response.status_code == 202, response.text
        job = wait_finished(client, account, job_id)
    assert job["status"] == "cancelled", failure(job)
    (attempt,) = job["attempts"]
    assert attempt["exit_code"] == 0  # it stopped by itself, before any SIGTERM
    assert len(metrics(client, account, job_id)) < 50
    assert "cancelled: stopping" in logs(client, account, job_id)


def test_yolo_pose_trains_on_generated_triangles_and_predicts_keypoints(
    client: TestClient,
    live_server: LiveServer,
    tmp_path: Path,
    sessions: sessionmaker[Session],
    ultralytics_python: Path,
) -> None:
    account = sign_up(client)
    project, dataset = import_folder(client, account, pose_dataset(tmp_path / "triangles"), "pose")
    job_id = create_job(client, account, project, dataset, "yolo11n-pose", FAST)
    with local_worker(live_server.settings, sessions):
        job = wait_finished(client, account, job_id)
        assert job["status"] == "completed", failure(job) + "\n" + logs(client, account, job_id)
        image = next((tmp_path / "triangles" / "images" / "val").iterdir())
        answer = predict(client, account, job_id, image, conf="0.0001")
    points = metrics(client, account, job_id)
    assert {"train/pose_loss", "train/kobj_loss", "val/pose_mAP50-95", "val/mAP50"} <= set(
        points[-1]["values"]
    )
    assert job["best_metric_name"] == "val/pose_mAP50-95"
    assert answer["run"]["status"] == "completed", answer["run"]
    detections = answer["results"][0]["detections"]
    assert detections
    assert all(len(d["keypoints"]) == 3 for d in detections)


def _assert_evaluation_artifacts(
    client: TestClient, account: Account, job_id: uuid.UUID, text: str
) -> None:
    """The final validation of best went to the job's artifacts: the per-class table as data,
    and Ultralytics' PR curve, confusion matrix and predictions on validation images."""
    listed = client.get(f"/api/v1/training/jobs/{job_id}/artifacts", headers=account.headers)
    assert listed.status_code == 200, listed.text
    artifacts = {a["name"]: a for a in listed.json()}
    assert "per_class_metrics.json" in artifacts, (sorted(artifacts), text)
    table = client.get(artifacts["per_class_metrics.json"]["url"], headers=account.headers).json()
    assert table["columns"][:3] == ["Class", "Images", "Instances"], table
    assert "mAP50-95" in table["columns"]
    assert [row[0] for row in table["rows"]] == ["raccoon"]
    assert isinstance(table["rows"][0][1], int)
    assert [n for n in artifacts if n.endswith("PR_curve.png")], sorted(artifacts)
    assert {"confusion_matrix.png", "val_batch0_pred.jpg"} <= set(artifacts), sorted(artifacts)
    plot = client.get(artifacts["val_batch0_pred.jpg"]["url"], headers=account.headers)
    assert plot.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(plot.content)).size[0] > 100
