"""Every reader turns a bad annotation file into an issue naming that file, never an exception.

Each small dataset below (the layouts real tools write) has each of its annotation files
replaced in turn by bytes that break a parser in a different way (unknown XML encodings, bytes
that are not UTF-8, syntax errors, values of the wrong type or out of range). Reading must end
with a report whose errors name the broken file; any other exception is an internal error of
the import.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from lensforge.formats import read_dataset
from lensforge.formats.errors import DatasetFormatError
from lensforge.formats.images import is_image_name

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


def voc(root: Path) -> Path:
    image(root / "JPEGImages/a.jpg")
    text(root / "Annotations/a.xml", voc_xml("a.jpg", [("cat", 2, 2, 10, 10)]))
    text(root / "ImageSets/Main/train.txt", "a\n")
    text(root / "labels.txt", "cat\n")
    return root


def native(root: Path) -> Path:
    image(root / "images/a.jpg")
    write_json(
        root / "annotations_detection.json",
        {"format": "lensforge", "version": 1, "task": "detection", "classes": ["a"],
         "images": [{"file_name": "a.jpg", "path": "images/a.jpg", "width": 32, "height": 24,
                     "annotations": [{"class_id": 0, "bbox": [1, 2, 3, 4]}]}]},
    )  # fmt: skip
    return root


def multilabel_csv(root: Path) -> Path:
    image(root / "train/a.jpg")
    text(root / "train/_classes.csv", "filename, cat, dog\na.jpg, 1, 0\n")
    return root


def yolo_pose(root: Path) -> Path:
    image(root / "images/train/a.jpg")
    text(root / "labels/train/a.txt", "0 0.5 0.5 0.5 0.5 0.4 0.4 2 0.6 0.6 1\n")
    write_json(
        root / "coco_pose/person_keypoints.json",
        {"images": [{"id": 1, "file_name": "a.jpg", "width": 32, "height": 24}],
         "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 9, 9],
                          "keypoints": [2, 2, 2, 3, 3, 2], "num_keypoints": 2}],
         "categories": [{"id": 1, "name": "p", "keypoints": ["l", "r"], "skeleton": [[1, 2]],
                         "flip_idx": [1, 0]}]},
    )  # fmt: skip
    text(
        root / "data.yaml",
        "train: images/train\nval: images/train\nkpt_shape: [2, 3]\nflip_idx: [1, 0]\n"
        "skeleton: [[0, 1]]\nkpt_names: {0: [l, r]}\nnames: {0: p}\n",
    )
    return root


def coco_pose(root: Path) -> Path:
    yolo_pose(root)
    (root / "data.yaml").unlink()
    return root


DATASETS: dict[str, tuple[str, Callable[[Path], Path]]] = {
    "yolo_pose": ("yolo", yolo_pose),
    "coco_pose": ("coco", coco_pose),
    "yolo_ultralytics": ("yolo", yolo_ultralytics),
    "yolo_roboflow": ("yolo", yolo_roboflow),
    "coco_cvat": ("coco", coco_cvat),
    "coco_roboflow": ("coco", coco_roboflow),
    "coco_label_studio": ("coco", coco_label_studio),
    "voc": ("voc", voc),
    "native": ("native", native),
    "imagefolder_csv": ("imagefolder", multilabel_csv),
}

# Whole-file replacements that break one parser or another.
RAW: dict[str, bytes] = {
    "xml_unknown_encoding": b'<?xml version="1.0" encoding="foo-bar"?><annotation/>',
    "xml_wrong_encoding": b'<?xml version="1.0" encoding="utf-16"?><annotation/>',
    "not_utf8": b"\xff\xfe\x00garbage\x80\x81",
    "nul_bytes": b"\x00\x00\x00",
    "empty": b"",
    "yaml_tab": b"names:\n\t- a\n",
    "yaml_tags": b"names: !!python/object:os.system [echo]\n",
    "yaml_anchor_loop": b"a: &a [*a]\n",
    "json_nan": b"NaN",
    "json_deep": b"[" * 100_000 + b"]" * 100_000,
    "json_huge_int": b"9" * 5000,
    "csv_nul": b"filename,a\nx.jpg,\x00\n",
}

# Values that replace one leaf of a parsed JSON/YAML document at a time.
LEAVES: list[Any] = ["x", -1, 10**30, None, {}, [[]], [0, "a"]]


def _leaf_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(doc, dict):
        for key, value in doc.items():
            yield (*prefix, key)
            yield from _leaf_paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc[:1]):  # the first entry of a list suffices
            yield (*prefix, index)
            yield from _leaf_paths(value, (*prefix, index))


def _replaced(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[path[0]] = _replaced(doc[path[0]], path[1:], value)
    return copy


def _annotation_files(root: Path) -> list[Path]:
    """One file per name: Roboflow's three `_annotations.coco.json` break the same way."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and not is_image_name(p.name))
    return list({p.name: p for p in reversed(files)}.values())


