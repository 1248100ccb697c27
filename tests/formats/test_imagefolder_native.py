from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lensforge.formats import Task, detect_format, read_dataset

from .builders import H, W, image, text, write_json


def test_imagefolder_with_splits(tmp_path: Path) -> None:
    image(tmp_path / "train/cat/1.jpg")
    image(tmp_path / "train/dog/1.jpg")  # same base name in another class: fine
    image(tmp_path / "train/dog/more/2.png", fmt="PNG")
    image(tmp_path / "valid/cat/3.jpg")
    detected = detect_format(tmp_path)
    assert (detected.format, detected.task) == ("imagefolder", Task.CLASSIFICATION)
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert manifest.classes == ["cat", "dog"]
    assert [(i.split, i.file_name, i.labels) for i in manifest.items] == [
        ("train", "cat/1.jpg", [0]),
        ("val", "cat/3.jpg", [0]),
        ("train", "dog/1.jpg", [1]),
        ("train", "dog/more/2.png", [1]),
    ]


def test_imagefolder_without_splits(tmp_path: Path) -> None:
    image(tmp_path / "data/zebra/1.jpg")  # wrapped in one top folder, as zips often are
    image(tmp_path / "data/ant/2.jpg")
    text(tmp_path / "data/.DS_Store", "x")
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert manifest.classes == ["ant", "zebra"]
    assert [(i.split, i.file_name, i.source_path) for i in manifest.items] == [
        (None, "ant/2.jpg", "data/ant/2.jpg"),
        (None, "zebra/1.jpg", "data/zebra/1.jpg"),
    ]


def test_roboflow_multilabel_csv(tmp_path: Path) -> None:
    image(tmp_path / "train/a.jpg")
    image(tmp_path / "train/b.jpg")
    text(tmp_path / "train/_classes.csv", "filename, cat, dog\na.jpg, 1, 1\nb.jpg, 0, 1\n")
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert manifest.task is Task.CLASSIFICATION
    assert manifest.classes == ["cat", "dog"]
    assert [(i.file_name, i.labels) for i in manifest.items] == [("a.jpg", [0, 1]), ("b.jpg", [1])]


def native(task: str, images: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"format": "lensforge", "version": 1, "task": task, "classes": ["a", "b"],
            **extra, "images": images}  # fmt: skip


@pytest.mark.parametrize(
    ("task", "entry", "extra"),
    [
        ("detection", {"annotations": [{"class_id": 1, "bbox": [1, 2, 3, 4]}]}, {}),
        (
            "segmentation",
            {"annotations": [{"class_id": 0,
                              "polygons": [[1, 1, 5, 1, 5, 5]], "iscrowd": True}]},
            {},
        ),
        (
            "pose",
            {"annotations": [{"class_id": 0, "bbox": [1, 1, 9, 9],
                              "keypoints": [[2, 2, 2], [0, 0, 0]]}]},
            {"keypoints": {"count": 2, "dims": 3, "names": ["l", "r"],
                           "skeleton": [[0, 1]], "flip_idx": [1, 0]}},
        ),
        ("classification", {"labels": [1]}, {}),
    ],
)  # fmt: skip
def test_native_tasks(tmp_path: Path, task: str, entry: dict[str, Any], extra: Any) -> None:
    image(tmp_path / "images/train/x.jpg")
    item = {"file_name": "x.jpg", "split": "train", "width": W, "height": H, **entry}
    write_json(tmp_path / f"annotations_{task}.json", native(task, [item], **extra))
    detected = detect_format(tmp_path)
    assert (detected.format, detected.task.value) == ("native", task)
    manifest, report = read_dataset(tmp_path)
    assert not report.issues, report.issues
    assert manifest.task.value == task
    got = manifest.items[0]
    assert (got.file_name, got.split, got.source_path) == ("x.jpg", "train", "images/train/x.jpg")
    if task == "detection":
        assert got.annotations[0].bbox == (1.0, 2.0, 3.0, 4.0)
    if task == "segmentation":
        assert got.annotations[0].bbox == (1.0, 1.0, 4.0, 4.0)  # the polygon's extent
        assert got.annotations[0].iscrowd
    if task == "pose":
        assert manifest.skeleton == [(0, 1)]
        assert manifest.flip_idx == [1, 0]
        assert got.annotations[0].keypoints == [(2.0, 2.0, 2), (0.0, 0.0, 0)]
    if task == "classification":
        assert got.labels == [1]


def test_native_with_several_tasks_uses_the_first_and_says_so(tmp_path: Path) -> None:
    image(tmp_path / "images/x.jpg")
    item = {"file_name": "x.jpg", "width": W, "height": H}
    write_json(tmp_path / "annotations_detection.json", native("detection", [item]))
    write_json(tmp_path / "annotations_classification.json",
               native("classification", [{**item, "labels": [0]}]))  # fmt: skip
    detected = detect_format(tmp_path)
    assert detected.tasks == (Task.DETECTION, Task.CLASSIFICATION)
    manifest, report = read_dataset(tmp_path)
    assert manifest.task is Task.DETECTION
    assert [i.code for i in report.issues] == ["other_annotations_ignored"]
    chosen, report = read_dataset(tmp_path, task="classification")
    assert chosen.items[0].labels == [0]


def test_native_structure_errors_name_the_field(tmp_path: Path) -> None:
    image(tmp_path / "images/x.jpg")
    bad = {"file_name": "x.jpg", "width": W, "height": H, "annotations": [{"bbox": [1, 2, 3, 4]}]}
    write_json(tmp_path / "annotations_detection.json", native("detection", [bad]))
    manifest, report = read_dataset(tmp_path)
    assert manifest.items == []
    assert report.errors[0].code == "invalid_structure"
    assert "images.0.annotations.0.class_id" in report.errors[0].message
