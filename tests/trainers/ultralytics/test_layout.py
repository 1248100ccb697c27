"""The SDK's dataset copy written in Ultralytics' layout, by the platform's writers, with hard
links to the cached images."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from lensforge.sdk import DatasetError, LocalDataset
from lensforge.trainers.ultralytics.layout import write_dataset


def local_dataset(
    root: Path, task: str, classes: list[str], items: list[dict[str, Any]]
) -> LocalDataset:
    for item in items:
        path = root / "images" / item["split"] / item["file_name"]
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (item["width"], item["height"])).save(path)
    manifest = {"task": task, "classes": classes, "items": items, "lensforge": {"x": 1}}
    (root / "manifest.json").write_text(json.dumps(manifest))
    return LocalDataset.open(root)


def box_item(name: str, split: str, class_id: int) -> dict[str, Any]:
    return {
        "file_name": name, "split": split, "width": 40, "height": 20,
        "annotations": [{"class_id": class_id, "bbox": [10, 5, 20, 10]}],
        "unknown_field": "ignored",
    }  # fmt: skip


def test_detection_layout_with_labels_data_yaml_and_hard_links(tmp_path: Path) -> None:
    dataset = local_dataset(
        tmp_path / "cache", "detection", ["cat", "dog"],
        [box_item("a.png", "train", 1), box_item("b.png", "val", 0)],
    )  # fmt: skip
    data = write_dataset(dataset, tmp_path / "out")
    assert (data.train_images, data.val_images, data.val_is_train) == (1, 1, False)
    config = yaml.safe_load(data.data.read_text())
    assert config["path"] == str((tmp_path / "out").resolve())
    assert (config["train"], config["val"], config["names"]) == (
        "images/train", "images/val", {0: "cat", 1: "dog"},
    )  # fmt: skip
    assert (tmp_path / "out/labels/train/a.txt").read_text() == "1 0.5 0.5 0.5 0.5\n"
    cached = tmp_path / "cache/images/train/a.png"
    assert (tmp_path / "out/images/train/a.png").stat().st_ino == cached.stat().st_ino


def test_without_a_val_split_validation_uses_train(tmp_path: Path) -> None:
    dataset = local_dataset(
        tmp_path / "cache", "detection", ["cat"], [box_item("a.png", "train", 0)]
    )
    data = write_dataset(dataset, tmp_path / "out")
    assert data.val_is_train
    assert yaml.safe_load(data.data.read_text())["val"] == "images/train"


def test_classification_folders_for_every_class_and_names_in_ultralytics_order(
    tmp_path: Path,
) -> None:
    items = [
        {"file_name": "1.png", "split": "train", "width": 8, "height": 8, "labels": [0]},
        {"file_name": "2.png", "split": "val", "width": 8, "height": 8, "labels": [1]},
    ]
    dataset = local_dataset(tmp_path / "cache", "classification", ["zebra", "ant", "bee"], items)
    data = write_dataset(dataset, tmp_path / "out")
    assert data.data == tmp_path / "out"
    assert data.names == ["ant", "bee", "zebra"]
    for split in ("train", "val"):
        assert sorted(p.name for p in (tmp_path / "out" / split).iterdir()) == data.names
    assert (tmp_path / "out/train/zebra/1.png").is_file()


def test_a_dataset_without_train_images_is_a_dataset_error(tmp_path: Path) -> None:
    dataset = local_dataset(tmp_path / "cache", "detection", ["cat"], [box_item("a.png", "val", 0)])
    with pytest.raises(DatasetError, match="no images in its train split"):
        write_dataset(dataset, tmp_path / "out")
