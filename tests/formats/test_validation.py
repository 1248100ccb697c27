"""Every validation code, triggered by a targeted fixture, with its file and line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lensforge.formats import CODES, ImagePolicy, Severity, ValidationReport, read_dataset

from .builders import (
    H,
    W,
    image,
    jpeg_bytes,
    jpeg_without_end_marker,
    png_header_only,
    text,
    voc_xml,
    write_json,
    write_yaml,
)


def yolo(root: Path, label: str, names: Any = ("a", "b"), **yaml_extra: Any) -> Path:
    write_yaml(root / "data.yaml", {"train": "images/train", "names": list(names), **yaml_extra})
    image(root / "images/train/x.jpg")
    text(root / "labels/train/x.txt", label)
    return root


def coco(root: Path, anns: list[dict[str, Any]], images: list[dict[str, Any]] | None = None,
         cats: list[dict[str, Any]] | None = None) -> Path:  # fmt: skip
    image(root / "images/x.jpg")
    images = images if images is not None else [{"id": 1, "file_name": "x.jpg", "width": W,
                                                  "height": H}]  # fmt: skip
    cats = cats if cats is not None else [{"id": 1, "name": "a"}]
    write_json(root / "annotations/instances_default.json",
               {"images": images, "annotations": anns, "categories": cats})  # fmt: skip
    return root


def box(**kw: Any) -> dict[str, Any]:
    return {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5], **kw}


def voc(root: Path, xml: str) -> Path:
    image(root / "JPEGImages/x.jpg")
    text(root / "Annotations/x.xml", xml)
    return root


# Each case builds a dataset and returns (dataset dir, file the issue names, its line or None).
Case = Callable[[Path], tuple[Path, str | None, int | None]]


def _json_syntax(p: Path) -> tuple[Path, str | None, int | None]:
    image(p / "images/x.jpg")
    text(p / "annotations/instances_default.json", '{\n  "images": [\n    {"id": 1,}\n  ]\n}\n')
    return p, "annotations/instances_default.json", 3


def _xml_syntax(p: Path) -> tuple[Path, str | None, int | None]:
    voc(p, "<annotation>\n<filename>x.jpg</filename>\n<object><name>a</object>\n</annotation>")
    return p, "Annotations/x.xml", 3


def _xml_entities(p: Path) -> tuple[Path, str | None, int | None]:
    bomb = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol">'
            '<!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n<annotation>&lol2;</annotation>')  # fmt: skip
    voc(p, bomb)
    return p, "Annotations/x.xml", None


def _yaml_syntax(p: Path) -> tuple[Path, str | None, int | None]:
    image(p / "images/train/x.jpg")
    text(p / "labels/train/x.txt", "0 0.5 0.5 0.5 0.5\n")
    text(p / "data.yaml", "train: images/train\nnames: [a, b\nnc: 2\n")
    return p, "data.yaml", 3


def _unreadable_file(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "")
    (p / "labels/train/x.txt").write_bytes(b"0 0.5 0.5 \xff\xfe 0.5\n")
    return p, "labels/train/x.txt", None


def _invalid_structure(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [], images=[{"id": 1, "width": W, "height": H}])
    return p, "annotations/instances_default.json", None


def _truncated_jpeg(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5\n")
    data = (p / "images/train/x.jpg").read_bytes()
    (p / "images/train/x.jpg").write_bytes(data[: len(data) // 2])
    return p, "images/train/x.jpg", None


def _too_large(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "")
    (p / "images/train/huge.png").write_bytes(png_header_only(13000, 13000))
    text(p / "labels/train/huge.txt", "")
    return p, "images/train/huge.png", None


def _missing_end_marker(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5\n")
    jpeg_without_end_marker(p / "images/train/x.jpg")
    return p, "images/train/x.jpg", None


def _nested_archive(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "")
    text(p / "more/extra-images.zip", "PK")
    return p, "more/extra-images.zip", None


def _gif(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "")
    image(p / "images/train/anim.gif", fmt="GIF")
    return p, "images/train/anim.gif", None


def _missing_image(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [], images=[{"id": 1, "file_name": "nope.jpg", "width": W, "height": H}])
    return p, "annotations/instances_default.json", None


def _size_mismatch(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box()], images=[{"id": 1, "file_name": "x.jpg", "width": 640, "height": 480}])
    return p, "annotations/instances_default.json", None


def _duplicate_label(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5\n")
    image(p / "images/train/x.png", fmt="PNG")  # x.jpg and x.png share labels/train/x.txt
    return p, "labels/train/x.txt", None


def _duplicate_coco_name(p: Path) -> tuple[Path, str | None, int | None]:
    imgs = [{"id": i, "file_name": "x.jpg", "width": W, "height": H} for i in (1, 2)]
    coco(p, [], images=imgs)
    return p, "annotations/instances_default.json", None


def _duplicate_image_id(p: Path) -> tuple[Path, str | None, int | None]:
    image(p / "images/y.jpg")
    imgs = [{"id": 1, "file_name": n, "width": W, "height": H} for n in ("x.jpg", "y.jpg")]
    coco(p, [], images=imgs)
    return p, "annotations/instances_default.json", None


def _unknown_image_id(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box(image_id=99)])
    return p, "annotations/instances_default.json", None


def _empty_dataset(p: Path) -> tuple[Path, str | None, int | None]:
    write_yaml(p / "data.yaml", {"names": ["a"]})
    return p, None, None


def _invalid_names(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "")
    write_yaml(p / "data.yaml", {"train": "images/train", "names": {0: "a", 2: "b"}})
    return p, "data.yaml", None


def _nc_mismatch(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "", nc=3)
    return p, "data.yaml", None


def _class_out_of_range(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5\n5 0.5 0.5 0.5 0.5\n")
    return p, "labels/train/x.txt", 2


def _unknown_voc_class(p: Path) -> tuple[Path, str | None, int | None]:
    text(p / "labels.txt", "cat\n")
    voc(p, voc_xml("x.jpg", [("cat", 1, 1, 5, 5), ("dog", 1, 1, 5, 5)]))
    return p, "Annotations/x.xml", None


def _unknown_category(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box(category_id=7)])
    return p, "annotations/instances_default.json", None


def _inconsistent_categories(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [])
    image(p / "images/val/y.jpg")
    write_json(p / "annotations/instances_val.json",
               {"images": [{"id": 1, "file_name": "y.jpg"}], "annotations": [],
                "categories": [{"id": 1, "name": "b"}]})  # fmt: skip
    return p, "annotations/instances_val.json", None


def _bad_row(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5\n\n0 a 0.5 0.5 0.5\n")
    return p, "labels/train/x.txt", 3


def _nan(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 nan 0.5 0.5 0.5\n")
    return p, "labels/train/x.txt", 1


def _out_of_bounds(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5\n1 1.5 0.5 0.5 0.5\n")
    return p, "labels/train/x.txt", 2


def _degenerate(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0 0.5\n")
    return p, "labels/train/x.txt", 1


def _two_point_polygon(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box(segmentation=[[1, 1, 5, 5]])])
    return p, "annotations/instances_default.json", None


def _invalid_rle(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box(segmentation={"size": [H, W], "counts": [10, 5]}, iscrowd=1)])
    return p, "annotations/instances_default.json", None


def _keypoint_count(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5 0.1 0.1 2\n", kpt_shape=[2, 3])
    return p, "labels/train/x.txt", 1


def _invalid_keypoint(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5 0.1 0.1 3\n", kpt_shape=[1, 3])
    return p, "labels/train/x.txt", 1


def _orphan(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "")
    text(p / "labels/train/ghost.txt", "0 0.5 0.5 0.5 0.5\n")
    return p, "labels/train/ghost.txt", None


def _missing_label(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "")
    image(p / "images/train/bg.jpg")
    return p, "images/train/bg.jpg", None


def _unlisted(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box()])
    image(p / "images/extra.jpg")
    return p, "images/extra.jpg", None


def _beside(p: Path) -> tuple[Path, str | None, int | None]:
    write_yaml(p / "data.yaml", {"train": "images", "names": ["a"]})
    image(p / "images/x.jpg")
    text(p / "images/x.txt", "0 0.5 0.5 0.5 0.5\n")
    return p, "images/x.txt", None


def _split_missing(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "", val="images/val")
    return p, "data.yaml", None


def _several_splits(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "", val="images/train")
    return p, "images/train/x.jpg", None


def _names_missing(p: Path) -> tuple[Path, str | None, int | None]:
    image(p / "images/x.jpg")
    text(p / "labels/x.txt", "0 0.5 0.5 0.5 0.5\n")
    return p, None, None


def _duplicate_class(p: Path) -> tuple[Path, str | None, int | None]:
    coco(
        p, [box(), box(id=2, category_id=2)], cats=[{"id": 1, "name": "a"}, {"id": 2, "name": "a"}]
    )
    return p, "annotations/instances_default.json", None


def _tiny(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.01 0.5\n")
    return p, "labels/train/x.txt", 1


def _box_as_polygon(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box(id=1, segmentation=[[1, 1, 5, 1, 5, 5]]), box(id=2)])
    return p, "annotations/instances_default.json", None


def _bbox_mismatch(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box(bbox=[0, 0, 30, 20], segmentation=[[1, 1, 5, 1, 5, 5]])])
    return p, "annotations/instances_default.json", None


def _empty_mask(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box(segmentation={"size": [H, W], "counts": [W * H]}, iscrowd=1)])
    return p, "annotations/instances_default.json", None


def _exif(p: Path) -> tuple[Path, str | None, int | None]:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: trainers see 24x32
    image(p / "JPEGImages/x.jpg", exif=exif)
    text(p / "Annotations/x.xml", voc_xml("x.jpg", [("a", 1, 1, 5, 5)], size=(W, H)))
    return p, "Annotations/x.xml", None


def _duplicate_row(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5\n0 0.5 0.5 0.5 0.5\n")
    return p, "labels/train/x.txt", 2


def _duplicate_ann_id(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box(), box(bbox=[2, 2, 5, 5])])
    return p, "annotations/instances_default.json", None


def _track(p: Path) -> tuple[Path, str | None, int | None]:
    yolo(p, "0 0.5 0.5 0.5 0.5 12\n")
    return p, "labels/train/x.txt", 1


def _unsupported_shape(p: Path) -> tuple[Path, str | None, int | None]:
    voc(p, voc_xml("x.jpg", [], extra="<object><name>a</name><polygon/></object>"))
    return p, "Annotations/x.xml", None


def _schemas_differ(p: Path) -> tuple[Path, str | None, int | None]:
    cats = [
        {"id": 1, "name": "a", "keypoints": ["p"]},
        {"id": 2, "name": "b", "keypoints": ["p", "q"]},
    ]
    anns = [box(keypoints=[2, 2, 2]), box(id=2, category_id=2, keypoints=[2, 2, 2, 3, 3, 2])]
    coco(p, anns, cats=cats)
    return p, "annotations/instances_default.json", None


def _other_ignored(p: Path) -> tuple[Path, str | None, int | None]:
    coco(p, [box()])
    write_json(p / "annotations/person_keypoints_default.json",
               {"images": [], "annotations": [],
                "categories": [{"id": 1, "name": "a", "keypoints": ["x"]}]})  # fmt: skip
    return p, "annotations/person_keypoints_default.json", None


def _unexpected_dir(p: Path) -> tuple[Path, str | None, int | None]:
    image(p / "train/cat/1.jpg")
    image(p / "extras/cat/2.jpg")
    return p, "extras", None


CASES: dict[str, list[Case]] = {
    "json_syntax": [_json_syntax],
    "xml_syntax": [_xml_syntax, _xml_entities],
    "yaml_syntax": [_yaml_syntax],
    "unreadable_file": [_unreadable_file],
    "invalid_structure": [_invalid_structure],
    "image_unreadable": [_truncated_jpeg],
    "image_too_large": [_too_large],
    "corrupt_jpeg_restored": [_missing_end_marker],
    "nested_archive": [_nested_archive],
    "image_skipped": [_truncated_jpeg, _too_large],  # read with POLICIES below
    "unsupported_image_type": [_gif],
    "missing_image": [_missing_image],
    "image_size_mismatch": [_size_mismatch],
    "duplicate_file_name": [_duplicate_label, _duplicate_coco_name],
    "duplicate_image_id": [_duplicate_image_id],
    "unknown_image_id": [_unknown_image_id],
    "empty_dataset": [_empty_dataset],
    "invalid_class_names": [_invalid_names, _nc_mismatch],
    "class_id_out_of_range": [_class_out_of_range],
    "unknown_class": [_unknown_voc_class, _unknown_category],
    "inconsistent_categories": [_inconsistent_categories],
    "invalid_label_row": [_bad_row],
    "non_finite": [_nan],
    "out_of_bounds": [_out_of_bounds],
    "degenerate_box": [_degenerate],
    "invalid_polygon": [_two_point_polygon],
    "invalid_rle": [_invalid_rle],
    "keypoint_count_mismatch": [_keypoint_count],
    "invalid_keypoint": [_invalid_keypoint],
    "orphan_label": [_orphan],
    "missing_label": [_missing_label],
    "unlisted_image": [_unlisted],
    "label_beside_image": [_beside],
    "split_path_missing": [_split_missing],
    "image_in_several_splits": [_several_splits],
    "class_names_missing": [_names_missing],
    "duplicate_class_name": [_duplicate_class],
    "tiny_box": [_tiny],
    "box_as_polygon": [_box_as_polygon],
    "bbox_mismatch": [_bbox_mismatch],
    "empty_mask": [_empty_mask],
    "exif_rotated": [_exif],
    "duplicate_annotation": [_duplicate_row],
    "duplicate_annotation_id": [_duplicate_ann_id],
    "track_id_ignored": [_track],
    "unsupported_shape": [_unsupported_shape],
    "keypoint_schemas_differ": [_schemas_differ],
    "other_annotations_ignored": [_other_ignored],
    "unexpected_directory": [_unexpected_dir],
}

PARAMS = [pytest.param(code, case, id=case.__name__.strip("_")) for code, cs in CASES.items()
          for case in cs]  # fmt: skip


POLICIES = {"image_skipped": ImagePolicy(skip_invalid=True)}
"""Codes that only a reading with another image policy than the default reports."""


def test_every_code_has_a_case() -> None:
    assert set(CASES) == set(CODES)


@pytest.mark.parametrize(("code", "case"), PARAMS)
def test_code_is_reported(tmp_path: Path, code: str, case: Case) -> None:
    root, file, line = case(tmp_path)
    _, report = read_dataset(root, image_policy=POLICIES.get(code))
    found = report.by_code(code)
    assert found, f"{code} not reported; got {report.issues}"
    issue = found[0]
    assert issue.severity is CODES[code].severity
    assert issue.file == file
    assert issue.line == line
    assert issue.message
    if issue.severity is Severity.ERROR:
        assert report.has_errors


def test_json_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    root, _, _ = _json_syntax(tmp_path)
    _, report = read_dataset(root, format="coco")
    issue = report.by_code("json_syntax")[0]
    assert (issue.line, issue.extra["column"]) == (3, 14)
    assert "line 3, column 14" in issue.message


def test_yaml_syntax_error_gives_line(tmp_path: Path) -> None:
    root, _, _ = _yaml_syntax(tmp_path)
    _, report = read_dataset(root, format="yolo")
    issue = report.by_code("yaml_syntax")[0]
    assert issue.line == 3
    assert issue.extra["column"] == 3


def test_out_of_bounds_hints_at_pixel_coordinates(tmp_path: Path) -> None:
    root, _, _ = _out_of_bounds(tmp_path)
    _, report = read_dataset(root)
    message = report.by_code("out_of_bounds")[0].message
    assert "outside the 32x24 image" in message
    assert "look like pixels" in message


def test_small_overshoot_is_clamped(tmp_path: Path) -> None:
    root = yolo(tmp_path, "0 0.5 0.5 1.005 0.5\n")  # 0.16 px outside on each side
    manifest, report = read_dataset(root)
    assert not report.issues
    assert manifest.items[0].annotations[0].bbox == (0.0, 6.0, 32.0, 12.0)


def test_not_an_image_and_truncated_image_messages(tmp_path: Path) -> None:
    root = yolo(tmp_path, "")
    (root / "images/train/x.jpg").write_bytes(jpeg_bytes()[:200])
    text(root / "images/train/fake.jpg", "hello")
    _, report = read_dataset(root)
    messages = {i.file: i.message for i in report.by_code("image_unreadable")}
    assert "truncated" in messages["images/train/x.jpg"].lower()
    assert "not an image" in messages["images/train/fake.jpg"]


def test_issue_lists_are_capped_but_counts_are_exact() -> None:
    report = ValidationReport(max_per_code=5)
    for line in range(1, 30):
        report.add("track_id_ignored", "dropped", file="labels/x.txt", line=line)
    report.add("non_finite", "nan", file="labels/x.txt", line=30)
    assert len(report.by_code("track_id_ignored")) == 5
    assert report.counts == {"track_id_ignored": 29, "non_finite": 1}
    assert (report.error_count, report.warning_count, report.has_errors) == (1, 29, True)
    assert report.summary() == "1 errors, 29 warnings (non_finite: 1, track_id_ignored: 29)"
    assert ValidationReport.model_validate_json(report.model_dump_json()) == report
