"""Pre- and post-processing of the platform's vision models, in numpy, matching Ultralytics'.

Written once, for the serving runtime and for the edge package (no OpenCV, no torch):

    letterboxed = letterbox(rgb, (640, 640))              # what Ultralytics' LetterBox does
    batch = to_tensor([letterboxed.image])               # NCHW float32 in [0, 1]
    (raw,) = model.run({"images": batch}).values()       # [N, 4 + nc, anchors]
    found = decode_detections(raw[0], conf=0.25, iou=0.7)
    result = detection_result(found, letterboxed, classes, image="a.jpg", task="detection")

Detections: Ultralytics' `non_max_suppression` (best class per anchor, score above `conf`,
class-wise NMS by offsetting each class's boxes, at most `max_det`), then `scale_boxes` back to
the original image. Pose outputs carry `nk * 3` keypoint values after the class scores, mapped
back the same way; segmentation outputs carry mask coefficients there, turned into outlines by
`lensforge.serving.masks`. Classification: `classify_transforms` (shorter side to the size,
centre crop) and the top-k of the probabilities the exported model already outputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lensforge.inference.results import (
    MAX_CLASSIFICATIONS,
    Classification,
    Detection,
    ImageResult,
)
from lensforge.serving.masks import decode_masks, largest_outline

PAD_VALUE = 114  # Ultralytics' grey border
MAX_WH = 7680  # Ultralytics' class offset for class-wise NMS: larger than any image side
MAX_NMS = 30000  # boxes kept, by score, before NMS (Ultralytics' max_nms)

Array = np.ndarray[Any, Any]


@dataclass(frozen=True)
class Letterboxed:
    """A letterboxed image and what undoes it: the original `(height, width)`, the scale `ratio`
    and the padding added on the left and top."""

    image: Array
    original_shape: tuple[int, int]
    ratio: float
    pad_left: int
    pad_top: int


def resize_bilinear(image: Array, width: int, height: int) -> Array:
    """OpenCV's `INTER_LINEAR` (half-pixel centres, no antialiasing) for HxWxC uint8 images,
    which is what Ultralytics' LetterBox uses; Pillow's BILINEAR antialiases when shrinking and
    would move the boxes."""
    src_h, src_w = image.shape[:2]
    if (src_h, src_w) == (height, width):
        return image
    ys, y_weight = _sample_grid(src_h, height)
    xs, x_weight = _sample_grid(src_w, width)
    pixels = image.astype(np.float32)
    # Broadcast over an HxWxC image: row weights as (h, 1, 1), column weights as (1, w, 1).
    y_weight, x_weight = y_weight[:, None, None], x_weight[None, :, None]
    top = pixels[ys[0]][:, xs[0]] * (1 - x_weight) + pixels[ys[0]][:, xs[1]] * x_weight
    bottom = pixels[ys[1]][:, xs[0]] * (1 - x_weight) + pixels[ys[1]][:, xs[1]] * x_weight
    blended = top * (1 - y_weight) + bottom * y_weight
    resized: Array = np.clip(np.rint(blended), 0, 255).astype(np.uint8)
    return resized


def _sample_grid(source: int, target: int) -> tuple[tuple[Array, Array], Array]:
    scale = source / target
    position = (np.arange(target, dtype=np.float64) + 0.5) * scale - 0.5
    position = np.clip(position, 0, source - 1)
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, source - 1)
    return (low, high), (position - low).astype(np.float32)


def letterbox(
    image: Array, size: tuple[int, int], *, scaleup: bool = True, pad_value: int = PAD_VALUE
) -> Letterboxed:
    """`image` (HxWx3 uint8) scaled to fit `size` (height, width) keeping its aspect ratio and
    padded evenly with grey: Ultralytics' `LetterBox(auto=False, center=True)`."""
    height, width = image.shape[:2]
    new_h, new_w = size
    ratio = min(new_h / height, new_w / width)
    if not scaleup:
        ratio = min(ratio, 1.0)
    # At least one pixel each way, so a 1x3000 strip stays an image (as Ultralytics does).
    unpad_w, unpad_h = max(round(width * ratio), 1), max(round(height * ratio), 1)
    dw, dh = (new_w - unpad_w) / 2, (new_h - unpad_h) / 2
    resized = resize_bilinear(image, unpad_w, unpad_h)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    padded = np.full(
        (unpad_h + top + bottom, unpad_w + left + right, image.shape[2]), pad_value, np.uint8
    )
    padded[top : top + unpad_h, left : left + unpad_w] = resized
    return Letterboxed(padded, (height, width), ratio, left, top)


def to_tensor(images: Sequence[Array]) -> Array:
    """HxWx3 RGB uint8 images of one size as an NCHW float32 batch in [0, 1]."""
    batch = np.stack(images).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(batch, dtype=np.float32) / np.float32(255.0)


