from __future__ import annotations

from pathlib import Path

import pytest

from lensforge.formats import Task, detect_format, read_dataset
from lensforge.formats.readers.yolo import label_path

from .builders import H, W, image, text, write_yaml, yolo_roboflow, yolo_ultralytics


def boxes(manifest, name):  # type: ignore[no-untyped-def]
    item = next(i for i in manifest.items if i.file_name == name)
    return [(a.class_id, a.bbox) for a in item.annotations]


def test_label_path_follows_ultralytics_rule() -> None:
    assert label_path("images/train/a.jpg") == "labels/train/a.txt"
    assert label_path("train/images/a.jpg") == "train/labels/a.txt"
    # the last /images/ is replaced (ultralytics#3581)
    assert label_path("images/x/images/a.b.png") == "images/x/labels/a.b.txt"
    assert label_path("obj_train_data/a.jpg") == "obj_train_data/a.txt"


def test_ultralytics_layout_with_names_dict_and_foreign_path(tmp_path: Path) -> None:
    manifest, report = read_dataset(yolo_ultralytics(tmp_path), format="yolo")
    assert not report.issues
    assert manifest.task is Task.DETECTION
    assert manifest.classes == ["cat", "dog"]
    assert [(i.split, i.file_name) for i in manifest.items] == [
        ("train", "a.jpg"),
        ("train", "b.png"),
        ("val", "c.jpg"),
    ]
    assert boxes(manifest, "a.jpg") == [(0, (8.0, 6.0, 16.0, 12.0)), (1, (4.0, 3.0, 8.0, 6.0))]
    assert boxes(manifest, "b.png") == []  # empty label file: background image
    item = manifest.items[0]
    assert (item.width, item.height) == (W, H)
    assert item.source_path == "images/train/a.jpg"
    assert item.sha256 is not None
    assert len(item.sha256) == 64


def test_roboflow_layout_relative_parent_paths_and_extra_keys(tmp_path: Path) -> None:
    manifest, report = read_dataset(yolo_roboflow(tmp_path))
    assert not report.issues, report.issues
    assert manifest.classes == ["peix", "taca"]
    assert sorted({i.split for i in manifest.items}) == ["test", "train", "val"]
    assert manifest.source_splits == {"train": "train", "val": "val", "test": "test"}
    val = next(i for i in manifest.items if i.split == "val")
    assert val.file_name.startswith("b_jpg.rf.")
    assert val.source_path is not None
    assert val.source_path.startswith("valid/images/")


def test_absolute_paths_from_another_machine_are_rerooted(tmp_path: Path) -> None:
    write_yaml(
        tmp_path / "data.yaml",
        {
            "path": "/data/someone/coco8",
            "train": "/data/someone/coco8/images/train",
            "val": ["C:\\Users\\me\\coco8\\images\\val"],
            "names": ["person"],
        },
    )
    image(tmp_path / "images/train/a.jpg")
    text(tmp_path / "labels/train/a.txt", "0 0.5 0.5 0.5 0.5\n")
    image(tmp_path / "images/val/b.jpg")
    text(tmp_path / "labels/val/b.txt", "0 0.5 0.5 0.5 0.5\n")
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert [(i.split, i.file_name) for i in manifest.items] == [
        ("train", "a.jpg"),
        ("val", "b.jpg"),
    ]


def test_cvat_ultralytics_export_with_image_lists(tmp_path: Path) -> None:
    write_yaml(tmp_path / "data.yaml", {"path": "./", "train": "train.txt", "names": {0: "car"}})
    text(tmp_path / "train.txt", "./images/train/a.jpg\nimages/train/b.jpg\n\n")
    image(tmp_path / "images/train/a.jpg")
    image(tmp_path / "images/train/b.jpg")  # no annotations -> CVAT writes no label file
    text(tmp_path / "labels/train/a.txt", "0 0.5 0.5 0.25 0.25\n")
    manifest, report = read_dataset(tmp_path)
    assert [(i.split, i.file_name) for i in manifest.items] == [
        ("train", "a.jpg"),
        ("train", "b.jpg"),
    ]
    assert [i.code for i in report.issues] == ["missing_label"]
    assert not report.has_errors


def test_cvat_yolo_1_1_darknet_layout(tmp_path: Path) -> None:
    text(tmp_path / "obj.data", "classes = 2\ntrain = data/train.txt\nnames = data/obj.names\n")
    text(tmp_path / "obj.names", "car\nperson\n")
    text(tmp_path / "train.txt", "data/obj_train_data/f0.jpg\n")
    image(tmp_path / "obj_train_data/f0.jpg")
    text(tmp_path / "obj_train_data/f0.txt", "1 0.5 0.5 0.5 0.5\n")
    assert detect_format(tmp_path).format == "yolo"
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert manifest.classes == ["car", "person"]
    assert [(i.split, i.file_name) for i in manifest.items] == [("train", "f0.jpg")]


