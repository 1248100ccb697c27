"""The result schema's checks: each rule accepts what follows it and names what breaks it."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from lensforge.inference.results import (
    MAX_LINE_BYTES,
    ImageResult,
    InvalidResult,
    iter_results,
    validate_result,
)

CLASSES = ["raccoon", "cat", "dog"]


def detection(**changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "class_id": 0, "class_name": "raccoon", "score": 0.91, "box": [10, 20, 110.5, 220],
    }  # fmt: skip
    item.update(changes)
    return item


def result(task: str = "detection", **changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "image": "cat.jpg", "width": 640, "height": 480, "task": task, "inference_ms": 12.3,
    }  # fmt: skip
    if task == "classification":
        data["classifications"] = [
            {"class_id": 1, "class_name": "cat", "score": 0.97},
            {"class_id": 2, "class_name": "dog", "score": 0.02},
        ]
    else:
        item = detection()
        if task in ("segmentation", "obb"):
            item["polygon"] = [[10, 20], [110, 20], [110, 220], [10, 220]]
        if task == "obb":
            item["angle"] = 0.25
        if task == "pose":
            item["keypoints"] = [[50, 60, 0.9], [0, 0, 0.0]]
        data["detections"] = [item]
    data.update(changes)
    return data


def refused(data: Any, task: str = "detection", classes: list[str] = CLASSES) -> InvalidResult:
    with pytest.raises(InvalidResult) as caught:
        validate_result(data, task=task, classes=classes)
    return caught.value


@pytest.mark.parametrize("task", ["detection", "segmentation", "pose", "obb", "classification"])
def test_a_good_result_of_every_task_is_accepted(task: str) -> None:
    parsed = validate_result(result(task), task=task, classes=CLASSES)
    assert isinstance(parsed, ImageResult)
    assert (parsed.image, parsed.width, parsed.height, parsed.task) == ("cat.jpg", 640, 480, task)
    assert len(parsed.items) == (2 if task == "classification" else 1)


def test_a_parsed_result_keeps_every_value() -> None:
    parsed = validate_result(result("pose"), task="pose", classes=CLASSES)
    assert parsed.detections is not None
    first = parsed.detections[0]
    assert (first.class_id, first.class_name, first.score) == (0, "raccoon", 0.91)
    assert first.box == [10, 20, 110.5, 220]
    assert first.keypoints == [[50, 60, 0.9], [0, 0, 0.0]]
    assert parsed.inference_ms == 12.3
    assert parsed.model_dump(exclude_none=True)["detections"][0]["box"] == [10, 20, 110.5, 220]


def test_optional_fields_may_be_left_out_and_empty_detections_are_fine() -> None:
    data = result(detections=[])
    del data["inference_ms"]
    parsed = validate_result(data, task="detection", classes=CLASSES)
    assert (parsed.detections, parsed.inference_ms, parsed.items) == ([], None, [])


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (lambda d: d.pop("image"), "image", "required field is missing"),
        (lambda d: d.pop("width"), "width", "required field is missing"),
        (lambda d: d.update(width="640"), "width", 'must be an integer, got a string "640"'),
        (lambda d: d.update(height=480.5), "height", "must be an integer"),
        (lambda d: d.update(width=0), "width", "must be at least 1"),
        (lambda d: d.update(image=" "), "image", "must name the image"),
        (lambda d: d.update(image=3), "image", "must be a string"),
        (lambda d: d.update(task="segmentation"), "task", "the model's task is 'detection'"),
        (lambda d: d.update(inference_ms=-1), "inference_ms", "must not be negative"),
        (lambda d: d.update(inference_ms=float("inf")), "inference_ms", "must be a finite number"),
        (lambda d: d.update(boxes=[]), "boxes", "unknown field"),
        (lambda d: d.pop("detections"), "detections", "required for task 'detection'"),
        (lambda d: d.update(detections={}), "detections", "must be a list"),
        (lambda d: d.update(detections=[3]), "detections.0", "must be an object"),
        (
            lambda d: d.update(
                classifications=[{"class_id": 0, "class_name": "raccoon", "score": 1}]
            ),
            "classifications",
            "not expected for task 'detection'",
        ),
    ],
)
def test_top_level_rules(change: Any, field: str, message: str) -> None:
    data = result()
    change(data)
    error = refused(data)
    assert error.field == field
    assert message in error.message
    assert str(error).startswith(f"{field}: ")


def test_a_result_must_be_an_object_and_the_task_known() -> None:
    assert "must be a JSON object, not a list" in str(refused([1, 2]))
    assert refused(result("detection"), task="depth").field == "task"
    error = refused(result("depth"), task="depth")
    assert "unknown task 'depth'" in error.message


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"class_id": 3}, "detections.1.class_id", "3 is not a class of the model (0 to 2)"),
        ({"class_id": -1}, "detections.1.class_id", "not a class of the model"),
        ({"class_id": True}, "detections.1.class_id", "must be an integer, got a boolean"),
        ({"class_id": 1.0}, "detections.1.class_id", "must be an integer"),
        ({"class_name": "cat"}, "detections.1.class_name", "is 'cat', class 0 is 'raccoon'"),
        ({"score": 1.01}, "detections.1.score", "between 0 and 1, got 1.01"),
        ({"score": -0.1}, "detections.1.score", "between 0 and 1"),
        ({"score": "0.9"}, "detections.1.score", 'must be a number, got a string "0.9"'),
        ({"score": float("nan")}, "detections.1.score", "must be a finite number, got nan"),
        ({"score": None}, "detections.1.score", "must be a number, got null"),
        ({"box": [1, 2, 3]}, "detections.1.box", "must be [x1, y1, x2, y2], got 3 numbers"),
        ({"box": [1, 2, 3, 4, 5]}, "detections.1.box", "got 5 numbers"),
        ({"box": [1, 2, "3", 4]}, "detections.1.box.2", "must be a number"),
        ({"box": [1, 2, float("inf"), 4]}, "detections.1.box.2", "finite"),
        ({"box": [50, 2, 40, 4]}, "detections.1.box", "x1 (50) is greater than x2 (40)"),
        ({"box": [1, 40, 3, 4]}, "detections.1.box", "y1 (40) is greater than y2 (4)"),
        ({"box": [-5, 2, 3, 4]}, "detections.1.box", "x -5 is outside the image (width 640)"),
        ({"box": [0, 0, 0.5, 900]}, "detections.1.box", "y 900 is outside the image (height 480)"),
        (
            {"box": [0.1, 0.2, 0.5, 0.9], "polygon": [[1, 1], [2, 2]]},
            "detections.1.polygon",
            "at least 3 points, got 2",
        ),
        (
            {"polygon": [[1, 1], [2, 2], [3]]},
            "detections.1.polygon.2",
            "must be [x, y], got 1 numbers",
        ),
        ({"polygon": [[1, 1], [2, 2], [3, 3, 3]]}, "detections.1.polygon.2", "must be [x, y]"),
        ({"polygon": [[1, 1], [2, 2], [3, 999]]}, "detections.1.polygon.2", "outside the image"),
        ({"polygon": "none"}, "detections.1.polygon", "must be a list"),
        ({"keypoints": [[1, 1]]}, "detections.1.keypoints.0", "must be [x, y, score], got 2"),
        ({"keypoints": [[1, 1, 2]]}, "detections.1.keypoints.0", "score must be between 0 and 1"),
        ({"keypoints": [[700, 1, 0.5]]}, "detections.1.keypoints.0", "x 700 is outside the image"),
        ({"angle": "flat"}, "detections.1.angle", "must be a number"),
        ({"mask": []}, "detections.1.mask", "unknown field"),
    ],
)
def test_detection_rules_name_the_offending_entry(
    changes: dict[str, Any], field: str, message: str
) -> None:
    data = result()
    data["detections"] = [detection(), detection(**changes)]
    error = refused(data)
    assert (error.field, error.message.count(message)) == (field, 1), error.message


def test_missing_detection_fields_are_named() -> None:
    for key in ("class_id", "class_name", "score", "box"):
        item = detection()
        del item[key]
        error = refused(result(detections=[item]))
        assert (error.field, error.message) == (f"detections.0.{key}", "required field is missing")


def test_coordinates_may_exceed_the_image_by_one_pixel() -> None:
    edge = detection(box=[-1, -0.5, 641, 481], polygon=[[-1, -1], [641, 0], [641, 481]])
    validate_result(result(detections=[edge]), task="detection", classes=CLASSES)
    beyond = detection(box=[-1.01, 0, 10, 10])
    assert "outside the image" in refused(result(detections=[beyond])).message
    beyond = detection(box=[0, 0, 641.5, 10])
    assert "x 641.5 is outside" in refused(result(detections=[beyond])).message


def test_a_point_box_is_allowed() -> None:
    flat = detection(box=[5, 5, 5, 5])
    validate_result(result(detections=[flat]), task="detection", classes=CLASSES)


@pytest.mark.parametrize(
    ("task", "key", "message"),
    [
        ("segmentation", "polygon", "required for task 'segmentation'"),
        ("obb", "polygon", "required for task 'obb'"),
        ("obb", "angle", "required for task 'obb'"),
        ("pose", "keypoints", "required for task 'pose'"),
    ],
)
def test_task_specific_fields_are_required(task: str, key: str, message: str) -> None:
    data = result(task)
    del data["detections"][0][key]
    error = refused(data, task=task)
    assert (error.field, error.message) == (f"detections.0.{key}", message)


def test_an_oriented_box_has_four_corners() -> None:
    data = result("obb")
    data["detections"][0]["polygon"] = [[10, 20], [110, 20], [110, 220]]
    error = refused(data, task="obb")
    assert (error.field, error.message) == (
        "detections.0.polygon", "an oriented box has 4 corners, got 3",
    )  # fmt: skip


def test_classification_rules() -> None:
    assert refused(result("classification", classifications=None), "classification").field == (
        "classifications"
    )
    data = result("classification", detections=[detection()])
    assert refused(data, "classification").message == "not expected for task 'classification'"
    # an empty detections list next to classifications is harmless
    validate_result(result("classification", detections=[]), task="classification", classes=CLASSES)

    def with_items(*items: tuple[int, str, float]) -> dict[str, Any]:
        listed = [{"class_id": c, "class_name": n, "score": s} for c, n, s in items]
        return result("classification", classifications=listed)

    classes = [f"c{i}" for i in range(8)]
    six = with_items(*[(i, f"c{i}", 0.5 - i / 20) for i in range(6)])
    assert refused(six, "classification", classes).message == "at most 5 (the top ones), got 6"
    unsorted = with_items((0, "c0", 0.2), (1, "c1", 0.7))
    error = refused(unsorted, "classification", classes)
    assert error.field == "classifications.1.score"
    assert "sorted by score, highest first" in error.message
    twice = with_items((0, "c0", 0.5), (0, "c0", 0.5))
    assert refused(twice, "classification", classes).message == "class 0 is listed twice"
    wrong = with_items((1, "c2", 0.5))
    assert refused(wrong, "classification", classes).field == "classifications.0.class_name"
    high = with_items((1, "c1", 1.5))
    assert refused(high, "classification", classes).field == "classifications.0.score"
    ties = with_items((0, "c0", 0.5), (1, "c1", 0.5), (2, "c2", 0.0))
    assert len(validate_result(ties, task="classification", classes=classes).items) == 3


def test_a_model_without_classes_accepts_no_class_id() -> None:
    assert "the model has no classes" in refused(result(), classes=[]).message


def test_the_result_is_frozen() -> None:
    parsed = validate_result(result(), task="detection", classes=CLASSES)
    with pytest.raises(ValueError, match="frozen"):
        parsed.width = 3  # type: ignore[misc]


# --- JSON Lines ---------------------------------------------------------------------------------


def lines(*items: Any) -> list[bytes]:
    return [
        (item if isinstance(item, bytes) else json.dumps(item).encode()) + b"\n" for item in items
    ]


def test_iter_results_reads_one_result_per_line_and_skips_blank_lines() -> None:
    second = result(image="b.jpg", detections=[])
    parsed = list(
        iter_results(lines(result(), b"", b"  ", second), task="detection", classes=CLASSES)
    )
    assert [r.image for r in parsed] == ["cat.jpg", "b.jpg"]
    assert list(iter_results([], task="detection", classes=CLASSES)) == []


def test_iter_results_names_the_line_and_the_field() -> None:
    bad = result(image="b.jpg")
    bad["detections"][0]["score"] = 3
    stream = iter_results(
        lines(result(), result(), bad, result()), task="detection", classes=CLASSES
    )
    assert next(stream).image == "cat.jpg"
    assert next(stream).image == "cat.jpg"
    with pytest.raises(InvalidResult) as caught:
        next(stream)
    assert caught.value.field == "line 3: detections.0.score"
    assert str(caught.value) == "line 3: detections.0.score: must be between 0 and 1, got 3.0"


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        (b"{not json", "line 2", "not valid JSON"),
        (b"\xff\xfe", "line 2", "not valid JSON"),
        (b"[1, 2]", "line 2", "must be a JSON object, not a list"),
        (b'"text"', "line 2", "not a string"),
        (json.dumps(result(inference_ms=float("nan"))).encode(), "line 2: inference_ms", "finite"),
    ],
)
def test_iter_results_refuses_broken_lines(line: bytes, field: str, message: str) -> None:
    with pytest.raises(InvalidResult) as caught:
        list(iter_results(lines(result(), line), task="detection", classes=CLASSES))
    assert caught.value.field == field
    assert message in caught.value.message


def test_iter_results_refuses_an_overlong_line_before_parsing_it() -> None:
    long_line = json.dumps(result(image="x" * 200)).encode()
    stream = lines(result(), long_line)
    with pytest.raises(InvalidResult) as caught:
        list(iter_results(stream, task="detection", classes=CLASSES, max_line_bytes=100))
    # the first line is longer than 100 bytes too
    assert (caught.value.field, caught.value.message) == (
        "line 1",
        "the line is longer than 100 bytes",
    )
    assert MAX_LINE_BYTES >= 64 * 1024
    fitting = list(
        iter_results(lines(result()), task="detection", classes=CLASSES, max_line_bytes=4096)
    )
    assert len(fitting) == 1


def test_iter_results_reads_a_binary_file(tmp_path: Any) -> None:
    path = tmp_path / "predictions.jsonl"
    path.write_bytes(b"".join(lines(*[result(image=f"{i}.jpg") for i in range(3)])))
    with path.open("rb") as handle:
        assert [r.image for r in iter_results(handle, task="detection", classes=CLASSES)] == [
            "0.jpg", "1.jpg", "2.jpg",
        ]  # fmt: skip


def test_validate_result_does_not_change_its_input() -> None:
    data = result("pose")
    before = copy.deepcopy(data)
    validate_result(data, task="pose", classes=CLASSES)
    assert data == before
