"""Pre- and post-processing against hand-computed expectations, and the whole detection path on a
real ONNX model producing a YOLO-shaped output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lensforge.inference.results import validate_result
from lensforge.serving.runtime import load_model
from lensforge.serving.vision import (
    Found,
    classification_crop,
    classification_result,
    decode_detections,
    detection_result,
    input_size,
    letterbox,
    nms,
    resize_bilinear,
    scale_boxes,
    to_tensor,
    xywh_to_xyxy,
)
from tests.serving.onnx_models import yolo_detector


def _image(height: int, width: int, value: int = 10) -> np.ndarray:
    return np.full((height, width, 3), value, np.uint8)


# --- letterbox --------------------------------------------------------------------------------


def test_letterbox_of_a_wide_image_pads_top_and_bottom_evenly() -> None:
    # 100x200 into 64x64: ratio 0.32, resized to 64x32, 16 rows of grey above and below.
    boxed = letterbox(_image(100, 200), (64, 64))
    assert boxed.image.shape == (64, 64, 3)
    assert boxed.ratio == pytest.approx(0.32)
    assert (boxed.pad_left, boxed.pad_top) == (0, 16)
    assert (boxed.image[:16] == 114).all()
    assert (boxed.image[48:] == 114).all()
    assert (boxed.image[16:48] == 10).all()


def test_letterbox_odd_padding_puts_the_extra_row_at_the_bottom() -> None:
    # 62x128 into 64x64: ratio 0.5, resized to 64x31, 33 rows of padding: 16 above, 17 below,
    # as Ultralytics' round(dh - 0.1) / round(dh + 0.1) split.
    boxed = letterbox(_image(62, 128), (64, 64))
    assert boxed.pad_top == 16
    assert (boxed.image[:16] == 114).all()
    assert (boxed.image[16:47] == 10).all()
    assert (boxed.image[47:] == 114).all()


def test_letterbox_of_a_tall_image_pads_left_and_right() -> None:
    boxed = letterbox(_image(200, 100), (64, 64))
    assert (boxed.pad_left, boxed.pad_top) == (16, 0)
    assert (boxed.image[:, :16] == 114).all()
    assert (boxed.image[:, 16:48] == 10).all()


def test_letterbox_scales_small_images_up_unless_told_not_to() -> None:
    assert letterbox(_image(16, 32), (64, 64)).ratio == 2.0
    kept = letterbox(_image(16, 32), (64, 64), scaleup=False)
    assert kept.ratio == 1.0
    assert (kept.pad_left, kept.pad_top) == (16, 24)


def test_bilinear_resize_matches_opencvs_half_pixel_rule() -> None:
    # OpenCV INTER_LINEAR of [[0, 100], [200, 300]] to 4x4 (computed by hand: source positions
    # -0.25 (clamped), 0.25, 0.75, 1.25 (clamped)).
    source = np.array([[0, 100], [200, 255]], np.uint8)[:, :, None]
    resized = resize_bilinear(source, 4, 4)[:, :, 0]
    assert resized[0].tolist() == [0, 25, 75, 100]
    assert resized[:, 0].tolist() == [0, 50, 150, 200]
    # Halving averages each 2x2 block (positions land between pixels).
    block = np.array([[0, 100, 10, 20], [100, 200, 30, 40]] * 2, np.uint8)[:, :, None]
    assert resize_bilinear(block, 2, 2)[:, :, 0].tolist() == [[100, 25], [100, 25]]


def test_to_tensor_is_nchw_float_in_unit_range() -> None:
    image = np.zeros((4, 5, 3), np.uint8)
    image[..., 0] = 255  # red
    batch = to_tensor([image, image])
    assert batch.shape == (2, 3, 4, 5)
    assert batch.dtype == np.float32
    assert (batch[:, 0] == 1.0).all()
    assert (batch[:, 1:] == 0.0).all()


def test_input_size_of_dynamic_shapes() -> None:
    assert input_size((-1, 3, 320, 416)) == (320, 416)
    assert input_size((-1, 3, -1, -1), default=640) == (640, 640)


# --- NMS and decoding -------------------------------------------------------------------------


def test_nms_drops_boxes_overlapping_a_better_one_above_the_threshold() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], np.float32)
    scores = np.array([0.9, 0.8, 0.7], np.float32)
    # IoU of the first two: 81 / (100 + 100 - 81) = 0.68.
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]
    assert nms(boxes, scores, 0.7).tolist() == [0, 1, 2]
    assert nms(boxes[::-1], scores[::-1], 0.5).tolist() == [2, 0]


def test_nms_of_nothing() -> None:
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).tolist() == []


def test_xywh_to_xyxy() -> None:
    assert xywh_to_xyxy(np.array([[10, 20, 4, 6]], np.float32)).tolist() == [[8, 17, 12, 23]]


def _prediction(rows: list[list[float]]) -> np.ndarray:
    """Anchors given one per row (x, y, w, h, class scores...), as the model's [C, A] output."""
    return np.array(rows, np.float32).T


def test_decode_keeps_the_best_class_above_conf_with_classwise_nms() -> None:
    prediction = _prediction(
        [
            [10, 10, 10, 10, 0.9, 0.1],  # class 0
            [11, 11, 10, 10, 0.8, 0.0],  # class 0, overlaps the first (IoU 0.68): dropped
            [11, 11, 10, 10, 0.0, 0.6],  # class 1, same place: kept (class-wise)
            [40, 40, 8, 8, 0.25, 0.2],  # best score equal to conf: not above it, dropped
            [50, 50, 8, 8, 0.3, 0.35],  # class 1
        ]
    )
    found = decode_detections(prediction, conf=0.25, iou=0.5)
    assert found.classes.tolist() == [0, 1, 1]
    assert found.scores.tolist() == pytest.approx([0.9, 0.6, 0.35])
    assert found.boxes.tolist() == [[5, 5, 15, 15], [6, 6, 16, 16], [46, 46, 54, 54]]
    assert found.extra.shape == (3, 0)


