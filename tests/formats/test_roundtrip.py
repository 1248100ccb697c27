"""import -> write -> import gives the same canonical JSON, for every writer/reader pair."""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lensforge.formats import (
    DatasetManifest,
    DatasetWriteError,
    Item,
    Task,
    UnsupportedFormat,
    canonical_dict,
    canonical_json,
    read_dataset,
    write_dataset,
)

from .builders import (
    H,
    W,
    coco_cvat,
    coco_label_studio,
    coco_roboflow,
    image,
    text,
    write_json,
    write_yaml,
    yolo_roboflow,
    yolo_ultralytics,
)


def yolo_segmentation(root: Path) -> Path:
    write_yaml(root / "data.yaml", {"train": "images/train", "val": "images/val",
                                    "names": ["a", "b"]})  # fmt: skip
    image(root / "images/train/s1.jpg")
    text(
        root / "labels/train/s1.txt",
        "0 0.1 0.1 0.9 0.1 0.5 0.9\n1 0.3 0.3 0.6 0.3 0.6 0.6 0.3 0.6\n",
    )
    image(root / "images/val/nested/s2.png", fmt="PNG")
    text(root / "labels/val/nested/s2.txt", "1 0.123456 0.2 0.7 0.2 0.7 0.654321\n")
    return root


def yolo_pose(dims: int) -> Callable[[Path], Path]:
    def build(root: Path) -> Path:
        write_yaml(root / "data.yaml", {"train": "images/train", "kpt_shape": [3, dims],
                                        "flip_idx": [0, 2, 1], "names": ["person"]})  # fmt: skip
        image(root / "images/train/p.jpg")
        kps = "0.5 0.2 2 0.4 0.3 1 0 0 0" if dims == 3 else "0.5 0.2 0.4 0.3 0 0"
        text(root / "labels/train/p.txt", f"0 0.5 0.5 0.6 0.8 {kps}\n")
        return root

    return build


def coco_pose(root: Path) -> Path:
    image(root / "images/val/p.jpg")
    cats = [{"id": 1, "name": "person", "keypoints": ["nose", "l", "r"],
             "skeleton": [[1, 2], [1, 3]], "flip_idx": [0, 2, 1]}]  # fmt: skip
    anns = [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [2, 2, 20, 18],
             "keypoints": [10, 5, 2, 8, 9, 1, 0, 0, 0], "num_keypoints": 2}]  # fmt: skip
    write_json(root / "annotations/person_keypoints_val.json",
               {"images": [{"id": 1, "file_name": "p.jpg", "width": W, "height": H}],
                "annotations": anns, "categories": cats})  # fmt: skip
    return root


def coco_multipart(root: Path) -> Path:
    image(root / "images/train/m.jpg")
    seg = [[1, 1, 6, 1, 6, 6, 1, 6], [20, 10, 28, 10, 24, 20]]
    write_json(root / "annotations/instances_train.json",
               {"images": [{"id": 1, "file_name": "m.jpg", "width": W, "height": H}],
                "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 27, 19],
                                 "segmentation": seg, "iscrowd": 0}],
                "categories": [{"id": 1, "name": "blob"}]})  # fmt: skip
    return root


def imagefolder(root: Path) -> Path:
    image(root / "train/cat/1.jpg")
    image(root / "train/dog/1.jpg")
    image(root / "val/dog/x/2.png", fmt="PNG")
    return root


def native_multilabel(root: Path) -> Path:
    image(root / "images/a.jpg")
    write_json(root / "annotations_classification.json",
               {"format": "lensforge", "version": 1, "task": "classification",
                "classes": ["sunny", "beach"],
                "images": [{"file_name": "a.jpg", "width": W, "height": H, "labels": [1, 0]}]})  # fmt: skip
    return root


SOURCES: dict[str, Callable[[Path], Path]] = {
    "yolo-ultralytics": yolo_ultralytics,
    "yolo-roboflow": yolo_roboflow,
    "yolo-segmentation": yolo_segmentation,
    "yolo-pose-3": yolo_pose(3),
    "yolo-pose-2": yolo_pose(2),
    "coco-cvat": coco_cvat,
    "coco-roboflow": coco_roboflow,
    "coco-label-studio": coco_label_studio,
    "coco-pose": coco_pose,
    "coco-multipart": coco_multipart,
    "imagefolder": imagefolder,
    "native-multilabel": native_multilabel,
}

# Pairs that are lossless (see docs/dataset-formats.md for the normalisations of the others).
PAIRS = [
    *[(name, "native") for name in SOURCES],
    *[(name, "yolo") for name in SOURCES if name.startswith(("yolo", "imagefolder"))],
    ("coco-roboflow", "yolo"),
    ("coco-pose", "yolo"),
    *[(name, "coco") for name in SOURCES if name.startswith("coco")],
    ("yolo-ultralytics", "coco"),
    ("yolo-segmentation", "coco"),
    ("imagefolder", "imagefolder"),
]


@pytest.mark.parametrize(("source", "fmt"), PAIRS, ids=[f"{s}->{f}" for s, f in PAIRS])
def test_round_trip(tmp_path: Path, source: str, fmt: str) -> None:
    src = SOURCES[source](tmp_path / "src")
    manifest, report = read_dataset(src)
    assert not report.has_errors, report.errors
    result = write_dataset(manifest, fmt, tmp_path / "out", src)
    assert result.images == len(manifest.items)
    assert not result.renamed
    again, report = read_dataset(tmp_path / "out")
    assert not report.issues, report.issues
    assert again.source_format == ("yolo" if fmt == "yolo" and manifest.task is Task.CLASSIFICATION
                                   else fmt) or again.source_format == "imagefolder"  # fmt: skip
    assert canonical_json(again) == canonical_json(manifest)


