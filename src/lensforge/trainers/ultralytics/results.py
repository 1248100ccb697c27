"""Predictions as the platform's result schema (docs/inference-and-export.md), from plain
numbers: `predict.py` takes them out of Ultralytics' `Results`; this module decides the shape
and runs without torch.

Coordinates are absolute pixels of the original image; every point is clamped into it (the
model may reach a pixel past the border). Class ids are the platform's: the model's class
names are mapped to the dataset's by name (Ultralytics numbers classification classes by their
sorted folder names, which need not be the dataset's order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

TOP_K = 5
Point = list[float]


@dataclass
class RawDetections:
    """One image's detections as Ultralytics gives them (model class indices)."""

    boxes: list[Sequence[float]] = field(default_factory=list)
    """[x1, y1, x2, y2] in original pixels."""
    classes: list[int] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    polygons: list[list[list[Sequence[float]]]] | None = None
    """Per detection: every contour of its mask ([[x, y], ...] each); the largest is kept."""
    keypoints: list[list[Sequence[float]]] | None = None
    """Per detection: [x, y] or [x, y, score] per keypoint."""


def class_map(names: Sequence[str], classes: Sequence[str]) -> list[int]:
    """Model class index -> platform class id, by name. ValueError naming a class the dataset
    does not have (the model was not trained on this dataset's classes)."""
    where = {name: index for index, name in enumerate(classes)}
    missing = [name for name in names if name not in where]
    if missing:
        raise ValueError(f"the model's classes {missing} are not classes of the dataset {classes}")
    return [where[name] for name in names]


def polygon_area(points: Sequence[Sequence[float]]) -> float:
    area = 0.0
    for (x1, y1), (x2, y2) in zip(points, [*points[1:], *points[:1]], strict=True):
        area += x1 * y2 - x2 * y1
    return abs(area) / 2.0


def largest_polygon(contours: Sequence[Sequence[Sequence[float]]]) -> list[Sequence[float]]:
    usable = [list(c) for c in contours if len(c) >= 3]
    return max(usable, key=polygon_area) if usable else []


def _clamp(value: float, high: int) -> float:
    return round(min(max(float(value), 0.0), float(high)), 2)


def _point(x: float, y: float, width: int, height: int) -> Point:
    return [_clamp(x, width), _clamp(y, height)]


def _score(value: float) -> float:
    return round(min(max(float(value), 0.0), 1.0), 5)


def _box_outline(box: Point) -> list[Point]:
    x1, y1, x2, y2 = box
    return [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]


def detection_result(
    *,
    image: str,
    width: int,
    height: int,
    task: str,
    raw: RawDetections,
    names: Sequence[str],
    classes: Sequence[str],
    inference_ms: float | None = None,
) -> dict[str, Any]:
    """The result of a detection, segmentation or pose model, detections by score."""
    to_platform = class_map(names, classes)
    order = sorted(range(len(raw.scores)), key=lambda i: -raw.scores[i])
    detections = []
    for i in order:
        x1, y1, x2, y2 = (float(v) for v in raw.boxes[i])
        p1, p2 = _point(x1, y1, width, height), _point(x2, y2, width, height)
        box = [min(p1[0], p2[0]), min(p1[1], p2[1]), max(p1[0], p2[0]), max(p1[1], p2[1])]
        class_id = to_platform[int(raw.classes[i])]
        detection: dict[str, Any] = {
            "class_id": class_id,
            "class_name": classes[class_id],
            "score": _score(raw.scores[i]),
            "box": box,
        }
        if task == "segmentation":
            contour = largest_polygon(raw.polygons[i] if raw.polygons else [])
            detection["polygon"] = (
                [_point(x, y, width, height) for x, y in contour]
                if contour
                else _box_outline(box)  # a mask too small to trace: its box is the outline
            )
        if task == "pose":
            detection["keypoints"] = [
                [*_point(k[0], k[1], width, height), _score(k[2]) if len(k) > 2 else 1.0]
                for k in (raw.keypoints[i] if raw.keypoints else [])
            ]
        detections.append(detection)
    result = _header(image, width, height, task, inference_ms)
    result["detections"] = detections
    return result


def classification_result(
    *,
    image: str,
    width: int,
    height: int,
    probabilities: Sequence[float],
    names: Sequence[str],
    classes: Sequence[str],
    inference_ms: float | None = None,
) -> dict[str, Any]:
    """The top 5 classes, highest score first."""
    to_platform = class_map(names, classes)
    order = sorted(range(len(probabilities)), key=lambda i: -probabilities[i])[:TOP_K]
    result = _header(image, width, height, "classification", inference_ms)
    result["classifications"] = [
        {
            "class_id": to_platform[i],
            "class_name": classes[to_platform[i]],
            "score": _score(probabilities[i]),
        }
        for i in order
    ]
    return result


def _header(
    image: str, width: int, height: int, task: str, inference_ms: float | None
) -> dict[str, Any]:
    result: dict[str, Any] = {"image": image, "width": width, "height": height, "task": task}
    if inference_ms is not None:
        result["inference_ms"] = round(max(float(inference_ms), 0.0), 3)
    return result
