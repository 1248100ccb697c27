"""`compute_stats` on small hand-built manifests: every count and bucket, per task."""

from __future__ import annotations

import json
from typing import Any

from lensforge.datasets.browse_schemas import VersionStats
from lensforge.datasets.stats import compute_stats
from lensforge.formats import Annotation, DatasetManifest, Item, Task


def box(class_id: int, w: float, h: float, **extra: Any) -> Annotation:
    return Annotation(class_id=class_id, bbox=(0, 0, w, h), **extra)


def detection() -> DatasetManifest:
    many = [box(1, 10, 10) for _ in range(12)]
    return DatasetManifest(
        task=Task.DETECTION,
        classes=["cat", "dog", "bird"],
        items=[
            Item(file_name="a.jpg", width=640, height=480, split="train",
                 annotations=[box(0, 20, 20), box(0, 50, 50), box(1, 200, 100)]),
            Item(file_name="b.jpg", width=1280, height=720, split="train", annotations=many),
            Item(file_name="c.jpg", width=100, height=300, split="val"),
            Item(file_name="d.jpg", width=5000, height=10, split="test",
                 annotations=[box(0, 31, 33)]),
        ],
    )  # fmt: skip


def test_detection_counts_and_histograms() -> None:
    stats = compute_stats(detection())
    assert stats["task"] == "detection"
    assert stats["image_count"] == 4
    assert stats["annotation_count"] == 16
    assert stats["images_without_annotations"] == 1
    assert stats["classes"] == [
        {"id": 0, "name": "cat", "count": 3, "images": 2},
        {"id": 1, "name": "dog", "count": 13, "images": 2},
        {"id": 2, "name": "bird", "count": 0, "images": 0},
    ]
    assert stats["splits"] == {
        "train": {"images": 2, "annotations": 15, "class_counts": [2, 13, 0]},
        "val": {"images": 1, "annotations": 0, "class_counts": [0, 0, 0]},
        "test": {"images": 1, "annotations": 1, "class_counts": [1, 0, 0]},
    }
    assert stats["split_image_counts"] == {"train": 2, "val": 1, "test": 1}
    assert stats["objects_per_image"] == {
        "0": 1, "1": 1, "2": 0, "3": 1, "4": 0, "5-9": 0, "10-19": 1, "20+": 0,
    }  # fmt: skip
    # COCO thresholds on the box area: 20² and 10² small; 31x33 = 1023 small; 50² medium.
    assert stats["box_sizes"] == {"small": 14, "medium": 1, "large": 1}
    assert stats["keypoints"] is None


def test_image_size_distribution() -> None:
    sizes = compute_stats(detection())["image_sizes"]
    assert sizes["width"] == {"min": 100, "max": 5000, "mean": 1755.0, "median": 960.0}
    assert sizes["height"] == {"min": 10, "max": 720, "mean": 377.5, "median": 390.0}
    assert sizes["longest_side"] == {
        "0-256": 0, "257-512": 1, "513-1024": 1, "1025-2048": 1, "2049-4096": 0, "4097+": 1,
    }  # fmt: skip


def test_key_order_is_stable_and_json_serialisable() -> None:
    first = json.dumps(compute_stats(detection()))
    assert first == json.dumps(compute_stats(detection()))
    assert list(json.loads(first)) == [
        "task", "image_count", "annotation_count", "images_without_annotations", "classes",
        "splits", "split_image_counts", "objects_per_image", "image_sizes", "box_sizes",
        "keypoints",
    ]  # fmt: skip


def test_classification_counts_images_per_class() -> None:
    manifest = DatasetManifest(
        task=Task.CLASSIFICATION,
        classes=["cat", "dog"],
        items=[
            Item(file_name="cat/1.jpg", width=10, height=10, split="train", labels=[0]),
            Item(file_name="cat/2.jpg", width=10, height=10, split="val", labels=[0]),
            Item(file_name="both.jpg", width=10, height=10, split="train", labels=[0, 1]),
            Item(file_name="none.jpg", width=10, height=10, split="train"),
        ],
    )
    stats = compute_stats(manifest)
    assert stats["annotation_count"] == 4
    assert stats["images_without_annotations"] == 1
    assert [c["count"] for c in stats["classes"]] == [3, 1]
    assert stats["splits"]["train"]["class_counts"] == [2, 1]
    assert stats["objects_per_image"] is None
    assert stats["box_sizes"] is None


def test_pose_keypoint_visibility() -> None:
    kps = [(1.0, 1.0, 2), (0.0, 0.0, 0), (3.0, 3.0, 1)]
    manifest = DatasetManifest(
        task=Task.POSE,
        classes=["person"],
        num_keypoints=3,
        keypoint_dims=3,
        keypoint_names=["nose", "left_eye", "right_eye"],
        items=[
            Item(file_name="p.jpg", width=100, height=100, split="train",
                 annotations=[box(0, 40, 40, keypoints=kps), box(0, 40, 40, keypoints=kps[::-1])]),
        ],
    )  # fmt: skip
    keypoints = compute_stats(manifest)["keypoints"]
    assert (keypoints["visible"], keypoints["occluded"], keypoints["unlabeled"]) == (2, 2, 2)
    assert keypoints["per_keypoint"][0] == {
        "index": 0, "name": "nose", "visible": 1, "occluded": 1, "unlabeled": 0,
    }  # fmt: skip
    assert keypoints["per_keypoint"][1]["unlabeled"] == 2


def test_unassigned_items_and_empty_manifest() -> None:
    manifest = DatasetManifest(
        task=Task.DETECTION, classes=["a"], items=[Item(file_name="x.png", width=5, height=5)]
    )
    stats = compute_stats(manifest)
    assert stats["splits"]["unassigned"]["images"] == 1
    empty = compute_stats(DatasetManifest(task=Task.DETECTION, classes=["a"]))
    assert empty["image_sizes"]["width"] == {"min": None, "max": None, "mean": None, "median": None}
    assert empty["image_count"] == 0


def test_the_schema_documents_the_shape() -> None:
    stats = compute_stats(detection())
    assert VersionStats.model_validate(stats).model_dump(mode="json") == stats