def test_yolo_pose_to_coco_names_the_keypoints(tmp_path: Path) -> None:
    src = yolo_pose(3)(tmp_path / "src")
    manifest, _ = read_dataset(src)
    write_dataset(manifest, "coco", tmp_path / "out", src)
    again, _ = read_dataset(tmp_path / "out")
    assert again.keypoint_names == ["1", "2", "3"]  # COCO categories must name keypoints
    before, after = canonical_dict(manifest), canonical_dict(again)
    del after["keypoint_names"]
    assert before == after


def test_multipart_polygons_are_joined_for_yolo(tmp_path: Path) -> None:
    src = coco_multipart(tmp_path / "src")
    manifest, _ = read_dataset(src)
    write_dataset(manifest, "yolo", tmp_path / "out", src)
    again, report = read_dataset(tmp_path / "out")
    assert not report.issues
    (poly,) = again.items[0].annotations[0].polygons
    assert len(poly) == 2 * (4 + 1 + 3 + 1)  # both parts, joined by a zero-width bridge
    assert again.items[0].annotations[0].bbox == manifest.items[0].annotations[0].bbox


def test_yolo_files_are_what_ultralytics_expects(tmp_path: Path) -> None:
    src = yolo_pose(3)(tmp_path / "src")
    manifest, _ = read_dataset(src)
    write_dataset(manifest, "yolo", tmp_path / "out", src)
    out = tmp_path / "out"
    assert (out / "labels/train/p.txt").read_text() == (
        "0 0.5 0.5 0.6 0.8 0.5 0.2 2 0.4 0.3 1 0 0 0\n"
    )
    data = (out / "data.yaml").read_text()
    assert "train: images/train" in data
    assert "kpt_shape:\n- 3\n- 3" in data
    assert "flip_idx:" in data
    assert "names:\n  0: person" in data


def test_unsplit_items_and_name_collisions(tmp_path: Path) -> None:
    src = tmp_path / "src"
    image(src / "images/a.jpg")
    image(src / "images/a.png", fmt="PNG")
    manifest = DatasetManifest(
        task=Task.DETECTION,
        classes=["x"],
        items=[Item(file_name=n, width=W, height=H, source_path=f"images/{n}")
               for n in ("a.jpg", "a.png")],
    )  # fmt: skip
    result = write_dataset(manifest, "yolo", tmp_path / "out", src)
    assert result.renamed == {"/a.png": "a_1.png"}
    assert sorted(os.listdir(tmp_path / "out/labels")) == ["a.txt", "a_1.txt"]
    assert "train" not in (tmp_path / "out/data.yaml").read_text()
    again, report = read_dataset(tmp_path / "out")
    assert not report.issues
    assert [(i.split, i.file_name) for i in again.items] == [(None, "a.jpg"), (None, "a_1.png")]


def test_image_source_as_opener_and_hard_links(tmp_path: Path) -> None:
    src = yolo_ultralytics(tmp_path / "src")
    manifest, _ = read_dataset(src)
    blobs = {i.sha256: (src / str(i.source_path)).read_bytes() for i in manifest.items}

    def opener(item: Item) -> Callable[[], Any]:
        return lambda: io.BytesIO(blobs[str(item.sha256)])

    write_dataset(manifest, "coco", tmp_path / "from-cache", opener)
    again, _ = read_dataset(tmp_path / "from-cache")
    assert canonical_json(again) == canonical_json(manifest)
    write_dataset(manifest, "native", tmp_path / "linked", src)
    assert os.stat(tmp_path / "linked/images/train/a.jpg").st_nlink == 2


def test_writers_refuse_and_leave_nothing_behind(tmp_path: Path) -> None:
    src = imagefolder(tmp_path / "src")
    manifest, _ = read_dataset(src)
    with pytest.raises(UnsupportedFormat, match="coco cannot hold classification"):
        write_dataset(manifest, "coco", tmp_path / "out", src)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy/file").write_text("x")
    with pytest.raises(DatasetWriteError, match="already exists"):
        write_dataset(manifest, "imagefolder", tmp_path / "busy", src)

    def failing(item: Item) -> str:
        raise RuntimeError("cache unavailable")

    with pytest.raises(RuntimeError):
        write_dataset(manifest, "native", tmp_path / "out", failing)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "src"]


def test_imagefolder_refuses_multilabel(tmp_path: Path) -> None:
    src = native_multilabel(tmp_path / "src")
    manifest, _ = read_dataset(src)
    with pytest.raises(DatasetWriteError, match="multi-label"):
        write_dataset(manifest, "imagefolder", tmp_path / "out", src)


def test_imagefolder_refuses_class_names_that_are_not_folder_names(tmp_path: Path) -> None:
    src = tmp_path / "src"
    image(src / "a.jpg")
    manifest = DatasetManifest(
        task=Task.CLASSIFICATION,
        classes=["../escape"],
        items=[Item(file_name="a.jpg", width=W, height=H, labels=[0])],
    )
    with pytest.raises(DatasetWriteError, match="folder names"):
        write_dataset(manifest, "imagefolder", tmp_path / "out", src)
    assert not (tmp_path / "escape").exists()
