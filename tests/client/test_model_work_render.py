"""How predictions, verification reports and capabilities read in a terminal (pure rendering;
the commands themselves run against a live server in test_model_work.py)."""

from __future__ import annotations

from typing import Any

from rich.console import Console

from lensforge.cli._model_work_render import (
    MAX_RESULT_ROWS,
    capabilities_table,
    image_size,
    result_table,
    training_table,
    verification_table,
)
from lensforge.client import Capabilities, ImageResult, VerificationReport


def text(renderable: Any, width: int = 120) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(renderable)
    return console.export_text()


def image(**fields: Any) -> ImageResult:
    return ImageResult.model_validate(
        {"image": "cat.jpg", "width": 640, "height": 480, "task": "detection", **fields}
    )


def test_detections_are_listed_highest_score_first_with_their_shapes() -> None:
    result = image(
        task="segmentation",
        inference_ms=12.34,
        detections=[
            {"class_id": 1, "class_name": "dog", "score": 0.5, "box": [1, 2, 3, 4],
             "polygon": [[1, 2], [3, 2], [3, 4]]},
            {"class_id": 0, "class_name": "cat", "score": 0.91, "box": [10.25, 20, 30, 40.75],
             "polygon": [[10, 20], [30, 20], [30, 40], [10, 40]]},
        ],
    )  # fmt: skip
    shown = text(result_table(result))
    assert "cat.jpg (640×480, 12.3 ms)" in shown
    assert shown.index("cat") < shown.index("dog")
    assert "0.910" in shown
    assert "10.2, 20.0, 30.0, 40.8" in shown
    assert "4-point polygon" in shown
    assert "3-point polygon" in shown


def test_keypoints_and_angles_are_summarised_and_long_lists_cut() -> None:
    pose = image(
        task="pose",
        detections=[{"class_id": 0, "class_name": "person", "score": 0.8, "box": [0, 0, 9, 9],
                     "keypoints": [[1, 1, 0.9]] * 17}],
    )  # fmt: skip
    assert "17 keypoints" in text(result_table(pose))
    obb = image(
        task="obb",
        detections=[{"class_id": 0, "class_name": "ship", "score": 0.8, "box": [0, 0, 9, 9],
                     "polygon": [[0, 0], [9, 0], [9, 9], [0, 9]], "angle": 0.5}],
    )  # fmt: skip
    assert "angle 0.50 rad" in text(result_table(obb))
    many = image(
        detections=[
            {"class_id": 0, "class_name": "cat", "score": i / 100, "box": [0, 0, 1, 1]}
            for i in range(MAX_RESULT_ROWS + 5)
        ]
    )
    shown = text(result_table(many))
    assert f"{MAX_RESULT_ROWS} of {MAX_RESULT_ROWS + 5} shown" in shown
    assert "0.540" in shown  # the highest scores are kept
    assert "0.000" not in shown


def test_empty_results_say_so_and_classifications_are_a_table() -> None:
    assert "cat.jpg (640×480): no detections" in text(result_table(image(detections=[])))
    none = image(task="classification", classifications=[])
    assert "no classes" in text(result_table(none))
    top = image(
        task="classification",
        classifications=[
            {"class_id": 1, "class_name": "tabby", "score": 0.75},
            {"class_id": 0, "class_name": "lynx", "score": 0.2},
        ],
    )
    shown = text(result_table(top))
    assert shown.index("tabby") < shown.index("lynx")
    assert "0.750" in shown
    assert "Box" not in shown


def test_a_failed_verification_shows_its_numbers_and_failures() -> None:
    report = VerificationReport.model_validate(
        {
            "passed": False, "samples": 8, "max_abs_diff": 0.031, "mean_abs_diff": 0.002,
            "tolerance": 0.001, "detection_agreement": 0.875, "min_agreement": 0.95,
            "latency_ms": {"pytorch": {"median": 41.0, "p95": 44.2},
                           "exported": {"median": 18.7, "p95": 20.1}},
            "runtime": "onnxruntime 1.20.1",
            "failures": ["max abs diff 0.031 exceeds 0.001"],
        }
    )  # fmt: skip
    shown = text(verification_table(report))
    for expected in (
        "verification failed on 8 samples", "0.031", "≤ 0.001", "87.5%", "≥ 95.0%",
        "41 / 44.2 ms", "18.7 / 20.1 ms", "runtime: onnxruntime 1.20.1",
        "max abs diff 0.031 exceeds 0.001",
    ):  # fmt: skip
        assert expected in shown, shown
    partial = text(verification_table(VerificationReport(passed=True)))
    assert "verification passed" in partial
    assert "latency" not in partial


def test_capabilities_list_every_format_of_every_trainer_with_reasons() -> None:
    found = Capabilities.model_validate(
        {
            "trainers": [
                {"name": "reference", "version": "1.0.0", "predict": True,
                 "export_formats": [
                     {"format": "json", "available": True},
                     {"format": "onnx", "available": False, "reason": "no graph to export"},
                 ]},
                {"name": "bare", "version": "0.1", "predict": False, "export_formats": []},
            ]
        }
    )  # fmt: skip
    lines = text(capabilities_table(found)).splitlines()
    row = next(line for line in lines if "onnx" in line)
    assert "no graph to export" in row
    assert " no " in row
    assert any("reference 1.0.0" in line and "json" in line and "yes" in line for line in lines)
    assert any("bare 0.1" in line and "exports nothing" in line for line in lines)


def test_capabilities_say_what_each_trainer_trains_task_by_task() -> None:
    found = Capabilities.model_validate(
        {
            "trainers": [
                {"name": "yolo", "version": "2", "tasks": ["detection", "pose"],
                 "models": [{"name": "n", "tasks": ["detection"]},
                            {"name": "n-pose", "tasks": ["pose"]}]},
                {"name": "bare", "version": "0.1"},
            ]
        }
    )  # fmt: skip
    lines = text(training_table(found)).splitlines()
    assert any("yolo 2" in line and "detection" in line and "n " in line for line in lines)
    assert any("pose" in line and "n-pose" in line for line in lines)
    assert any("bare 0.1" in line for line in lines)


def test_the_export_image_size_reads_width_by_height() -> None:
    assert image_size(320) == "320×320 px"
    assert image_size([480, 640]) == "640×480 px"
    assert image_size(None) is None
    assert image_size(True) is None
