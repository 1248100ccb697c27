"""The image pipeline on real (tiny) ONNX models: card from the version's fields or the file's
metadata, letterbox/crop in, NMS and back-mapping out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from lensforge.serving.errors import InvalidParameter, TaskNotServed
from lensforge.serving.pipeline import ModelCard, onnx_metadata, postprocess, preprocess
from lensforge.serving.runtime import load_model
from tests.serving.onnx_models import IR_VERSION, OPSET, yolo_detector


def _anchors() -> np.ndarray:
    # Two boxes of class 1 and one of class 0 in a 64 px input; one box overlaps another.
    table = np.zeros((4 + 2, 4), np.float32)
    table[:, 0] = [16, 30, 8, 8, 0.1, 0.9]
    table[:, 1] = [17, 30, 8, 8, 0.2, 0.8]  # suppressed by the first (same class, IoU > 0.7)
    table[:, 2] = [48, 40, 10, 20, 0.95, 0.0]
    table[:, 3] = [32, 32, 4, 4, 0.1, 0.1]  # under conf
    return table


def _with_metadata(path: Path, props: dict[str, str]) -> Path:
    model = onnx.load(str(path))
    for key, value in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    return path


def _classifier(path: Path, classes: int = 3) -> Path:
    logits = numpy_helper.from_array(np.arange(classes, dtype=np.float32)[None], "logits")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["mean", "one"], ["mean2"]),
        helper.make_node("Mul", ["mean2", "zero"], ["nothing"]),
        helper.make_node("Add", ["logits", "nothing"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "cls",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, 32, 32])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", classes])],
        initializer=[
            logits,
            numpy_helper.from_array(np.zeros((1, 1), np.float32), "zero"),
            numpy_helper.from_array(np.array([1], np.int64), "one"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.save(model, str(path))
    return path


def test_detection_boxes_map_back_to_the_original_image(tmp_path: Path) -> None:
    model = load_model(yolo_detector(tmp_path / "m.onnx", _anchors(), size=64))
    card = ModelCard.build(
        task="detection",
        class_names=["cat", "dog"],
        model_info={},
        inputs=model.signature.inputs,
        metadata={},
    )
    assert card.imgsz == (64, 64)
    assert card.fixed_size
    image = np.zeros((32, 128, 3), np.uint8)  # ratio 0.5, padded 24 px top and bottom
    batch, contexts = preprocess([image], card)
    assert batch.shape == (1, 3, 64, 64)
    assert batch.dtype == np.float32
    outputs = model.run({"images": batch})
    (result,) = postprocess(list(outputs.values()), contexts, card, conf=0.25, iou=0.7)
    assert (result.width, result.height) == (128, 32)
    found = [
        (d.class_name, round(d.score, 2), [round(v, 1) for v in d.box])
        for d in result.detections or []
    ]
    assert found == [
        ("cat", 0.95, [86.0, 12.0, 106.0, 32.0]),  # clipped to the image
        ("dog", 0.9, [24.0, 4.0, 40.0, 20.0]),
    ]


def test_the_files_metadata_fills_what_the_version_leaves_out(tmp_path: Path) -> None:
    path = yolo_detector(tmp_path / "m.onnx", _anchors(), size=None)
    _with_metadata(path, {"names": "{0: 'cat', 1: 'dog'}", "imgsz": "[96, 128]", "task": "detect"})
    model = load_model(path)
    card = ModelCard.build(
        task="",
        class_names=[],
        model_info={},
        inputs=model.signature.inputs,
        metadata=onnx_metadata(model.session),
    )
    assert card.task == "detection"
    assert card.class_names == ("cat", "dog")
    assert card.imgsz == (96, 128)
    assert not card.fixed_size
    assert card.input_size((100, 100)) == (128, 128)  # a multiple of 32, as check_imgsz


def test_classification_crops_and_ranks(tmp_path: Path) -> None:
    model = load_model(_classifier(tmp_path / "c.onnx"))
    card = ModelCard.build(
        task="classification",
        class_names=["a", "b", "c"],
        model_info={},
        inputs=model.signature.inputs,
        metadata={},
    )
    batch, contexts = preprocess([np.zeros((40, 80, 3), np.uint8)], card)
    assert batch.shape == (1, 3, 32, 32)
    (result,) = postprocess(list(model.run({"images": batch}).values()), contexts, card)
    assert [c.class_name for c in result.classifications or []] == ["c", "b", "a"]


def test_an_obb_model_is_not_served_by_the_image_api(tmp_path: Path) -> None:
    model = load_model(yolo_detector(tmp_path / "m.onnx", _anchors()))
    card = ModelCard.build(
        task="obb", class_names=["x"], model_info={}, inputs=model.signature.inputs, metadata={}
    )
    with pytest.raises(TaskNotServed) as caught:
        preprocess([np.zeros((8, 8, 3), np.uint8)], card)
    assert caught.value.code == "task_not_served"


def test_a_fixed_size_model_refuses_another_imgsz(tmp_path: Path) -> None:
    model = load_model(yolo_detector(tmp_path / "m.onnx", _anchors(), size=64))
    card = ModelCard.build(
        task="detection",
        class_names=["a", "b"],
        model_info={},
        inputs=model.signature.inputs,
        metadata={},
    )
    with pytest.raises(InvalidParameter):
        preprocess([np.zeros((8, 8, 3), np.uint8)], card, (320, 320))


def test_pose_keypoints_come_back_on_the_original_image(tmp_path: Path) -> None:
    table = np.zeros((4 + 1 + 2 * 3, 2), np.float32)
    table[:, 0] = [32, 32, 16, 16, 0.9, 30, 28, 0.8, 34, 36, 0.2]  # two keypoints
    model = load_model(yolo_detector(tmp_path / "p.onnx", table, size=64))
    card = ModelCard.build(
        task="pose",
        class_names=["person"],
        model_info={"kpt_shape": [2, 3]},
        inputs=model.signature.inputs,
        metadata={},
    )
    batch, contexts = preprocess([np.zeros((128, 128, 3), np.uint8)], card)  # scale 0.5
    (result,) = postprocess(list(model.run({"images": batch}).values()), contexts, card)
    (person,) = result.detections or []
    assert person.keypoints is not None
    assert [[round(v, 2) for v in point] for point in person.keypoints] == [
        [60.0, 56.0, 0.8],
        [68.0, 72.0, 0.2],
    ]
