from __future__ import annotations

from pathlib import Path

import pytest

from lensforge.formats import (
    FORMATS,
    FormatNotDetected,
    Task,
    UnsupportedFormat,
    detect_format,
    read_dataset,
)

from .builders import (
    coco_cvat,
    coco_label_studio,
    coco_roboflow,
    image,
    text,
    voc_xml,
    write_json,
    yolo_roboflow,
    yolo_ultralytics,
)


@pytest.mark.parametrize(
    ("build", "fmt", "task"),
    [
        (yolo_ultralytics, "yolo", Task.DETECTION),
        (yolo_roboflow, "yolo", Task.DETECTION),
        (coco_cvat, "coco", Task.SEGMENTATION),
        (coco_roboflow, "coco", Task.DETECTION),
        (coco_label_studio, "coco", Task.DETECTION),
    ],
)
def test_real_tool_layouts(tmp_path: Path, build, fmt: str, task: Task) -> None:  # type: ignore[no-untyped-def]
    detected = detect_format(build(tmp_path))
    assert (detected.format, detected.task) == (fmt, task)
    assert detected.reason


def test_voc_and_imagefolder(tmp_path: Path) -> None:
    image(tmp_path / "voc/JPEGImages/a.jpg")
    text(tmp_path / "voc/Annotations/a.xml", voc_xml("a.jpg", [("x", 1, 1, 4, 4)]))
    assert detect_format(tmp_path / "voc").format == "voc"
    image(tmp_path / "folders/cat/a.jpg")
    image(tmp_path / "folders/dog/b.jpg")
    detected = detect_format(tmp_path / "folders")
    assert (detected.format, detected.task) == ("imagefolder", Task.CLASSIFICATION)


def test_priority_native_over_coco_over_yolo(tmp_path: Path) -> None:
    yolo_ultralytics(tmp_path)
    assert detect_format(tmp_path).format == "yolo"
    write_json(tmp_path / "annotations/instances_train.json",
               {"images": [], "annotations": [], "categories": []})  # fmt: skip
    assert detect_format(tmp_path).format == "coco"
    write_json(tmp_path / "annotations_detection.json", {"format": "lensforge"})
    assert detect_format(tmp_path).format == "native"
    assert FORMATS == ("native", "coco", "yolo", "voc", "imagefolder")


def test_single_wrapping_folder_is_entered(tmp_path: Path) -> None:
    yolo_ultralytics(tmp_path / "my-dataset-v3")
    text(tmp_path / "__MACOSX/._junk", "x")
    assert detect_format(tmp_path).format == "yolo"
    manifest, report = read_dataset(tmp_path)
    assert manifest.items[0].source_path == "my-dataset-v3/images/train/a.jpg"
    assert not report.issues


def test_nothing_matches_says_what_was_looked_for(tmp_path: Path) -> None:
    image(tmp_path / "a.jpg")
    text(tmp_path / "notes.md", "hello")
    with pytest.raises(FormatNotDetected) as err:
        detect_format(tmp_path)
    message = err.value.message
    for expected in ("annotations_<task>.json", "COCO", "data.yaml", "<annotation>", "<class>"):
        assert expected in message
    assert "1 images" in message
    assert err.value.code == "format_not_detected"
    assert err.value.status_code == 400


def test_recognised_but_unsupported_exports_get_a_hint(tmp_path: Path) -> None:
    image(tmp_path / "img1.jpg")
    write_json(tmp_path / "img1.json", {"version": "5.5.0", "shapes": [], "imagePath": "img1.jpg"})
    with pytest.raises(FormatNotDetected, match="LabelMe"):
        detect_format(tmp_path)


def test_explicit_format_and_task_are_checked(tmp_path: Path) -> None:
    yolo_ultralytics(tmp_path)
    with pytest.raises(UnsupportedFormat, match="unknown format"):
        read_dataset(tmp_path, format="labelme")
    with pytest.raises(UnsupportedFormat, match="voc cannot hold segmentation"):
        read_dataset(tmp_path, format="voc", task="segmentation")
    with pytest.raises(UnsupportedFormat, match="unknown task"):
        read_dataset(tmp_path, task="depth")


def test_not_a_directory(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="not a directory"):
        read_dataset(tmp_path / "missing")
