"""Loading a trained or exported model, and Ultralytics' `Results` as the platform's result
schema (through the pure `results` module). Used by the predict and export jobs."""

from __future__ import annotations

import time
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from ultralytics import YOLO
from ultralytics.utils import ops

from lensforge.sdk import ConfigurationError
from lensforge.trainers.ultralytics import safe_weights
from lensforge.trainers.ultralytics.options import ULTRALYTICS_TASK
from lensforge.trainers.ultralytics.results import (
    RawDetections,
    classification_result,
    detection_result,
)

OPENVINO_SUFFIX = "_openvino_model"


def unpack(source: Path) -> Path:
    """A zipped OpenVINO folder (how exports of folders are stored) unpacked beside it; any
    other file as it is."""
    if source.suffix != ".zip":
        return source
    target = source.parent / "unpacked"
    with zipfile.ZipFile(source) as archive:
        names = archive.namelist()
        archive.extractall(target)
    folders = {name.split("/", 1)[0] for name in names}
    found = [target / f for f in folders if f.endswith(OPENVINO_SUFFIX)]
    if len(found) != 1:
        raise ConfigurationError(f"{source.name} holds no {OPENVINO_SUFFIX} folder")
    return found[0]


def load(path: Path, task: str) -> Any:
    if path.suffix == ".pt":
        safe_weights.check(path)  # before Ultralytics' loader, which unpickles freely
    return YOLO(str(path), task=ULTRALYTICS_TASK[task])


def model_names(model: Any) -> list[str]:
    names = model.names
    return [str(names[i]) for i in sorted(names)] if isinstance(names, dict) else list(names)


def to_result(
    result: Any,
    *,
    name: str,
    task: str,
    classes: list[str],
    names: list[str],
    inference_ms: float | None = None,
) -> dict[str, Any]:
    height, width = (int(v) for v in result.orig_shape)
    ms = inference_ms if inference_ms is not None else result.speed.get("inference")
    if task == "classification":
        return classification_result(
            image=name,
            width=width,
            height=height,
            probabilities=result.probs.data.float().cpu().tolist(),
            names=names,
            classes=classes,
            inference_ms=ms,
        )
    boxes = result.boxes
    raw = RawDetections(
        boxes=boxes.xyxy.float().cpu().tolist(),
        classes=[int(c) for c in boxes.cls.cpu().tolist()],
        scores=boxes.conf.float().cpu().tolist(),
    )
    if task == "segmentation":
        raw.polygons = _contours(result)
    if task == "pose" and result.keypoints is not None:
        raw.keypoints = result.keypoints.data.float().cpu().tolist()
    return detection_result(
        image=name,
        width=width,
        height=height,
        task=task,
        raw=raw,
        names=names,
        classes=classes,
        inference_ms=ms,
    )


def _contours(result: Any) -> list[list[list[Sequence[float]]]]:
    """Every outer contour of every mask, in original image pixels."""
    if result.masks is None:
        return [[] for _ in range(len(result.boxes))]
    masks = result.masks.data.byte().cpu().numpy()
    shape = masks.shape[1:]
    out: list[list[list[Sequence[float]]]] = []
    for mask in masks:
        found = cv2.findContours(
            np.ascontiguousarray(mask), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE
        )[0]
        out.append(
            [
                ops.scale_coords(
                    shape, c.reshape(-1, 2).astype("float32"), result.orig_shape, normalize=False
                ).tolist()
                for c in found
            ]
        )
    return out


def timed_predict(model: Any, image: Path, **params: Any) -> tuple[Any, float]:
    """One image's `Results` and the model's own inference time in ms (Ultralytics' measure,
    without reading, pre- and post-processing); the wall time when it gives none."""
    started = time.perf_counter()
    result = model.predict(str(image), verbose=False, **params)[0]
    wall = (time.perf_counter() - started) * 1000.0
    return result, float(result.speed.get("inference") or wall)


def raw_difference(
    reference: Any, exported: Any, image: Path, imgsz: int
) -> tuple[float, float, int] | None:
    """(max, sum, count) of the differences between the two models' first raw output on one
    identical letterboxed input; None when the outputs differ in shape (e.g. NMS inside the
    exported graph), where only the detection-level comparison applies.

    A difference is |a - b| / max(1, |a|): absolute for values within ±1 (scores,
    probabilities), relative for larger ones (box coordinates in input pixels, mask
    coefficients), so one tolerance means the same at every image size."""
    import torch
    from ultralytics.data.augment import LetterBox

    picture = cv2.imread(str(image))
    if picture is None:
        return None
    boxed = LetterBox((imgsz, imgsz), auto=False)(image=picture)
    tensor = torch.from_numpy(
        np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1)[None]).astype("float32") / 255.0
    )
    with torch.inference_mode():
        a = _first(reference.predictor.model(tensor))
        b = _first(exported.predictor.model(tensor))
    if a.shape != b.shape:
        return None
    reference_values = a.astype("float64")
    diff = np.abs(reference_values - b.astype("float64")) / np.maximum(
        1.0, np.abs(reference_values)
    )
    return float(diff.max(initial=0.0)), float(diff.sum()), int(diff.size)


def _first(output: Any) -> Any:
    while isinstance(output, list | tuple):
        output = output[0]
    if hasattr(output, "detach"):
        output = output.detach().float().cpu().numpy()
    return np.asarray(output, dtype="float32")


def runtime(fmt: str) -> str:
    if fmt == "onnx":
        import onnxruntime

        return f"onnxruntime {onnxruntime.__version__}"
    if fmt == "openvino":
        import openvino

        return f"openvino {openvino.__version__}"
    import torch

    return f"torch {torch.__version__} (TorchScript)"