def test_label_studio_flat_export_with_mixed_rows(tmp_path: Path) -> None:
    text(tmp_path / "classes.txt", "cat\ndog\n")
    text(tmp_path / "notes.json", '{"categories": [], "info": {}}')
    image(tmp_path / "images/1a2b3c4d-x.jpg")
    text(
        tmp_path / "labels/1a2b3c4d-x.txt",
        "0 0.5 0.5 0.5 0.5\n1 0.1 0.1 0.4 0.1 0.4 0.4 0.1 0.4\n",
    )
    detected = detect_format(tmp_path)
    assert (detected.format, detected.task) == ("yolo", Task.SEGMENTATION)
    manifest, report = read_dataset(tmp_path)
    assert manifest.task is Task.SEGMENTATION
    assert manifest.items[0].split is None
    anns = manifest.items[0].annotations
    assert anns[0].polygons == [[8.0, 6.0, 24.0, 6.0, 24.0, 18.0, 8.0, 18.0]]
    assert anns[1].polygons == [[3.2, 2.4, 12.8, 2.4, 12.8, 9.6, 3.2, 9.6]]
    assert anns[1].bbox == (3.2, 2.4, 9.6, 7.2)
    assert [i.code for i in report.issues] == ["box_as_polygon"]


def test_segmentation_read_as_detection_derives_boxes(tmp_path: Path) -> None:
    write_yaml(tmp_path / "data.yaml", {"train": "images", "names": ["a"]})
    image(tmp_path / "images/x.jpg")
    text(tmp_path / "labels/x.txt", "0 0.25 0.25 0.75 0.25 0.5 0.75\n")
    manifest, _ = read_dataset(tmp_path, task="detection")
    ann = manifest.items[0].annotations[0]
    assert manifest.task is Task.DETECTION
    assert ann.polygons == []
    assert ann.bbox == (8.0, 6.0, 16.0, 12.0)


@pytest.mark.parametrize("dims", [2, 3])
def test_pose_with_kpt_shape(tmp_path: Path, dims: int) -> None:
    write_yaml(
        tmp_path / "data.yaml",
        {"train": "images/train", "kpt_shape": [2, dims],
         "flip_idx": [1, 0], "names": {0: "person"},
         "kpt_names": {0: ["left_eye", "right_eye"]}},
    )  # fmt: skip
    image(tmp_path / "images/train/p.jpg")
    second = "0 0 0" if dims == 3 else "0 0"
    first = "0.25 0.5 2" if dims == 3 else "0.25 0.5"
    text(tmp_path / "labels/train/p.txt", f"0 0.5 0.5 0.5 0.5 {first} {second}\n")
    detected = detect_format(tmp_path)
    assert (detected.format, detected.task) == ("yolo", Task.POSE)
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert manifest.task is Task.POSE
    assert (manifest.num_keypoints, manifest.keypoint_dims) == (2, dims)
    assert manifest.flip_idx == [1, 0]
    assert manifest.keypoint_names == ["left_eye", "right_eye"]
    assert manifest.items[0].annotations[0].keypoints == [(8.0, 12.0, 2), (0.0, 0.0, 0)]


def test_yolo_classification_is_read_as_image_folders(tmp_path: Path) -> None:
    image(tmp_path / "train/cat/1.jpg")
    image(tmp_path / "train/dog/1.jpg")
    image(tmp_path / "val/dog/2.jpg")
    manifest, report = read_dataset(tmp_path, format="yolo", task="classification")
    assert not report.issues
    assert read_dataset(tmp_path, format="yolo")[0] == manifest  # inferred from the layout
    assert manifest.task is Task.CLASSIFICATION
    assert manifest.source_format == "yolo"
    assert [(i.split, i.file_name, i.labels) for i in manifest.items] == [
        ("train", "cat/1.jpg", [0]),
        ("train", "dog/1.jpg", [1]),
        ("val", "dog/2.jpg", [1]),
    ]


def test_track_rows_and_duplicates(tmp_path: Path) -> None:
    write_yaml(tmp_path / "data.yaml", {"train": "images", "names": ["a"]})
    image(tmp_path / "images/x.jpg")
    text(tmp_path / "labels/x.txt", "0 0.5 0.5 0.5 0.5 7\n0 0.5 0.5 0.5 0.5 7\n")
    manifest, report = read_dataset(tmp_path)
    assert len(manifest.items[0].annotations) == 1
    assert [i.code for i in report.issues] == ["duplicate_annotation", "track_id_ignored"]
    assert report.issues[0].line == 2


def test_label_beside_image_inside_images_folder(tmp_path: Path) -> None:
    write_yaml(tmp_path / "data.yaml", {"train": "images", "names": ["a"]})
    image(tmp_path / "images/x.jpg")
    text(tmp_path / "images/x.txt", "0 0.5 0.5 0.5 0.5\n")
    manifest, report = read_dataset(tmp_path)
    assert len(manifest.items[0].annotations) == 1
    assert [i.code for i in report.issues] == ["label_beside_image"]


def test_missing_names_are_synthesised(tmp_path: Path) -> None:
    image(tmp_path / "images/x.jpg")
    text(tmp_path / "labels/x.txt", "2 0.5 0.5 0.5 0.5\n")
    manifest, report = read_dataset(tmp_path, format="yolo")
    assert manifest.classes == ["0", "1", "2"]
    assert [i.code for i in report.issues] == ["class_names_missing"]
