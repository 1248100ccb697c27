"""The export verification's arithmetic: IoU matching, agreement, latency, pass and fail."""

from __future__ import annotations

from typing import Any

import pytest

from lensforge.trainers.ultralytics.verification import (
    Differences,
    agreement,
    iou,
    latency,
    matched_detections,
    report,
)


def det(box: list[float], class_id: int = 0, score: float = 0.9) -> dict[str, Any]:
    return {"box": box, "class_id": class_id, "score": score}


def image(*detections: dict[str, Any]) -> dict[str, Any]:
    return {"detections": list(detections)}


def test_iou() -> None:
    assert iou([0, 0, 10, 10], [0, 0, 10, 10]) == 1.0
    assert iou([0, 0, 10, 10], [5, 0, 15, 10]) == pytest.approx(50 / 150)
    assert iou([0, 0, 1, 1], [2, 2, 3, 3]) == 0.0


def test_matching_needs_the_same_class_and_iou_of_at_least_0_9_each_match_used_once() -> None:
    reference = [det([0, 0, 100, 100]), det([0, 0, 100, 100], score=0.8), det([50, 50, 60, 60])]
    exported = [det([0, 0, 100, 99]), det([50, 50, 60, 60], class_id=1)]
    assert matched_detections(reference, exported, conf=0.25) == (1, 3)


def test_detections_under_conf_do_not_count() -> None:
    assert matched_detections([det([0, 0, 5, 5], score=0.1)], [], conf=0.25) == (0, 0)


def test_agreement_of_detections_and_of_classifications() -> None:
    same = (image(det([0, 0, 10, 10])), image(det([0, 0, 10, 10])))
    lost = (image(det([0, 0, 10, 10])), image())
    assert agreement([same, lost], conf=0.25) == 0.5
    assert agreement([(image(), image())], conf=0.25) == 1.0
    assert agreement([(image(), image(det([0, 0, 1, 1])))], conf=0.25) == 0.0

    def top(class_id: int) -> dict[str, Any]:
        return {"classifications": [{"class_id": class_id, "score": 0.9}]}

    assert agreement([(top(1), top(1)), (top(1), top(0))], conf=0.25) == 0.5


def test_latency_median_and_p95() -> None:
    assert latency([5.0, 1.0, 3.0]) == {"median": 3.0, "p95": 5.0}
    assert latency(list(range(1, 101))) == {"median": 50.5, "p95": 95}
    assert latency([]) == {"median": 0.0, "p95": 0.0}


def _report(differences: Differences, agreed: float, samples: int = 8) -> dict[str, Any]:
    return report(
        fmt="onnx", options={"half": False}, samples=samples, differences=differences,
        detection_agreement=agreed, tolerance=1e-3, min_agreement=0.95,
        pytorch_ms=[40.0, 44.0], exported_ms=[18.0, 20.0], runtime="onnxruntime 1.2",
    )  # fmt: skip


def test_a_faithful_export_passes_with_every_field_of_the_documented_report() -> None:
    differences = Differences()
    differences.add(2e-5, 3e-3, 10_000)
    got = _report(differences, 1.0)
    assert got == {
        "passed": True,
        "samples": 8,
        "format": "onnx",
        "options": {"half": False},
        "max_abs_diff": 2e-5,
        "mean_abs_diff": pytest.approx(3e-7),
        "tolerance": 1e-3,
        "detection_agreement": 1.0,
        "min_agreement": 0.95,
        "latency_ms": {
            "pytorch": {"median": 42.0, "p95": 44.0},
            "exported": {"median": 19.0, "p95": 20.0},
        },
        "runtime": "onnxruntime 1.2",
        "failures": [],
    }


def test_an_export_off_by_more_than_the_tolerance_or_disagreeing_fails_with_the_numbers() -> None:
    differences = Differences()
    differences.add(0.02, 1.0, 100)
    got = _report(differences, 0.5)
    assert got["passed"] is False
    assert got["failures"] == [
        "max abs diff 0.02 exceeds the tolerance 0.001",
        "agreement 0.500 is under the minimum 0.95",
    ]


def test_outputs_of_other_shapes_leave_the_diff_empty_and_agreement_decides() -> None:
    differences = Differences(skipped=["a.jpg"])
    got = _report(differences, 1.0)
    assert (got["passed"], got["max_abs_diff"], got["mean_abs_diff"]) == (True, None, None)


def test_no_samples_fails() -> None:
    got = _report(Differences(), 0.0, samples=0)
    assert got["failures"] == ["no validation images to verify on"]


def test_both_models_see_the_same_square_input_when_detections_are_compared() -> None:
    """Ultralytics letterboxes a PyTorch model's input to the image's aspect (`rect`, its
    predict default) and a fixed-size export's to a square: compared on different pixels, the
    README's first model (a weak one) agreed on 0.6 of its detections with raw outputs equal to
    1e-5, and its verified ONNX export failed (issue 13). Verification predicts with
    `rect=False` for both."""
    from lensforge.trainers.ultralytics.export import verify_params

    params = verify_params(128, "cpu")
    assert params["rect"] is False
    assert (params["imgsz"], params["conf"], params["device"]) == (128, 0.25, "cpu")
