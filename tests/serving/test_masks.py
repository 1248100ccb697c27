"""Segmentation masks: prototypes x coefficients, cropped to the box; outlines traced without
OpenCV; the polygon back on the original image."""

from __future__ import annotations

import numpy as np

from lensforge.inference.results import validate_result
from lensforge.serving.masks import decode_masks, largest_outline
from lensforge.serving.vision import Found, detection_result, letterbox


def test_outline_of_a_rectangle_is_its_corners_clockwise() -> None:
    mask = np.zeros((8, 10), bool)
    mask[2:5, 3:7] = True
    assert largest_outline(mask) == [[3, 2], [6, 2], [6, 4], [3, 4]]


def test_outline_follows_an_l_shape_round_its_inner_corner() -> None:
    mask = np.zeros((6, 6), bool)
    mask[1:5, 1] = True
    mask[4, 1:4] = True
    # Down the bar's inner side, diagonally round the corner, along the foot and back.
    assert largest_outline(mask) == [[1, 1], [1, 3], [2, 4], [3, 4], [1, 4]]


def test_outline_of_the_largest_region_only() -> None:
    mask = np.zeros((10, 10), bool)
    mask[0, 0] = True  # a speck, first in raster order
    mask[4:9, 2:8] = True
    assert largest_outline(mask) == [[2, 4], [7, 4], [7, 8], [2, 8]]


def test_outline_of_a_hollow_shape_is_its_outer_boundary() -> None:
    mask = np.zeros((7, 7), bool)
    mask[1:6, 1:6] = True
    mask[3, 3] = False
    assert largest_outline(mask) == [[1, 1], [5, 1], [5, 5], [1, 5]]


def test_degenerate_outlines_still_have_three_points() -> None:
    pixel = np.zeros((5, 5), bool)
    pixel[2, 2] = True
    assert largest_outline(pixel) == [[2, 2], [3, 2], [3, 3], [2, 3]]
    assert len(largest_outline(np.eye(4, dtype=bool))) >= 3
    assert largest_outline(np.zeros((3, 3), bool)) == []


def test_masks_are_thresholded_at_zero_and_cropped_to_the_box() -> None:
    protos = np.ones((2, 4, 4), np.float32)
    coefficients = np.array([[1.0, 0.0], [-1.0, 0.0]], np.float32)
    boxes = np.array([[2, 3, 10.5, 8], [0, 0, 16, 16]], np.float32)
    masks = decode_masks(coefficients, protos, boxes, (16, 16))
    expected = np.zeros((16, 16), bool)
    expected[3:8, 2:11] = True  # rows 3..7 (< 8), columns 2..10 (< 10.5)
    np.testing.assert_array_equal(masks[0], expected)
    assert not masks[1].any()  # negative logits everywhere


def test_masks_upsample_the_prototypes_bilinearly() -> None:
    # One prototype, positive on its left half only: at 4x the right half stays empty.
    protos = np.array([[[1, 1, -1, -1]] * 4], np.float32)
    masks = decode_masks(
        np.array([[1.0]], np.float32), protos, np.array([[0, 0, 16, 16]]), (16, 16)
    )
    assert masks[0, :, :8].all()
    assert not masks[0, :, 8:].any()


def test_segmentation_result_has_polygons_on_the_original_image() -> None:
    boxed = letterbox(np.zeros((100, 200, 3), np.uint8), (64, 64))  # gain 0.32, 16 px on top
    protos = np.ones((1, 16, 16), np.float32)
    found = Found(
        boxes=np.array([[8, 24, 40, 40], [0, 20, 4, 22]], np.float32),
        scores=np.array([0.9, 0.5], np.float32),
        classes=np.array([0, 0]),
        extra=np.array([[2.0], [-2.0]], np.float32),  # the second mask is empty: dropped
    )
    result = detection_result(
        found, boxed, ["raccoon"], image="r.jpg", task="segmentation", protos=protos
    )
    validate_result(result.model_dump(exclude_none=True), task="segmentation", classes=["raccoon"])
    (detection,) = result.detections or []
    # Mask pixels 8..39 x 24..39 in the input: (x / 0.32, (y - 16) / 0.32).
    np.testing.assert_allclose(
        detection.polygon or [], [[25, 25], [121.875, 25], [121.875, 71.875], [25, 71.875]]
    )
