"""From images to the platform's results and back, for one served model: what the image API runs.

    card = ModelCard.build(task="detection", class_names=["raccoon"], model_info={...},
                           inputs=model.signature.inputs, metadata=onnx_metadata(model))
    batch, contexts = preprocess([rgb], card)                  # NCHW float32, what undoes it
    outputs = model.run({card.input_name: batch})
    results = postprocess(outputs, contexts, card, conf=0.25, iou=0.7, max_det=300)

The deployment version's own fields (copied from the verified export) come first; the ONNX
file's metadata (Ultralytics writes `names`, `imgsz`, `task`, `kpt_shape` into
`metadata_props`) fills what they leave out, so a model exported elsewhere still serves.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensforge.inference.results import ImageResult
from lensforge.serving.errors import InvalidParameter, TaskNotServed
from lensforge.serving.protocol import TensorSpec
from lensforge.serving.vision import (
    Letterboxed,
    classification_crop,
    classification_result,
    decode_detections,
    detection_result,
    letterbox,
    to_tensor,
)

Array = np.ndarray[Any, Any]
SERVED_TASKS = ("detection", "segmentation", "pose", "classification")
# Ultralytics' task names, as its exports write them into the ONNX metadata.
_TASK_ALIASES = {
    "detect": "detection",
    "segment": "segmentation",
    "classify": "classification",
    "pose": "pose",
    "obb": "obb",
}
DEFAULT_IMGSZ = 640


@dataclass(frozen=True)
class ModelCard:
    """What the image API needs to know about a model: its task, class names, the input size
    it was trained at (height, width), the keypoint shape of a pose model, and its image input
    (name, whether height and width are fixed by the graph)."""

    task: str
    class_names: tuple[str, ...]
    imgsz: tuple[int, int]
    kpt_shape: tuple[int, int] | None
    input_name: str
    fixed_size: bool

    @classmethod
    def build(
        cls,
        *,
        task: str,
        class_names: Sequence[str],
        model_info: Mapping[str, Any],
        inputs: Sequence[TensorSpec],
        metadata: Mapping[str, str],
    ) -> ModelCard:
        if not inputs:
            raise TaskNotServed("the model has no input")
        image = inputs[0]
        meta_task = _TASK_ALIASES.get(metadata.get("task", ""), metadata.get("task", ""))
        resolved_task = _TASK_ALIASES.get(task, task) or meta_task
        names = list(class_names) or _names(metadata.get("names"))
        fixed = len(image.shape) == 4 and image.shape[2] > 0 and image.shape[3] > 0
        imgsz: tuple[int, int] = (
            (image.shape[2], image.shape[3])
            if fixed
            else _pair(model_info.get("imgsz"))
            or _pair(_literal(metadata.get("imgsz")))
            or (DEFAULT_IMGSZ, DEFAULT_IMGSZ)
        )
        kpt = _pair(model_info.get("kpt_shape")) or _pair(_literal(metadata.get("kpt_shape")))
        return cls(
            task=resolved_task,
            class_names=tuple(names),
            imgsz=imgsz,
            kpt_shape=kpt,
            input_name=image.name,
            fixed_size=fixed,
        )

    def check_served(self) -> None:
        if self.task not in SERVED_TASKS:
            raise TaskNotServed(
                f"the image API serves {', '.join(SERVED_TASKS)} models, not "
                f"{self.task or 'a model of unknown task'}; use the inference protocol (/v2) "
                "for its raw tensors"
            )
        if not self.class_names:
            raise TaskNotServed("the model's class names are unknown")

    def input_size(self, requested: tuple[int, int] | None) -> tuple[int, int]:
        """The size to letterbox to: the graph's own when it is fixed, else `requested`
        (rounded up to a multiple of 32, as Ultralytics' `check_imgsz` does) or the
        trained size."""
        if requested is None:
            return self.imgsz
        if self.fixed_size:
            if requested != self.imgsz:
                raise InvalidParameter(
                    f"this model takes {self.imgsz[0]}x{self.imgsz[1]} images only; "
                    f"imgsz {requested[0]}x{requested[1]} cannot be served"
                )
            return self.imgsz
        height, width = (-(-side // 32) * 32 for side in requested)
        return (height, width)


def onnx_metadata(session: Any) -> dict[str, str]:
    """The `metadata_props` of a loaded ONNX Runtime session (empty when it has none)."""
    try:
        return dict(session.get_modelmeta().custom_metadata_map)
    except Exception:  # a session without metadata support: nothing to fall back on
        return {}


def _literal(value: str | None) -> Any:
    if not value:
        return None
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return None


def _names(value: str | None) -> list[str]:
    parsed = _literal(value)
    if isinstance(parsed, dict):
        return [str(parsed[key]) for key in sorted(parsed)]
    if isinstance(parsed, list):
        return [str(name) for name in parsed]
    return []


def _pair(value: Any) -> tuple[int, int] | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return (value, value)
    if (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
    ):
        return (int(value[0]), int(value[1]))
    return None


@dataclass(frozen=True)
class ImageContext:
    """What undoes one image's preprocessing: its name and size, and its letterbox (None for
    classification, which crops)."""

    name: str
    width: int
    height: int
    letterboxed: Letterboxed | None


def preprocess(
    images: Sequence[Array],
    card: ModelCard,
    imgsz: tuple[int, int] | None = None,
    *,
    names: Sequence[str] | None = None,
) -> tuple[Array, list[ImageContext]]:
    """HxWx3 RGB uint8 images as one NCHW float32 batch for `card`'s model, with each image's
    context for `postprocess`."""
    card.check_served()
    size = card.input_size(imgsz)
    tensors: list[Array] = []
    contexts: list[ImageContext] = []
    for index, image in enumerate(images):
        name = names[index] if names is not None else f"image-{index}"
        height, width = image.shape[:2]
        if card.task == "classification":
            tensors.append(classification_crop(image, size[0]))
            contexts.append(ImageContext(name, width, height, None))
        else:
            boxed = letterbox(image, size)
            tensors.append(boxed.image)
            contexts.append(ImageContext(name, width, height, boxed))
    return to_tensor(tensors), contexts


def postprocess(
    outputs: Sequence[Array],
    contexts: Sequence[ImageContext],
    card: ModelCard,
    *,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    inference_ms: float | None = None,
) -> list[ImageResult]:
    """The model's outputs for a batch (in signature order, batch first) as one result per
    image: NMS, back-mapping, masks and keypoints, or the top classes."""
    card.check_served()
    results: list[ImageResult] = []
    for index, context in enumerate(contexts):
        if card.task == "classification":
            results.append(
                classification_result(
                    outputs[0][index],
                    card.class_names,
                    image=context.name,
                    width=context.width,
                    height=context.height,
                    inference_ms=inference_ms,
                )
            )
            continue
        assert context.letterboxed is not None  # every detection task letterboxes
        found = decode_detections(
            outputs[0][index],
            num_classes=len(card.class_names),
            conf=conf,
            iou=iou,
            max_det=max_det,
        )
        protos = None
        if card.task == "segmentation":
            protos = next((out[index] for out in outputs[1:] if out.ndim == 4), None)
            if protos is None:
                raise TaskNotServed("a segmentation model must output mask prototypes")
        results.append(
            detection_result(
                found,
                context.letterboxed,
                card.class_names,
                image=context.name,
                task=card.task,
                keypoint_shape=card.kpt_shape if card.task == "pose" else None,
                protos=protos,
                inference_ms=inference_ms,
            )
        )
    return results


__all__ = [
    "SERVED_TASKS",
    "ImageContext",
    "ModelCard",
    "onnx_metadata",
    "postprocess",
    "preprocess",
]
