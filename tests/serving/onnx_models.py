"""Tiny real ONNX models, built with the `onnx` package's helpers (no torch): a YOLO-shaped
detector whose output is a fixed table of anchors, and a model of a chosen file size."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # old enough for every ONNX Runtime we support


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def yolo_detector(path: Path, anchors: np.ndarray, *, size: int | None = 64) -> Path:
    """Input `images` [batch, 3, size, size] (dynamic H, W when size is None), output `output0`
    [batch, 4 + nc, A] = `anchors` ([4 + nc, A]) for every image, plus 0 x the image's mean so
    the output really depends on the input's batch."""
    table = numpy_helper.from_array(anchors.astype(np.float32)[None], "table")
    zero = numpy_helper.from_array(np.zeros((1, 1, 1), np.float32), "zero")
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Squeeze", ["mean", "last"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["nothing"]),
        helper.make_node("Add", ["table", "nothing"], ["output0"]),
    ]
    last = numpy_helper.from_array(np.array([3], np.int64), "last")
    side: int | str = size if size is not None else "height"
    width: int | str = size if size is not None else "width"
    graph = helper.make_graph(
        nodes,
        "yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, side, width])],
        [
            helper.make_tensor_value_info(
                "output0", TensorProto.FLOAT, ["batch", anchors.shape[0], anchors.shape[1]]
            )
        ],
        initializer=[table, zero, last],
    )
    return _save(graph, path)


def adder(path: Path, *, weights: int = 16, fixed_batch: bool = False) -> Path:
    """`y = x + w` over [batch, weights] float32; the file is about 4 x `weights` bytes."""
    w = numpy_helper.from_array(np.arange(weights, dtype=np.float32), "w")
    batch: int | str = 1 if fixed_batch else "batch"
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "adder",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, weights])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, weights])],
        initializer=[w],
    )
    return _save(graph, path)