def classification_crop(image: Array, size: int) -> Array:
    """Ultralytics' `classify_transforms` for prediction (torchvision's `Resize(size)` and
    `CenterCrop(size)` on a PIL image): the shorter side scaled to `size` and the longer one
    to `int(size * long / short)` (truncated, as torchvision does), Pillow's antialiased
    bilinear, then the centre square."""
    from PIL import Image

    height, width = image.shape[:2]
    if width <= height:
        new_w, new_h = size, int(size * height / width)
    else:
        new_w, new_h = int(size * width / height), size
    resized = np.asarray(Image.fromarray(image).resize((new_w, new_h), Image.Resampling.BILINEAR))
    top = round((new_h - size) / 2.0)
    left = round((new_w - size) / 2.0)
    return resized[top : top + size, left : left + size]


# --- detections -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """Detections of one image in the model's input coordinates: `boxes` [n, 4] xyxy, `scores`
    [n], `classes` [n], `extra` [n, k] (pose keypoints, mask coefficients), best first."""

    boxes: Array
    scores: Array
    classes: Array
    extra: Array


def xywh_to_xyxy(boxes: Array) -> Array:
    out = np.empty_like(boxes)
    half_w, half_h = boxes[:, 2] / 2, boxes[:, 3] / 2
    out[:, 0] = boxes[:, 0] - half_w
    out[:, 1] = boxes[:, 1] - half_h
    out[:, 2] = boxes[:, 0] + half_w
    out[:, 3] = boxes[:, 1] + half_h
    return out


def nms(boxes: Array, scores: Array, iou: float) -> Array:
    """Indices of the boxes kept by greedy non-maximum suppression, highest score first: a box
    is dropped when its IoU with a kept one is above `iou` (torchvision's rule)."""
    order = np.argsort(-scores, kind="stable")
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        x1 = np.maximum(boxes[best, 0], boxes[rest, 0])
        y1 = np.maximum(boxes[best, 1], boxes[rest, 1])
        x2 = np.minimum(boxes[best, 2], boxes[rest, 2])
        y2 = np.minimum(boxes[best, 3], boxes[rest, 3])
        inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
        union = areas[best] + areas[rest] - inter
        overlap = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
        order = rest[overlap <= iou]
    return np.asarray(keep, dtype=np.intp)


def decode_detections(
    prediction: Array,
    *,
    num_classes: int | None = None,
    conf: float = 0.25,
    iou: float = 0.7,
    max_det: int = 300,
    agnostic: bool = False,
) -> Found:
    """One image's raw YOLO output, `[4 + nc + extra, anchors]` (xywh, class scores, then pose
    or mask values), as NMS-filtered detections. `num_classes` defaults to every row after the
    box (a plain detector)."""
    if prediction.ndim != 2 or prediction.shape[0] < 5:
        raise ValueError(f"expected a [4 + classes, anchors] output, got {prediction.shape}")
    nc = prediction.shape[0] - 4 if num_classes is None else num_classes
    rows = prediction.T.astype(np.float32, copy=False)  # [anchors, 4 + nc + extra]
    class_scores = rows[:, 4 : 4 + nc]
    best = class_scores.argmax(axis=1)
    score = class_scores[np.arange(len(rows)), best]
    chosen = score > conf
    rows, best, score = rows[chosen], best[chosen], score[chosen]
    if len(rows) > MAX_NMS:
        top = np.argsort(-score, kind="stable")[:MAX_NMS]
        rows, best, score = rows[top], best[top], score[top]
    boxes = xywh_to_xyxy(rows[:, :4])
    offset = 0 if agnostic else MAX_WH
    keep = nms(boxes + (best[:, None] * offset).astype(np.float32), score, iou)[:max_det]
    return Found(boxes[keep], score[keep], best[keep], rows[keep, 4 + nc :])


def scale_boxes(boxes: Array, letterboxed: Letterboxed) -> Array:
    """xyxy boxes from the letterboxed input back onto the original image, clipped to it:
    Ultralytics' `scale_boxes` (gains and padding recomputed from the two shapes as it does)."""
    height, width = letterboxed.original_shape
    gain_x, gain_y, pad_x, pad_y = _gains_and_pad(letterboxed)
    out = boxes.astype(np.float64, copy=True)
    out[:, [0, 2]] = np.clip((out[:, [0, 2]] - pad_x) / gain_x, 0, width)
    out[:, [1, 3]] = np.clip((out[:, [1, 3]] - pad_y) / gain_y, 0, height)
    return out


def scale_keypoints(keypoints: Array, letterboxed: Letterboxed) -> Array:
    """`[n, k, 3]` keypoints (x, y, visibility) back onto the original image, clipped to it."""
    height, width = letterboxed.original_shape
    gain_x, gain_y, pad_x, pad_y = _gains_and_pad(letterboxed)
    out = keypoints.astype(np.float64, copy=True)
    out[..., 0] = np.clip((out[..., 0] - pad_x) / gain_x, 0, width)
    out[..., 1] = np.clip((out[..., 1] - pad_y) / gain_y, 0, height)
    return out


def _gains_and_pad(letterboxed: Letterboxed) -> tuple[float, float, int, int]:
    # Per axis, from the rounded resized sides: the exact inverse of `letterbox`.
    input_h, input_w = letterboxed.image.shape[:2]
    height, width = letterboxed.original_shape
    gain = min(input_h / height, input_w / width)
    new_h, new_w = max(round(height * gain), 1), max(round(width * gain), 1)
    pad_x = round((input_w - new_w) / 2 - 0.1)
    pad_y = round((input_h - new_h) / 2 - 0.1)
    return new_w / width, new_h / height, pad_x, pad_y


def detection_result(
    found: Found,
    letterboxed: Letterboxed,
    classes: Sequence[str],
    *,
    image: str,
    task: str = "detection",
    keypoint_shape: tuple[int, int] | None = None,
    protos: Array | None = None,
    inference_ms: float | None = None,
) -> ImageResult:
    """`found` as the platform's result for the original image. For pose, `keypoint_shape` is
    `(k, 3)` (or `(k, 2)` without visibility) and the extra values are the keypoints. For
    segmentation, `protos` is the image's `[c, mh, mw]` prototypes, the extra values the mask
    coefficients, and each detection gets its mask's outline as `polygon`; a detection whose
    mask is empty is left out, as Ultralytics does."""
    height, width = letterboxed.original_shape
    polygons: list[list[list[float]]] | None = None
    if protos is not None:
        found, polygons = _outlines(found, protos, letterboxed)
    boxes = scale_boxes(found.boxes, letterboxed)
    points = None
    if keypoint_shape is not None:
        count, dims = keypoint_shape
        raw = found.extra[:, : count * dims].reshape(len(found.extra), count, dims)
        if dims == 2:
            raw = np.concatenate([raw, np.ones((*raw.shape[:2], 1), raw.dtype)], axis=2)
        points = scale_keypoints(raw, letterboxed)
        points[..., 2] = np.clip(points[..., 2], 0.0, 1.0)
    detections = [
        Detection(
            class_id=int(found.classes[i]),
            class_name=classes[int(found.classes[i])],
            score=_score(found.scores[i]),
            box=[float(v) for v in boxes[i]],
            keypoints=None if points is None else points[i].tolist(),
            polygon=None if polygons is None else polygons[i],
        )
        for i in range(len(boxes))
    ]
    return ImageResult(
        image=image,
        width=width,
        height=height,
        task=task,
        inference_ms=inference_ms,
        detections=detections,
    )


def _outlines(
    found: Found, protos: Array, letterboxed: Letterboxed
) -> tuple[Found, list[list[list[float]]]]:
    channels = protos.shape[0]
    masks = decode_masks(
        found.extra[:, :channels], protos, found.boxes, letterboxed.image.shape[:2]
    )
    kept, outlines = [], []
    for index, mask in enumerate(masks):
        outline = largest_outline(mask)
        if outline:
            kept.append(index)
            points = scale_keypoints(np.asarray(outline)[:, None, :], letterboxed)[:, 0, :]
            outlines.append(points.tolist())
    keep = np.asarray(kept, dtype=np.intp)
    return Found(
        found.boxes[keep], found.scores[keep], found.classes[keep], found.extra[keep]
    ), outlines


def _score(value: Any) -> float:
    return min(1.0, max(0.0, float(value)))


# --- classification ---------------------------------------------------------------------------


def classification_result(
    probabilities: Array,
    classes: Sequence[str],
    *,
    image: str,
    width: int,
    height: int,
    top_k: int = MAX_CLASSIFICATIONS,
    inference_ms: float | None = None,
) -> ImageResult:
    """The `top_k` classes of one image's probabilities (`[nc]`, already softmaxed by the
    exported model), highest first; ties keep the lower class id first."""
    probabilities = np.asarray(probabilities, dtype=np.float64).ravel()
    if not np.isclose(probabilities.sum(), 1.0, atol=1e-3) or probabilities.min() < 0:
        probabilities = _softmax(probabilities)  # logits: a model exported without softmax
    order = np.argsort(-probabilities, kind="stable")[: min(top_k, MAX_CLASSIFICATIONS)]
    return ImageResult(
        image=image,
        width=width,
        height=height,
        task="classification",
        inference_ms=inference_ms,
        classifications=[
            Classification(
                class_id=int(i), class_name=classes[int(i)], score=_score(probabilities[i])
            )
            for i in order
        ],
    )


def _softmax(logits: Array) -> Array:
    shifted = np.exp(logits - logits.max())
    result: Array = shifted / shifted.sum()
    return result


def input_size(shape: Sequence[int], default: int = 640) -> tuple[int, int]:
    """An NCHW input's (height, width), `default` for a dynamic dimension."""
    height, width = shape[-2], shape[-1]
    return (height if height > 0 else default, width if width > 0 else default)


__all__ = [
    "Found",
    "Letterboxed",
    "classification_crop",
    "classification_result",
    "decode_detections",
    "detection_result",
    "input_size",
    "letterbox",
    "nms",
    "resize_bilinear",
    "scale_boxes",
    "scale_keypoints",
    "to_tensor",
    "xywh_to_xyxy",
]
