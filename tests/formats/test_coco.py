from __future__ import annotations

from pathlib import Path
from typing import Any

from lensforge.formats import Task, detect_format, read_dataset
from lensforge.formats.rle import counts_to_string

from .builders import H, W, coco_cvat, coco_label_studio, coco_roboflow, image, write_json


def coco_doc(
    images: list[dict[str, Any]], anns: list[dict[str, Any]], cats: list[dict[str, Any]]
) -> dict[str, Any]:
    return {"images": images, "annotations": anns, "categories": cats}


def test_cvat_instances_default(tmp_path: Path) -> None:
    root = coco_cvat(tmp_path)
    detected = detect_format(root)
    assert (detected.format, detected.task) == ("coco", Task.SEGMENTATION)
    manifest, report = read_dataset(root, task="detection")
    assert not report.issues
    assert manifest.classes == ["car", "person"]
    assert manifest.source_splits == {"default": None}
    first, second = manifest.items
    assert (first.file_name, first.split, first.source_path) == (
        "frame_000000.PNG",
        None,
        "images/default/frame_000000.PNG",
    )
    assert [(a.class_id, a.bbox, a.iscrowd) for a in first.annotations] == [
        (0, (1.5, 2.0, 10.0, 5.0), False)
    ]
    # the crowd mask is uncompressed RLE: decoded, and its extent agrees with its bbox
    assert [(a.class_id, a.bbox, a.iscrowd) for a in second.annotations] == [
        (1, (2.0, 3.0, 4.0, 3.0), True)
    ]


def test_cvat_rle_mask_becomes_a_polygon(tmp_path: Path) -> None:
    manifest, report = read_dataset(coco_cvat(tmp_path))
    assert manifest.task is Task.SEGMENTATION
    mask = manifest.items[1].annotations[0]
    assert mask.polygons == [[2.0, 3.0, 6.0, 3.0, 6.0, 6.0, 2.0, 6.0]]
    # the plain box of the other image becomes its rectangle, with a warning
    assert [i.code for i in report.issues] == ["box_as_polygon"]


def test_roboflow_per_split_files_drop_the_synthetic_parent(tmp_path: Path) -> None:
    root = coco_roboflow(tmp_path)
    assert detect_format(root).format == "coco"
    manifest, report = read_dataset(root)
    assert not report.issues
    assert manifest.classes == ["peix", "taca"]  # "peixos" (id 0, parent of all) dropped
    by_split = {i.split: i for i in manifest.items}
    assert set(by_split) == {"train", "val", "test"}
    assert manifest.source_splits == {"train": "train", "valid": "val", "test": "test"}
    assert by_split["val"].annotations[0].class_id == 1
    assert by_split["train"].annotations[0].bbox == (4.0, 5.0, 10.0, 8.5)


def test_roboflow_parent_is_kept_when_annotated(tmp_path: Path) -> None:
    image(tmp_path / "train/a.jpg")
    cats = [
        {"id": 0, "name": "Red-Onion", "supercategory": "none"},
        {"id": 1, "name": "Red-Onion", "supercategory": "Red-Onion"},
        {"id": 2, "name": "White", "supercategory": "Red-Onion"},
    ]
    images = [{"id": 0, "file_name": "a.jpg", "width": W, "height": H}]
    anns = [{"id": 0, "image_id": 0, "category_id": 1, "bbox": [1, 1, 4, 4]}]
    write_json(tmp_path / "train/_annotations.coco.json", coco_doc(images, anns, cats))
    manifest, report = read_dataset(tmp_path)
    assert manifest.classes == ["Red-Onion", "White"]
    assert not report.issues


def test_label_studio_result_json(tmp_path: Path) -> None:
    root = coco_label_studio(tmp_path)
    assert detect_format(root).format == "coco"
    manifest, report = read_dataset(root)
    assert not report.issues
    assert manifest.classes == ["cat", "dog"]
    assert [(i.file_name, i.source_path, i.split) for i in manifest.items] == [
        ("1a2b3c4d-cat.jpg", "images/1a2b3c4d-cat.jpg", None),
        ("5e6f7a8b-dog.jpg", "images/5e6f7a8b-dog.jpg", None),
    ]
    # a null width/height is taken from the image
    assert (manifest.items[1].width, manifest.items[1].height) == (W, H)


