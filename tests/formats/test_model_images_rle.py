from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from PIL import Image
from pydantic import ValidationError

from lensforge.formats import (
    Annotation,
    DatasetManifest,
    ImageError,
    Item,
    Task,
    canonical_json,
    content_hash,
    describe_image,
)
from lensforge.formats.geometry import polygon_area, polygon_bbox
from lensforge.formats.rle import (
    RLEError,
    counts_from_string,
    counts_to_string,
    decode,
    rle_to_polygons,
)

from .builders import H, W, image, jpeg_bytes


def manifest(*anns: Annotation, **item: object) -> DatasetManifest:
    fields = {"file_name": "a.jpg", "width": W, "height": H, **item}
    return DatasetManifest(
        task=Task.DETECTION, classes=["x", "y"], items=[Item(annotations=list(anns), **fields)]
    )


def test_canonical_json_rounds_sorts_and_ignores_provenance() -> None:
    a = Annotation(class_id=1, bbox=(1.23456789, -0.000001, 3, 4))
    b = Annotation(class_id=0, bbox=(5, 5, 1, 1))
    first = manifest(a, b, source_path="x/a.jpg")
    second = manifest(b, a).model_copy(update={"source_format": "coco"})
    assert canonical_json(first) == canonical_json(second)
    assert content_hash(first) == content_hash(second)
    data = json.loads(canonical_json(first))
    assert data["items"][0]["annotations"][1]["bbox"] == [1.2346, 0.0, 3.0, 4.0]
    assert b"-0.0" not in canonical_json(first)
    assert b" " not in canonical_json(first)
    assert list(data) == sorted(data)


def test_canonical_json_sorts_items_and_changes_with_content() -> None:
    items = [Item(file_name=n, width=W, height=H, split=s) for n, s in
             (("b.jpg", "train"), ("a.jpg", "val"), ("a.jpg", "train"))]  # fmt: skip
    m = DatasetManifest(task=Task.DETECTION, classes=["x"], items=items)
    names = [(i["file_name"], i["split"]) for i in json.loads(canonical_json(m))["items"]]
    assert names == [("a.jpg", "train"), ("a.jpg", "val"), ("b.jpg", "train")]
    changed = m.model_copy(update={"classes": ["z"]})
    assert content_hash(changed) != content_hash(m)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"classes": ["x", "x"]}, "unique"),
        ({"items": [{"file_name": "../a.jpg", "width": 1, "height": 1}]}, "'..'"),
        ({"items": [Item(file_name="a.jpg", width=1, height=1,
                         annotations=[Annotation(class_id=3, bbox=(0, 0, 1, 1))])]}, "out of range"),
        ({"items": [Item(file_name="a.jpg", width=1, height=1,
                         annotations=[Annotation(class_id=0, bbox=(0, 0, 1, 1),
                                                 polygons=[[0, 0, 1, 0, 1, 1]])])]}, "polygons"),
        ({"task": Task.POSE}, "num_keypoints"),
        ({"items": [Item(file_name="a.jpg", width=1, height=1)] * 2}, "two items"),
    ],
)  # fmt: skip
def test_model_refuses_inconsistent_data(kwargs: dict[str, object], message: str) -> None:
    fields: dict[str, object] = {"task": Task.DETECTION, "classes": ["x"], **kwargs}
    with pytest.raises(ValidationError, match=message):
        DatasetManifest.model_validate(fields)


def test_annotation_refuses_nan_and_bad_visibility() -> None:
    with pytest.raises(ValidationError):
        Annotation(class_id=0, bbox=(float("nan"), 0, 1, 1))
    with pytest.raises(ValidationError):
        Annotation(class_id=0, bbox=(0, 0, 1, 1), keypoints=[(1, 1, 5)])
    assert Annotation(class_id=0, bbox=(0, 0, 1, 1), keypoints=[(3, 4, 0)]).keypoints == [
        (0.0, 0.0, 0)
    ]


def test_describe_image(tmp_path: Path) -> None:
    path = image(tmp_path / "a.png", fmt="PNG")
    info = describe_image(path)
    data = path.read_bytes()
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert (info.size_bytes, info.width, info.height, info.format) == (len(data), W, H, "PNG")


def test_describe_image_applies_exif_orientation(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 8
    info = describe_image(image(tmp_path / "r.jpg", exif=exif))
    assert (info.width, info.height, info.exif_orientation) == (H, W, 8)
    assert info.stored_size == (W, H)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (jpeg_bytes()[:-300], "image_unreadable"),
        (b"", "image_unreadable"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image_unreadable"),
    ],
)
def test_describe_image_refuses(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError) as err:
        describe_image(path)
    assert err.value.reason_code == reason


def test_describe_image_refuses_gif(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="GIF") as err:
        describe_image(image(tmp_path / "a.gif", fmt="GIF"))
    assert err.value.reason_code == "unsupported_image_type"


# Reference pairs from a COCO-compatible implementation (rleCountsToStringCOCO tests).
VECTORS = [
    ([0, 6, 1, 3], "061M"),
    ([0, 6, 1], "061"),
    ([0, 6, 1, 1], "061K"),
    ([0, 6, 1, 5], "061O"),
    ([0, 6, 1, 6], "0610"),
    ([0, 1, 1, 2, 1, 3, 1, 4, 1], "011101010"),
    ([0, 1024], "0PP1"),
]


@pytest.mark.parametrize(("counts", "string"), VECTORS)
def test_compressed_counts(counts: list[int], string: str) -> None:
    assert counts_to_string(counts) == string
    assert counts_from_string(string) == counts


def _encode(mask: list[list[bool]]) -> list[int]:
    h, w = len(mask), len(mask[0])
    flat = [mask[y][x] for x in range(w) for y in range(h)]
    counts, current, run = [], False, 0
    for value in flat:
        if value != current:
            counts.append(run)
            current, run = value, 0
        run += 1
    return [*counts, run]


def test_mask_outlines_match_pixels() -> None:
    rng = random.Random(7)
    for _ in range(200):
        h, w = rng.randint(1, 9), rng.randint(1, 9)
        mask = [[rng.random() < 0.5 for _ in range(w)] for _ in range(h)]
        counts = _encode(mask)
        decoded = decode(counts_to_string(counts), h, w)
        assert decoded == decode(counts, h, w)
        assert decoded.area == sum(map(sum, mask))
        polygons = rle_to_polygons(decoded)
        if polygons:
            assert polygon_bbox(polygons) == decoded.bbox()
            # outlines cover every pixel; holes (not representable) can only add area
            assert sum(polygon_area(p) for p in polygons) >= decoded.area


def test_l_shape_and_diagonal_pixels() -> None:
    # ##.
    # #..
    # ###
    mask = [[True, True, False], [True, False, False], [True, True, True]]
    (outline,) = rle_to_polygons(decode(_encode(mask), 3, 3))
    assert polygon_area(outline) == 6
    diagonal = [[True, False], [False, True]]  # 4-connectivity: two objects
    assert len(rle_to_polygons(decode(_encode(diagonal), 2, 2))) == 2


@pytest.mark.parametrize(("counts", "h", "w"), [([1, 2], 2, 2), ("0@", 2, 2), ([-1, 5], 2, 2)])
def test_malformed_rle(counts: list[int] | str, h: int, w: int) -> None:
    with pytest.raises(RLEError):
        decode(counts, h, w)