def test_decode_agnostic_nms_and_max_det() -> None:
    prediction = _prediction(
        [[10, 10, 10, 10, 0.9, 0.1], [11, 11, 10, 10, 0.0, 0.6], [50, 50, 8, 8, 0.5, 0.0]]
    )
    agnostic = decode_detections(prediction, conf=0.25, iou=0.5, agnostic=True)
    assert agnostic.scores.tolist() == pytest.approx([0.9, 0.5])
    assert len(decode_detections(prediction, conf=0.25, iou=0.5, max_det=1).scores) == 1


def test_decode_separates_extra_values_after_the_classes() -> None:
    # One class, then two keypoints (x, y, visibility).
    prediction = _prediction([[10, 10, 4, 4, 0.9, 9, 8, 0.5, 11, 12, 0.2]])
    found = decode_detections(prediction, num_classes=1)
    np.testing.assert_allclose(found.extra, [[9, 8, 0.5, 11, 12, 0.2]], rtol=1e-6)


def test_decode_refuses_a_wrong_output_shape() -> None:
    with pytest.raises(ValueError, match="anchors"):
        decode_detections(np.zeros((2, 3, 4), np.float32))


# --- back to the original image ---------------------------------------------------------------


def test_scale_boxes_undoes_the_letterbox() -> None:
    boxed = letterbox(_image(100, 200), (64, 64))  # gain 0.32, 16 rows of padding on top
    boxes = np.array([[10, 20, 30, 40], [-5, 0, 70, 60]], np.float32)
    # x / 0.32; (y - 16) / 0.32; clipped to the 200x100 image.
    np.testing.assert_allclose(
        scale_boxes(boxes, boxed), [[31.25, 12.5, 93.75, 75.0], [0, 0, 200, 100]], rtol=1e-6
    )


def test_detection_result_is_a_valid_platform_result_with_keypoints() -> None:
    boxed = letterbox(_image(100, 200), (64, 64))
    found = Found(
        boxes=np.array([[10, 20, 30, 40]], np.float32),
        scores=np.array([0.8], np.float32),
        classes=np.array([0]),
        extra=np.array([[16, 32, 0.9, 0, 0, 1.2]], np.float32),
    )
    result = detection_result(
        found, boxed, ["raccoon"], image="a.jpg", task="pose", keypoint_shape=(2, 3)
    )
    validate_result(result.model_dump(exclude_none=True), task="pose", classes=["raccoon"])
    (detection,) = result.detections or []
    assert detection.box == pytest.approx([31.25, 12.5, 93.75, 75.0])
    np.testing.assert_allclose(detection.keypoints or [], [[50, 50, 0.9], [0, 0, 1.0]], rtol=1e-6)
    assert (result.width, result.height) == (200, 100)


def test_detection_end_to_end_on_a_real_onnx_model(tmp_path: Path) -> None:
    # The model always reports the same anchors, in the 64x64 input's coordinates: a raccoon at
    # (32, 32) 20x10, a weaker duplicate, and a low-score one.
    anchors = _prediction([[32, 32, 20, 10, 0.9], [33, 32, 20, 10, 0.8], [10, 10, 4, 4, 0.1]])
    model = load_model(yolo_detector(tmp_path / "yolo.onnx", anchors))
    original = _image(100, 200)
    boxed = letterbox(original, input_size(model.signature.inputs[0].shape))

    (raw,) = model.run({"images": to_tensor([boxed.image])}).values()
    result = detection_result(decode_detections(raw[0]), boxed, ["raccoon"], image="r.jpg")

    validate_result(result.model_dump(exclude_none=True), task="detection", classes=["raccoon"])
    (detection,) = result.detections or []
    # x: (22 .. 42) / 0.32; y: (27 .. 37 - 16) / 0.32.
    assert detection.box == pytest.approx([68.75, 34.375, 131.25, 65.625])
    assert detection.score == pytest.approx(0.9)


# --- classification ---------------------------------------------------------------------------


def test_classification_top_k_sorted_with_stable_ties() -> None:
    probabilities = np.array([0.1, 0.3, 0.3, 0.05, 0.15, 0.1])
    classes = ["a", "b", "c", "d", "e", "f"]
    result = classification_result(
        probabilities, classes, image="x.jpg", width=10, height=10, top_k=3
    )
    validate_result(result.model_dump(exclude_none=True), task="classification", classes=classes)
    assert [(c.class_name, c.score) for c in result.classifications or []] == [
        ("b", 0.3),
        ("c", 0.3),
        ("e", 0.15),
    ]


def test_classification_of_logits_applies_softmax() -> None:
    result = classification_result(
        np.array([2.0, 0.0]), ["cat", "dog"], image="x", width=1, height=1
    )
    scores = [c.score for c in result.classifications or []]
    assert scores == pytest.approx([0.8808, 0.1192], abs=1e-4)


def test_classification_crop_scales_the_shorter_side_and_centres() -> None:
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 100:200] = 255  # the centre third is white
    crop = classification_crop(image, 32)
    assert crop.shape == (32, 32, 3)
    assert crop[:, 2:30].min() == 255  # the centre square is what is kept