def test_official_layout_with_id_gaps_and_keypoint_file(tmp_path: Path) -> None:
    image(tmp_path / "val2017/000000000139.jpg")
    cats = [{"id": 1, "name": "person"}, {"id": 18, "name": "dog"}, {"id": 90, "name": "brush"}]
    images = [{"id": 139, "file_name": "000000000139.jpg", "width": W, "height": H}]
    anns = [
        {"id": 5, "image_id": 139, "category_id": 90, "bbox": [0, 0, 5, 5], "area": 25},
        {"id": 6, "image_id": 139, "category_id": 18, "bbox": [5, 5, 5, 5]},  # no area: fine
    ]
    write_json(tmp_path / "annotations/instances_val2017.json", coco_doc(images, anns, cats))
    kcats = [{"id": 1, "name": "person", "keypoints": ["a", "b"], "skeleton": [[1, 2]]}]
    kanns = [{"id": 7, "image_id": 139, "category_id": 1, "bbox": [1, 1, 9, 9],
              "keypoints": [2, 2, 2, 4, 4, 1], "num_keypoints": 2}]  # fmt: skip
    write_json(
        tmp_path / "annotations/person_keypoints_val2017.json", coco_doc(images, kanns, kcats)
    )
    manifest, report = read_dataset(tmp_path)
    assert manifest.task is Task.DETECTION
    assert manifest.classes == ["person", "dog", "brush"]
    assert [(a.class_id, a.bbox) for a in manifest.items[0].annotations] == [
        (2, (0.0, 0.0, 5.0, 5.0)),
        (1, (5.0, 5.0, 5.0, 5.0)),
    ]
    assert manifest.items[0].split == "val"
    assert [i.code for i in report.issues] == ["other_annotations_ignored"]
    pose, report = read_dataset(tmp_path, task="pose")
    assert pose.classes == ["person"]
    assert (pose.num_keypoints, pose.keypoint_names, pose.skeleton) == (2, ["a", "b"], [(0, 1)])
    assert pose.items[0].annotations[0].keypoints == [(2.0, 2.0, 2), (4.0, 4.0, 1)]


def test_pose_only_file_is_detected_as_pose(tmp_path: Path) -> None:
    image(tmp_path / "images/a.jpg")
    cats = [{"id": 1, "name": "person", "keypoints": ["nose", "tail", "paw"], "skeleton": []}]
    images = [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9],
         "keypoints": [2, 2, 2, 0, 0, 0, 5, 5, 2], "num_keypoints": 2, "iscrowd": 0},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [10, 10, 5, 5], "iscrowd": 1,
         "num_keypoints": 0},
    ]  # fmt: skip
    write_json(tmp_path / "annotations/person_keypoints_train.json", coco_doc(images, anns, cats))
    detected = detect_format(tmp_path)
    assert (detected.format, detected.task) == ("coco", Task.POSE)
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    crowd = manifest.items[0].annotations[1]
    assert crowd.iscrowd
    assert crowd.keypoints == [(0.0, 0.0, 0)] * 3
    assert manifest.items[0].split == "train"


def test_polygons_and_compressed_rle(tmp_path: Path) -> None:
    image(tmp_path / "images/a.jpg")
    # one pixel at (x=3, y=4): column-major index 3*H + 4
    counts = [3 * H + 4, 1, W * H - 3 * H - 5]
    anns = [
        {"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 10, 10],
         "segmentation": [[0, 0, 10, 0, 10, 10], [12, 12, 14, 12, 14, 14]]},
        {"id": 2, "image_id": 1, "category_id": 3, "bbox": [3, 4, 1, 1], "iscrowd": 1,
         "segmentation": {"size": [H, W], "counts": counts_to_string(counts)}},
    ]  # fmt: skip
    images = [{"id": 1, "file_name": "a.jpg", "width": W, "height": H}]
    write_json(tmp_path / "annotations.json", coco_doc(images, anns, [{"id": 3, "name": "x"}]))
    manifest, report = read_dataset(tmp_path)
    assert manifest.task is Task.SEGMENTATION
    poly, rle = manifest.items[0].annotations
    assert poly.polygons == [
        [0.0, 0.0, 10.0, 0.0, 10.0, 10.0],
        [12.0, 12.0, 14.0, 12.0, 14.0, 14.0],
    ]
    assert poly.bbox == (0.0, 0.0, 14.0, 14.0)  # box = extent of all parts
    assert rle.polygons == [[3.0, 4.0, 4.0, 4.0, 4.0, 5.0, 3.0, 5.0]]
    assert rle.bbox == (3.0, 4.0, 1.0, 1.0)
    assert rle.iscrowd
    assert [i.code for i in report.issues] == ["bbox_mismatch"]  # declared [0,0,10,10]


