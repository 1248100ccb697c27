"""The job's dataset (the SDK's cached copy) in the layout Ultralytics reads, written by the
platform's own writers (`lensforge.formats.writers`) with hard links to the cached images.

- detection, segmentation, pose: `images/<split>/`, `labels/<split>/`, `data.yaml` (with an
  absolute `path`, so Ultralytics never looks in its own datasets folder);
- classification: ImageFolder `<split>/<class>/`, every class folder present in every split
  (Ultralytics numbers classes by the sorted folder names of `train/`: a class missing there
  would shift every id after it).

A dataset without a `val` split validates on `train` (with a warning from the caller).
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lensforge.formats.errors import DatasetWriteError
from lensforge.formats.model import DatasetManifest, Item, Task
from lensforge.formats.writers import write_imagefolder, write_yolo
from lensforge.sdk import DatasetError, LocalDataset

_ITEM_FIELDS = set(Item.model_fields)
_MANIFEST_FIELDS = set(DatasetManifest.model_fields)


@dataclass(frozen=True)
class UltralyticsData:
    data: Path
    """What Ultralytics' `data` argument takes: data.yaml, or the ImageFolder root."""
    root: Path
    train_images: int
    val_images: int
    val_is_train: bool
    names: list[str]
    """Class names by Ultralytics' class index (sorted for classification)."""


def to_manifest(dataset: LocalDataset) -> DatasetManifest:
    """The SDK's manifest as the formats model (fields the model does not know are dropped)."""
    raw: dict[str, Any] = {k: v for k, v in dataset.manifest.items() if k in _MANIFEST_FIELDS}
    raw["items"] = [
        {k: v for k, v in item.items() if k in _ITEM_FIELDS} for item in dataset.items()
    ]
    try:
        return DatasetManifest.model_validate(raw)
    except ValueError as exc:
        raise DatasetError(f"the dataset manifest is not valid: {exc}") from exc


def write_dataset(dataset: LocalDataset, dest: Path) -> UltralyticsData:
    manifest = to_manifest(dataset)
    counts = {s: sum(1 for i in manifest.items if i.split == s) for s in ("train", "val")}
    if not counts["train"]:
        raise DatasetError("the dataset version has no images in its train split")

    def source(item: Item) -> Path:
        return dataset.image_path({"file_name": item.file_name, "split": item.split})

    try:
        if manifest.task is Task.CLASSIFICATION:
            return _write_classification(manifest, dest, source, counts)
        write_yolo(manifest, dest, source)
    except DatasetWriteError as exc:
        raise DatasetError(f"cannot write the dataset for Ultralytics: {exc}") from exc
    config_path = dest / "data.yaml"
    config = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    config["path"] = str(dest.resolve())
    val_is_train = not counts["val"]
    if val_is_train:
        config["val"] = config["train"]
    config_path.write_text(
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return UltralyticsData(
        data=config_path,
        root=dest,
        train_images=counts["train"],
        val_images=counts["val"] or counts["train"],
        val_is_train=val_is_train,
        names=list(manifest.classes),
    )


def _write_classification(
    manifest: DatasetManifest, dest: Path, source: Any, counts: dict[str, int]
) -> UltralyticsData:
    write_imagefolder(manifest, dest, source)
    splits = [s for s in ("train", "val", "test") if (dest / s).is_dir()]
    for split in splits:
        for name in manifest.classes:
            (dest / split / name).mkdir(parents=True, exist_ok=True)
    val_is_train = not counts["val"]
    if val_is_train:
        # Ultralytics needs a val (or test) folder; a hard-linked twin of train costs no space.
        shutil.copytree(dest / "train", dest / "val", copy_function=_link)
    return UltralyticsData(
        data=dest,
        root=dest,
        train_images=counts["train"],
        val_images=counts["val"] or counts["train"],
        val_is_train=val_is_train,
        names=sorted(manifest.classes),
    )


def _link(source: str, destination: str) -> str:
    try:
        Path(destination).hardlink_to(source)
    except OSError:
        shutil.copy2(source, destination)
    return destination
