"""The manifest and the job config as Ultralytics arguments (no torch needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lensforge.sdk import ConfigurationError
from lensforge.trainers.manifest import TrainerManifest
from lensforge.trainers.registry import load_registry
from lensforge.trainers.ultralytics.metrics import clean_metrics, clean_name, diverged
from lensforge.trainers.ultralytics.options import (
    MANIFEST,
    architecture_yaml,
    find_weights,
    model_task,
    train_options,
)


def test_the_manifest_is_valid_and_registered_as_a_built_in_trainer() -> None:
    manifest = TrainerManifest.model_validate(json.loads(MANIFEST.read_text()))
    assert load_registry([]).get("ultralytics").manifest == manifest
    names = {m.name: m.tasks for m in manifest.models}
    assert names["yolov8n"] == ["detection"]
    assert names["yolo11s-seg"] == ["segmentation"]
    assert names["yolo26m-cls"] == ["classification"]
    assert names["yolov8x-pose"] == ["pose"]
    assert all(model_task(name) == tasks[0] for name, tasks in names.items())
    assert manifest.capabilities.export_formats == ["onnx", "torchscript", "openvino"]
    assert set(manifest.capabilities.export_options) == {"onnx", "torchscript", "openvino"}
    assert {"tflite", "coreml", "engine"} <= set(manifest.capabilities.export_unavailable)


def test_defaults_fill_the_config_and_names_map_to_ultralytics_arguments() -> None:
    options = train_options("yolo11n", "detection", {}, train_images=1000, cuda=False)
    args = options.arguments
    assert (args["epochs"], args["batch"], args["lr0"], args["imgsz"]) == (100, 16, 0.01, 640)
    assert (args["nbs"], args["amp"], args["device"], args["cache"]) == (64, False, "cpu", False)
    assert "pretrained" not in args
    assert "freeze" not in args
    assert architecture_yaml(options.model) == "yolo11n.yaml"


def test_a_tiny_dataset_gets_nbs_equal_to_the_batch_and_amp_only_on_cuda() -> None:
    config = {"basic": {"batch_size": 8, "device": "auto"}}
    tiny = train_options("yolov8n", None, config, train_images=30, cuda=True)
    assert (tiny.arguments["nbs"], tiny.arguments["amp"], tiny.arguments["device"]) == (
        8,
        True,
        "0",
    )
    # The raccoons (160 train images) at batch 8: every batch is an optimiser step, not one in
    # eight (2.5 steps per epoch left the README's first model finding nothing; issue 13).
    small = train_options("yolo11n", None, config, train_images=160, cuda=False)
    assert small.arguments["nbs"] == 8
    large = train_options("yolo11n", None, config, train_images=640, cuda=False)
    assert large.arguments["nbs"] == 64
    explicit = {"basic": {"batch_size": 8}, "advanced": {"nbs": 4, "freeze": 10}}
    given = train_options("yolov8n", None, explicit, train_images=30, cuda=False)
    assert (given.arguments["nbs"], given.arguments["freeze"]) == (8, 10)  # never below the batch


@pytest.mark.parametrize(
    ("model", "task", "config", "message"),
    [
        ("yolov99n", None, {}, "unknown model"),
        ("yolov8n-seg", "detection", {}, "does \\['segmentation'\\]"),
        ("yolov8n", None, {"basic": {"epoch": 3}}, "unknown basic config fields: \\['epoch'\\]"),
        ("yolov8n", None, {"basic": {"device": "0"}}, "no CUDA device"),
        ("yolov8n", None, {"basic": {"device": "0,1"}}, "multi-GPU"),
    ],
)
def test_bad_choices_are_configuration_errors(
    model: str, task: str | None, config: dict[str, dict[str, object]], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        train_options(model, task, config, train_images=10, cuda=False)


def test_pretrained_weights_come_from_the_cache_or_an_absolute_path_never_the_network(
    tmp_path: Path,
) -> None:
    (tmp_path / "yolov8n.pt").write_bytes(b"weights")
    assert find_weights("yolov8n.pt", [tmp_path]) == tmp_path / "yolov8n.pt"
    assert find_weights(str(tmp_path / "yolov8n.pt"), []) == tmp_path / "yolov8n.pt"
    with pytest.raises(ConfigurationError, match="never downloads"):
        find_weights("yolo11n.pt", [tmp_path])
    for bad in ("../x.pt", "weights.bin", "sub/x.pt"):
        with pytest.raises(ConfigurationError):
            find_weights(bad, [tmp_path])


def test_metric_names_are_cleaned() -> None:
    assert clean_name("metrics/mAP50-95(B)") == "val/mAP50-95"
    assert clean_name("metrics/precision(M)") == "val/mask_precision"
    assert clean_name("metrics/recall(P)") == "val/pose_recall"
    assert clean_name("metrics/accuracy_top1") == "val/accuracy_top1"
    assert clean_name("train/box_loss") == "train/box_loss"
    assert clean_name("lr/pg0") == "lr/pg0"
    assert clean_metrics({"metrics/mAP50(B)": 0.5, "x": "text"}) == {"val/mAP50": 0.5}
    assert diverged({"train/box_loss": float("nan"), "val/mAP50": float("nan")}) == [
        "train/box_loss"
    ]
