from __future__ import annotations

from pathlib import Path

import pytest

from lensforge.formats import (
    Task,
    canonical_json,
    content_hash,
    detect_format,
    read_dataset,
    write_dataset,
)
from tests.fixtures.shared_data import RACCOON

from .builders import H, W, image, text, voc_xml


def test_raccoon_dataset() -> None:
    detected = detect_format(RACCOON)
    assert (detected.format, detected.task) == ("voc", Task.DETECTION)
    manifest, report = read_dataset(RACCOON)
    assert not report.issues
    assert manifest.classes == ["raccoon"]
    assert len(manifest.items) == 200
    assert sum(len(i.annotations) for i in manifest.items) == 217
    first = next(i for i in manifest.items if i.file_name == "raccoon-1.jpg")
    # <xmin>81</xmin><ymin>88</ymin><xmax>522</xmax><ymax>408</ymax>, 1-based inclusive
    assert first.annotations[0].bbox == (80.0, 87.0, 442.0, 321.0)
    assert (first.width, first.height) == (650, 417)
    assert first.source_path == "images/raccoon-1.jpg"


@pytest.mark.parametrize("fmt", ["yolo", "coco", "native", "voc"])
def test_raccoon_round_trip(tmp_path: Path, fmt: str) -> None:
    manifest, _ = read_dataset(RACCOON)
    write_dataset(manifest, fmt, tmp_path / fmt, RACCOON)
    again, report = read_dataset(tmp_path / fmt)
    assert not report.issues
    assert again.source_format == fmt
    assert canonical_json(again) == canonical_json(manifest)
    assert content_hash(again) == content_hash(manifest)


def test_official_layout_with_image_sets_and_labelmap(tmp_path: Path) -> None:
    text(tmp_path / "labelmap.txt", "# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
         "dog:1,2,3::\ncat:4,5,6::\n")  # fmt: skip
    text(tmp_path / "ImageSets/Main/train.txt", "a\n")
    text(tmp_path / "ImageSets/Main/val.txt", "b\n")
    for stem in ("a", "b"):
        image(tmp_path / f"JPEGImages/{stem}.jpg")
    text(tmp_path / "Annotations/a.xml", voc_xml("a.jpg", [("cat", 1, 1, 10, 10)]))
    text(
        tmp_path / "Annotations/b.xml",
        voc_xml("b.jpg", [("dog", 2.5, 3.5, 12.25, 20.75), ("cat", 1, 1, W, H)]),
    )
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert manifest.classes == ["dog", "cat"]  # labelmap order, background skipped
    a, b = manifest.items
    assert (a.file_name, a.split, b.split) == ("a.jpg", "train", "val")
    assert a.annotations[0].bbox == (0.0, 0.0, 10.0, 10.0)
    # CVAT-style float coordinates are converted the same way
    assert b.annotations[0].bbox == (1.5, 2.5, 10.75, 18.25)
    assert b.annotations[1].bbox == (0.0, 0.0, float(W), float(H))


def test_roboflow_voc_next_to_images_and_old_label_studio_stems(tmp_path: Path) -> None:
    image(tmp_path / "train/x.jpg")
    text(tmp_path / "train/x.xml", voc_xml("x.jpg", [("zebra", 1, 1, 5, 5)],
                                           extra="<source><database>roboflow.ai</database></source>"))  # fmt: skip
    image(tmp_path / "valid/y.jpg")
    text(tmp_path / "valid/y.xml", voc_xml("y", [("ant", 1, 1, 5, 5)]))  # stem only
    manifest, report = read_dataset(tmp_path)
    assert not report.issues
    assert manifest.classes == ["ant", "zebra"]  # sorted union
    assert [(i.split, i.file_name) for i in manifest.items] == [
        ("train", "x.jpg"),
        ("val", "y.jpg"),
    ]
    assert manifest.source_splits == {"train": "train", "valid": "val"}


