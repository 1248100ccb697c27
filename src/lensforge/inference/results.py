"""The platform's result schema (one result per image, every trainer emits it) and its checks.

A trainer's predictions are checked here before they are stored: the first offending field is
named (`detections.3.box`), so a broken trainer fails its job with an error people can act on,
and everything downstream (the renderer, the API, the client) can trust the shape.

    result = validate_result(data, task="detection", classes=["raccoon"])
    for result in iter_results(handle, task="detection", classes=classes):   # JSON Lines
        ...

See docs/inference-and-export.md ("The result schema") for the contract itself.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated, Any

import pydantic
from pydantic import BaseModel, ConfigDict, Strict

TASKS = ("detection", "segmentation", "pose", "obb", "classification")
DETECTION_TASKS = frozenset({"detection", "segmentation", "pose", "obb"})
MAX_CLASSIFICATIONS = 5
# Coordinates may leave the image by this much (rounding, a box touching the border); a point
# further out is a bug in the trainer (normalised or scaled coordinates, swapped axes).
EDGE_MARGIN_PX = 1.0
MAX_LINE_BYTES = 1024 * 1024
OBB_CORNERS = 4

# Strict: a trainer that writes "0.9" or true where a number belongs is broken; say so rather
# than coerce. Ints are accepted where floats are expected (JSON has one number type).
Number = Annotated[float, Strict()]
Count = Annotated[int, Strict()]
Text = Annotated[str, Strict()]


class InvalidResult(ValueError):
    """A result that does not follow the schema. `field` is the dotted path of the first
    offending field (`detections.3.box`; from `iter_results`, `line 12: detections.3.box`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field
        self.message = message


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Classification(_Schema):
    class_id: Count
    class_name: Text
    score: Number


class Detection(_Schema):
    """One object. `box` is `[x1, y1, x2, y2]` in pixels of the original image (for OBB the
    axis-aligned hull); `polygon` the outline (segmentation: the mask's largest contour; OBB:
    the four corners); `keypoints` `[x, y, score]` triples; `angle` the OBB's, in radians."""

    class_id: Count
    class_name: Text
    score: Number
    box: list[Number]
    polygon: list[list[Number]] | None = None
    keypoints: list[list[Number]] | None = None
    angle: Number | None = None


class ImageResult(_Schema):
    image: Text
    width: Count
    height: Count
    task: Text
    inference_ms: Number | None = None
    detections: list[Detection] | None = None
    classifications: list[Classification] | None = None

    @property
    def items(self) -> Sequence[Detection | Classification]:
        """Detections, or classifications, whichever the task has."""
        return self.detections or self.classifications or []


def validate_result(data: Any, *, task: str, classes: Sequence[str]) -> ImageResult:
    """`data` (a decoded JSON object) as an `ImageResult` for a model of `task` whose class
    names are `classes` (index = class id); raises `InvalidResult` naming the first bad field."""
    if not isinstance(data, dict):
        raise InvalidResult("", f"a result must be a JSON object, not {_kind(data)}")
    try:
        result = ImageResult.model_validate(data)
    except pydantic.ValidationError as exc:
        raise _invalid(exc) from None
    _check(result, task, classes)
    return result


def iter_results(
    lines: Iterable[bytes],
    *,
    task: str,
    classes: Sequence[str],
    max_line_bytes: int = MAX_LINE_BYTES,
) -> Iterator[ImageResult]:
    """Each result of a JSON Lines stream (a file opened in binary mode, a response's lines),
    validated one at a time; blank lines are skipped. The field of an `InvalidResult` starts
    with the line number (from 1): `line 12: detections.0.score`."""
    for number, line in enumerate(lines, start=1):
        where = f"line {number}"
        if len(line) > max_line_bytes:
            raise InvalidResult(where, f"the line is longer than {max_line_bytes} bytes")
        if not line.strip():
            continue
        try:
            result = _parse_line(line, task, classes)
        except InvalidResult as exc:
            field = f"{where}: {exc.field}" if exc.field else where
            raise InvalidResult(field, exc.message) from None
        yield result


def _parse_line(line: bytes, task: str, classes: Sequence[str]) -> ImageResult:
    try:
        # Parsed and validated in one pass by pydantic's JSON parser: several times faster than
        # json.loads and then validating the objects.
        result = ImageResult.model_validate_json(line)
    except pydantic.ValidationError as exc:
        raise _invalid(exc) from None
    _check(result, task, classes)
    return result


# --- the rules pydantic does not know ---------------------------------------------------------


def _check(result: ImageResult, task: str, classes: Sequence[str]) -> None:
    if result.task != task:
        raise InvalidResult("task", f"is {result.task!r}, the model's task is {task!r}")
    if not result.image.strip():
        raise InvalidResult("image", "must name the image")
    for name in ("width", "height"):
        if getattr(result, name) < 1:
            raise InvalidResult(name, f"must be at least 1, got {getattr(result, name)}")
    if result.inference_ms is not None and result.inference_ms < 0:
        raise InvalidResult("inference_ms", f"must not be negative, got {result.inference_ms}")
    if task == "classification":
        _no_other("detections", result.detections, task)
        if result.classifications is None:
            raise InvalidResult("classifications", f"required for task {task!r}")
        _check_classifications(result.classifications, classes)
    elif task in DETECTION_TASKS:
        _no_other("classifications", result.classifications, task)
        if result.detections is None:
            raise InvalidResult("detections", f"required for task {task!r}")
        for index, detection in enumerate(result.detections):
            _check_detection(detection, f"detections.{index}", result, classes)
    else:
        raise InvalidResult("task", f"unknown task {task!r}; one of {', '.join(TASKS)}")


def _no_other(name: str, value: list[Any] | None, task: str) -> None:
    if value:
        raise InvalidResult(name, f"not expected for task {task!r}")


def _check_class(item: Detection | Classification, path: str, classes: Sequence[str]) -> None:
    if not 0 <= item.class_id < len(classes):
        raise InvalidResult(
            f"{path}.class_id",
            f"{item.class_id} is not a class of the model (0 to {len(classes) - 1})"
            if classes
            else f"{item.class_id}: the model has no classes",
        )
    expected = classes[item.class_id]
    if item.class_name != expected:
        raise InvalidResult(
            f"{path}.class_name",
            f"is {item.class_name!r}, class {item.class_id} is {expected!r}",
        )
    if not 0.0 <= item.score <= 1.0:
        raise InvalidResult(f"{path}.score", f"must be between 0 and 1, got {item.score}")


def _check_classifications(items: list[Classification], classes: Sequence[str]) -> None:
    if len(items) > MAX_CLASSIFICATIONS:
        raise InvalidResult(
            "classifications", f"at most {MAX_CLASSIFICATIONS} (the top ones), got {len(items)}"
        )
    seen: set[int] = set()
    for index, item in enumerate(items):
        path = f"classifications.{index}"
        _check_class(item, path, classes)
        if item.class_id in seen:
            raise InvalidResult(f"{path}.class_id", f"class {item.class_id} is listed twice")
        seen.add(item.class_id)
        if index and item.score > items[index - 1].score:
            raise InvalidResult(
                f"{path}.score",
                f"{item.score} is above the previous score {items[index - 1].score}: "
                "classifications must be sorted by score, highest first",
            )


def _check_detection(
    detection: Detection, path: str, result: ImageResult, classes: Sequence[str]
) -> None:
    _check_class(detection, path, classes)
    box = detection.box
    if len(box) != 4:
        raise InvalidResult(f"{path}.box", f"must be [x1, y1, x2, y2], got {len(box)} numbers")
    x1, y1, x2, y2 = box
    _check_point((x1, y1), f"{path}.box", result)
    _check_point((x2, y2), f"{path}.box", result)
    if x1 > x2:
        raise InvalidResult(f"{path}.box", f"x1 ({x1:g}) is greater than x2 ({x2:g})")
    if y1 > y2:
        raise InvalidResult(f"{path}.box", f"y1 ({y1:g}) is greater than y2 ({y2:g})")
    task = result.task
    if detection.polygon is not None:
        _check_points(detection.polygon, f"{path}.polygon", 2, result)
        if len(detection.polygon) < 3:
            raise InvalidResult(
                f"{path}.polygon", f"needs at least 3 points, got {len(detection.polygon)}"
            )
    elif task in ("segmentation", "obb"):
        raise InvalidResult(f"{path}.polygon", f"required for task {task!r}")
    if task == "obb":
        if detection.polygon is not None and len(detection.polygon) != OBB_CORNERS:
            raise InvalidResult(
                f"{path}.polygon", f"an oriented box has 4 corners, got {len(detection.polygon)}"
            )
        if detection.angle is None:
            raise InvalidResult(f"{path}.angle", "required for task 'obb'")
    if detection.keypoints is not None:
        _check_points(detection.keypoints, f"{path}.keypoints", 3, result)
        for index, (_, _, score) in enumerate(detection.keypoints):
            if not 0.0 <= score <= 1.0:
                raise InvalidResult(
                    f"{path}.keypoints.{index}", f"score must be between 0 and 1, got {score}"
                )
    elif task == "pose":
        raise InvalidResult(f"{path}.keypoints", "required for task 'pose'")


def _check_points(points: list[list[float]], path: str, size: int, result: ImageResult) -> None:
    # The common case (every point well formed and inside) in a few passes of builtins; the
    # point-by-point walk only to name the first offending one.
    if points and all(len(point) == size for point in points):
        xs = [point[0] for point in points]
        ys = [point[1] for point in points]
        low, high_x, high_y = (
            -EDGE_MARGIN_PX,
            result.width + EDGE_MARGIN_PX,
            result.height + EDGE_MARGIN_PX,
        )
        if low <= min(xs) and max(xs) <= high_x and low <= min(ys) and max(ys) <= high_y:
            return
    shape = "[x, y]" if size == 2 else "[x, y, score]"
    for index, point in enumerate(points):
        if len(point) != size:
            raise InvalidResult(f"{path}.{index}", f"must be {shape}, got {len(point)} numbers")
        _check_point((point[0], point[1]), f"{path}.{index}", result)


def _check_point(point: tuple[float, float], path: str, result: ImageResult) -> None:
    x, y = point
    if not -EDGE_MARGIN_PX <= x <= result.width + EDGE_MARGIN_PX:
        raise InvalidResult(path, f"x {x:g} is outside the image (width {result.width})")
    if not -EDGE_MARGIN_PX <= y <= result.height + EDGE_MARGIN_PX:
        raise InvalidResult(path, f"y {y:g} is outside the image (height {result.height})")


# --- pydantic's errors, said for this schema --------------------------------------------------


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _invalid(exc: pydantic.ValidationError) -> InvalidResult:
    first = exc.errors(include_url=False)[0]
    if first["type"] == "json_invalid":
        return InvalidResult("", f"not valid JSON ({first['msg'].removeprefix('Invalid JSON: ')})")
    if not first["loc"] and first["type"] == "model_type":
        return InvalidResult("", f"a result must be a JSON object, not {_kind(first['input'])}")
    return InvalidResult(_path(first["loc"]), _pydantic_message(first))


def _pydantic_message(error: Any) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (see the result schema in docs/inference-and-export.md)"
    if kind == "finite_number":
        return f"must be a finite number, got {value}"
    if kind in ("float_type", "int_type", "float_parsing", "int_parsing", "int_from_float"):
        wanted = "an integer" if kind.startswith("int") else "a number"
        return f"must be {wanted}, got {_kind(value)} {_short(value)}"
    if kind in ("string_type", "list_type", "model_type", "model_attributes_type"):
        wanted = {"string_type": "a string", "list_type": "a list"}.get(kind, "an object")
        return f"must be {wanted}, got {_kind(value)} {_short(value)}"
    return str(error["msg"])


_KINDS = {str: "a string", int: "an integer", float: "a number", list: "a list", dict: "an object"}


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and not math.isfinite(value):
        return "a non-finite number"
    names = {
        str: "a string",
        int: "an integer",
        float: "a number",
        list: "a list",
        dict: "an object",
    }
    return names.get(type(value), type(value).__name__)


def _short(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, str | int | float | bool) else ""
    return text if len(text) <= 40 else text[:37] + "..."


__all__ = [
    "Classification",
    "Detection",
    "ImageResult",
    "InvalidResult",
    "iter_results",
    "validate_result",
]