def test_cvat_task_folders_and_old_flat_images(tmp_path: Path) -> None:
    # file_name carries the task's folder (cvat PR #1381); images saved flat (older CVAT)
    image(tmp_path / "images/default/task_a/frame_000000.png", fmt="PNG")
    image(tmp_path / "images/default/task_b/frame_000000.png", fmt="PNG")
    image(tmp_path / "images/upload_x.jpg")
    images = [
        {"id": 1, "file_name": "task_a/frame_000000.png", "width": W, "height": H},
        {"id": 2, "file_name": "task_b/frame_000000.png", "width": W, "height": H},
        {"id": 3, "file_name": "/data/upload/3/upload_x.jpg", "width": W, "height": H},
    ]
    write_json(tmp_path / "annotations/instances_default.json",
               coco_doc(images, [], [{"id": 1, "name": "car"}]))  # fmt: skip
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert [(i.file_name, i.source_path) for i in manifest.items] == [
        ("task_a/frame_000000.png", "images/default/task_a/frame_000000.png"),
        ("task_b/frame_000000.png", "images/default/task_b/frame_000000.png"),
        ("upload_x.jpg", "images/upload_x.jpg"),
    ]


def test_string_ids_and_a_flat_polygon(tmp_path: Path) -> None:
    image(tmp_path / "images/a.jpg")
    images = [{"id": "img-a", "file_name": "a.jpg", "width": W, "height": H}]
    anns = [
        {"id": "x1", "image_id": "img-a", "category_id": "c", "segmentation": [1, 1, 8, 1, 8, 8]}
    ]
    write_json(tmp_path / "coco.json", coco_doc(images, anns, [{"id": "c", "name": "thing"}]))
    manifest, report = read_dataset(tmp_path, format="coco")
    assert not report.issues
    ann = manifest.items[0].annotations[0]
    assert ann.polygons == [[1.0, 1.0, 8.0, 1.0, 8.0, 8.0]]
    assert ann.bbox == (1.0, 1.0, 7.0, 7.0)  # no bbox given: the polygon's extent


def test_annotation_errors_name_the_image_as_well_as_the_file_and_id(tmp_path: Path) -> None:
    image(tmp_path / "images/cat.jpg")
    image(tmp_path / "images/dog.jpg")
    write_json(
        tmp_path / "annotations/instances_default.json",
        coco_doc(
            [{"id": 1, "file_name": "cat.jpg", "width": W, "height": H},
             {"id": 2, "file_name": "dog.jpg", "width": W, "height": H}],
            [{"id": 7, "image_id": 2, "category_id": 1, "bbox": [1, 1, 500, 5]},
             {"id": 8, "image_id": 2, "category_id": 9, "bbox": [1, 1, 5, 5]},
             {"id": 9, "image_id": 1, "category_id": 1, "bbox": "oops"}],
            [{"id": 1, "name": "pet"}],
        ),
    )  # fmt: skip
    _, report = read_dataset(tmp_path, format="coco")
    found = {
        (i.code, i.object_index): (i.file, i.extra.get("image"), i.message) for i in report.errors
    }
    for key, image_file in (
        (("out_of_bounds", 7), "images/dog.jpg"),
        (("unknown_class", 8), "images/dog.jpg"),
        (("invalid_structure", 9), "images/cat.jpg"),
    ):
        file, named, message = found[key]
        assert file == "annotations/instances_default.json"
        assert named == image_file
        assert image_file in message