def test_image_without_xml_is_background(tmp_path: Path) -> None:
    image(tmp_path / "JPEGImages/a.jpg")
    image(tmp_path / "JPEGImages/b.jpg")
    text(tmp_path / "Annotations/a.xml", voc_xml("a.jpg", [("cat", 1, 1, 5, 5)]))
    manifest, report = read_dataset(tmp_path)
    assert [i.file_name for i in manifest.items] == ["a.jpg", "b.jpg"]
    assert [(i.code, i.file) for i in report.issues] == [("missing_label", "JPEGImages/b.jpg")]
    assert not report.has_errors


def test_object_without_bndbox_is_skipped(tmp_path: Path) -> None:
    image(tmp_path / "JPEGImages/a.jpg")
    xml = voc_xml("a.jpg", [], extra="<object><name>cat</name><polygon/></object>")
    text(tmp_path / "Annotations/a.xml", xml)
    manifest, report = read_dataset(tmp_path, format="voc")
    assert manifest.items[0].annotations == []
    assert [i.code for i in report.issues] == ["unsupported_shape"]


def test_voc_size_is_compared_with_the_image(tmp_path: Path) -> None:
    image(tmp_path / "JPEGImages/a.jpg", size=(W, H))
    text(tmp_path / "Annotations/a.xml", voc_xml("a.jpg", [("cat", 1, 1, 5, 5)], size=(64, 48)))
    manifest, report = read_dataset(tmp_path)
    assert manifest.items == []
    assert report.has_errors
    assert report.errors[0].code == "image_size_mismatch"
    assert report.errors[0].file == "Annotations/a.xml"
    assert "32x24 but 64x48 is declared" in report.errors[0].message


def test_voc_writer_keeps_splits_class_order_backgrounds_and_fractional_boxes(
    tmp_path: Path,
) -> None:
    src = tmp_path / "src"
    for split, stem in (("train", "b"), ("train", "a"), ("val", "c")):
        image(src / f"images/{split}/{stem}.jpg")
    text(src / "labels/train/b.txt", "1 0.5 0.5 0.25 0.5\n0 0.3 0.3 0.1 0.1\n")
    text(src / "labels/train/a.txt", "")  # a background image
    text(src / "labels/val/c.txt", "1 0.51 0.49 0.333 0.2\n")
    text(src / "data.yaml", "train: images/train\nval: images/val\nnames:\n  0: zebra\n  1: ant\n")
    manifest, report = read_dataset(src, format="yolo")
    assert not report.has_errors
    result = write_dataset(manifest, "voc", tmp_path / "voc", src)
    assert result.images == 3
    assert not result.renamed
    assert (tmp_path / "voc/ImageSets/Main/train.txt").read_text() == "a\nb\n"
    assert (tmp_path / "voc/labels.txt").read_text() == "zebra\nant\n"
    again, report = read_dataset(tmp_path / "voc")
    assert not report.issues, report.issues
    assert again.source_format == "voc"
    assert again.classes == ["zebra", "ant"]
    assert content_hash(again) == content_hash(manifest)


def test_voc_writer_flattens_and_uniquifies_names(tmp_path: Path) -> None:
    src = tmp_path / "src"
    image(src / "images/train/sub/a.jpg")
    image(src / "images/val/a.jpg", (W + 2, H))
    for rel in ("train/sub/a.txt", "val/a.txt"):
        text(src / f"labels/{rel}", "0 0.5 0.5 0.5 0.5\n")
    text(src / "data.yaml", "train: images/train\nval: images/val\nnames: [cat]\n")
    manifest, _ = read_dataset(src, format="yolo")
    result = write_dataset(manifest, "voc", tmp_path / "voc", src)
    assert result.renamed == {"train/sub/a.jpg": "sub_a.jpg"}
    again, report = read_dataset(tmp_path / "voc")
    assert not report.issues, report.issues
    assert sorted((i.split, i.file_name) for i in again.items) == [
        ("train", "sub_a.jpg"),
        ("val", "a.jpg"),
    ]