def _read_names_the_file(root: Path, fmt: str, broken: Path, what: str) -> str | None:
    """None when reading ended well; else what went wrong."""
    rel = broken.relative_to(root).as_posix()
    try:
        _, report = read_dataset(root, format=fmt)
    except DatasetFormatError:
        return None  # a specific, user-facing refusal (e.g. the format cannot be read at all)
    except Exception as exc:  # the bug this test exists for
        return f"{rel} with {what}: {type(exc).__name__}: {str(exc)[:200]}"
    for issue in report.errors:
        syntax = issue.code in ("json_syntax", "xml_syntax", "yaml_syntax", "unreadable_file")
        if syntax and issue.file != rel:
            return f"{rel} with {what}: {issue.code} names {issue.file!r}"
    return None


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_broken_bytes_become_issues(tmp_path: Path, name: str) -> None:
    fmt, build = DATASETS[name]
    pristine = build(tmp_path / "pristine")
    crashes: list[str] = []
    for target in _annotation_files(pristine):
        for what, data in RAW.items():
            root = tmp_path / "case"
            shutil.rmtree(root, ignore_errors=True)
            shutil.copytree(pristine, root)
            broken = root / target.relative_to(pristine)
            broken.write_bytes(data)
            crashes.append(_read_names_the_file(root, fmt, broken, what) or "")
    assert not [c for c in crashes if c]


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_values_of_the_wrong_type_become_issues(tmp_path: Path, name: str) -> None:
    import yaml

    fmt, build = DATASETS[name]
    pristine = build(tmp_path / "pristine")
    crashes: list[str] = []
    for target in _annotation_files(pristine):
        suffix = target.suffix.lower()
        if suffix not in (".json", ".yaml", ".yml"):
            continue
        text_ = target.read_text()
        doc = json.loads(text_) if suffix == ".json" else yaml.safe_load(text_)
        for path in _leaf_paths(doc):
            for value in LEAVES:
                root = tmp_path / "case"
                shutil.rmtree(root, ignore_errors=True)
                shutil.copytree(pristine, root)
                broken = root / target.relative_to(pristine)
                changed = _replaced(doc, path, value)
                broken.write_text(
                    json.dumps(changed) if suffix == ".json" else yaml.safe_dump(changed)
                )
                crashes.append(_read_names_the_file(root, fmt, broken, f"{path} = {value!r}") or "")
    assert not [c for c in crashes if c]


def test_voc_numbers_that_are_not_numbers(tmp_path: Path) -> None:
    pristine = voc(tmp_path / "pristine")
    target = pristine / "Annotations/a.xml"
    good = target.read_text()
    crashes: list[str] = []
    for old, new in [
        ("<xmin>2</xmin>", "<xmin>nan</xmin>"),
        ("<xmin>2</xmin>", "<xmin>1e400</xmin>"),
        ("<xmin>2</xmin>", "<xmin>x</xmin>"),
        ("<width>32</width>", "<width>1e400</width>"),
        ("<width>32</width>", "<width>-5</width>"),
        ("<difficult>0</difficult>", "<difficult>x</difficult>"),
        ("<name>cat</name>", "<name></name>"),
    ]:
        root = tmp_path / "case"
        shutil.rmtree(root, ignore_errors=True)
        shutil.copytree(pristine, root)
        (root / "Annotations/a.xml").write_text(good.replace(old, new))
        crashes.append(_read_names_the_file(root, "voc", root / "Annotations/a.xml", new) or "")
    assert not [c for c in crashes if c]


def test_unknown_xml_encoding_is_an_issue_naming_the_file(tmp_path: Path) -> None:
    root = voc(tmp_path / "data")
    (root / "Annotations/a.xml").write_bytes(
        b'<?xml version="1.0" encoding="foo-bar"?>'
        + voc_xml("a.jpg", [("cat", 2, 2, 10, 10)]).encode()
    )
    _, report = read_dataset(root, format="voc")
    [issue] = report.errors[:1]
    assert (issue.code, issue.file) == ("xml_syntax", "Annotations/a.xml")
    assert "foo-bar" in issue.message
