"""Predictions as the platform's result schema, checked by the server's own validator."""

from __future__ import annotations

import pytest

from lensforge.inference.results import validate_result
from lensforge.trainers.ultralytics.results import (
    RawDetections,
    class_map,
    classification_result,
    detection_result,
    largest_polygon,
    polygon_area,
)

CLASSES = ["cat", "dog"]


def test_detections_are_sorted_by_score_clamped_into_the_image_and_valid() -> None:
    raw = RawDetections(
        boxes=[[10, 10, 20, 30], [-3.5, 2, 70.2, 50]],
        classes=[0, 1],
        scores=[0.4, 0.9],
    )
    result = detection_result(
        image="a.jpg", width=64, height=48, task="detection", raw=raw,
        names=CLASSES, classes=CLASSES, inference_ms=3.21,
    )  # fmt: skip
    validate_result(result, task="detection", classes=CLASSES)
    assert [d["class_name"] for d in result["detections"]] == ["dog", "cat"]
    assert result["detections"][0]["box"] == [0.0, 2.0, 64.0, 48.0]
    assert result["inference_ms"] == 3.21


def test_segmentation_keeps_the_largest_contour_by_area() -> None:
    small = [[1, 1], [3, 1], [3, 3]]
    large = [[10, 10], [30, 10], [30, 30], [10, 30]]
    many_points_but_tiny = [[40, 40], [40.5, 40], [41, 40], [41, 40.5], [41, 41], [40, 41]]
    raw = RawDetections(
        boxes=[[1, 1, 41, 41]], classes=[1], scores=[0.8],
        polygons=[[small, many_points_but_tiny, large]],
    )  # fmt: skip
    result = detection_result(
        image="s.png", width=64, height=64, task="segmentation", raw=raw,
        names=CLASSES, classes=CLASSES,
    )  # fmt: skip
    validate_result(result, task="segmentation", classes=CLASSES)
    assert result["detections"][0]["polygon"] == [[float(x), float(y)] for x, y in large]


def test_a_mask_too_small_to_trace_gets_its_box_as_outline() -> None:
    raw = RawDetections(boxes=[[5, 6, 7, 9]], classes=[0], scores=[0.5], polygons=[[]])
    result = detection_result(
        image="s.png", width=64, height=64, task="segmentation", raw=raw,
        names=CLASSES, classes=CLASSES,
    )  # fmt: skip
    validate_result(result, task="segmentation", classes=CLASSES)
    assert result["detections"][0]["polygon"] == [[5, 6], [7, 6], [7, 9], [5, 9]]


def test_pose_keypoints_with_and_without_scores() -> None:
    raw = RawDetections(
        boxes=[[0, 0, 10, 10], [5, 5, 20, 20]], classes=[0, 0], scores=[0.7, 0.6],
        keypoints=[[[1, 2, 0.9], [3, 4, 1.2]], [[6, 7], [8, 90]]],
    )  # fmt: skip
    result = detection_result(
        image="p.jpg", width=32, height=32, task="pose", raw=raw,
        names=["person"], classes=["person"],
    )  # fmt: skip
    validate_result(result, task="pose", classes=["person"])
    first, second = result["detections"]
    assert first["keypoints"] == [[1.0, 2.0, 0.9], [3.0, 4.0, 1.0]]
    assert second["keypoints"] == [[6.0, 7.0, 1.0], [8.0, 32.0, 1.0]]


def test_classification_top5_mapped_from_sorted_folder_names_to_dataset_ids() -> None:
    classes = ["zebra", "ant", "moth", "bee", "cow", "emu"]
    names = sorted(classes)  # how Ultralytics numbers ImageFolder classes
    probabilities = [0.05, 0.1, 0.02, 0.03, 0.5, 0.3]  # ant bee cow emu moth zebra
    result = classification_result(
        image="c.png", width=8, height=8, probabilities=probabilities,
        names=names, classes=classes,
    )  # fmt: skip
    validate_result(result, task="classification", classes=classes)
    top = result["classifications"]
    assert [(c["class_name"], c["class_id"]) for c in top[:2]] == [("moth", 2), ("zebra", 0)]
    assert len(top) == 5


def test_a_model_of_other_classes_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match=r"\['horse'\]"):
        class_map(["cat", "horse"], CLASSES)


def test_polygon_helpers() -> None:
    assert polygon_area([[0, 0], [4, 0], [4, 3]]) == 6.0
    assert largest_polygon([[[0, 0], [1, 0]]]) == []
