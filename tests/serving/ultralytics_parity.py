"""Run in the Ultralytics trainer's environment (it has torch, ultralytics and OpenCV, and links
lensforge): our pre/post-processing next to Ultralytics' own functions, on the same inputs.
Prints one JSON object of differences; `test_ultralytics_parity.py` judges them.

    python ultralytics_parity.py IMAGE [IMAGE ...]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from ultralytics.data.augment import LetterBox, classify_transforms
from ultralytics.utils.nms import non_max_suppression
from ultralytics.utils.ops import masks2segments, process_mask
from ultralytics.utils.ops import scale_boxes as ultralytics_scale_boxes

from lensforge.serving.images import decode_image
from lensforge.serving.masks import decode_masks, largest_outline
from lensforge.serving.vision import (
    classification_crop,
    decode_detections,
    letterbox,
    scale_boxes,
    to_tensor,
)

SIZES = [(640, 640), (320, 320), (256, 416)]


def letterbox_differences(paths: list[Path]) -> dict[str, float]:
    worst, means, geometry = 0, [], 0
    for path in paths:
        theirs_bgr = cv2.imread(str(path))
        ours_rgb = decode_image(path.read_bytes())
        # The same decoded pixels on both sides, so only the letterbox is compared.
        for size in SIZES:
            theirs = LetterBox(new_shape=size, auto=False)(image=theirs_bgr[..., ::-1].copy())
            ours = letterbox(ours_rgb, size).image
            geometry += int(theirs.shape != ours.shape)
            diff = np.abs(theirs.astype(int) - ours.astype(int))
            worst, means = max(worst, int(diff.max())), [*means, float(diff.mean())]
    return {"shape_mismatches": geometry, "max_pixel_diff": worst, "mean_pixel_diff": max(means)}


def classification_differences(paths: list[Path]) -> dict[str, float]:
    worst = 0.0
    for path in paths:
        rgb = decode_image(path.read_bytes())
        for size in (224, 96):
            theirs = classify_transforms(size)(Image.fromarray(rgb)).numpy()
            ours = to_tensor([classification_crop(rgb, size)])[0]
            if theirs.shape != ours.shape:
                return {"max_value_diff": float("inf")}
            worst = max(worst, float(np.abs(theirs - ours).max()))
    return {"max_value_diff": worst}


def decode_differences(seed: int, classes: int, anchors: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 640, (2, anchors))
    wh = rng.uniform(4, 200, (2, anchors))
    scores = (
        rng.uniform(0, 1, (classes, anchors)) ** 8
    )  # mostly low, some high: tens of boxes, many overlapping
    raw = np.concatenate([xy, wh, scores]).astype(np.float32)
    (theirs,) = non_max_suppression(torch.from_numpy(raw[None].copy()), 0.25, 0.7, max_det=300)
    theirs_np = theirs.numpy()
    found = decode_detections(raw, conf=0.25, iou=0.7)
    ours = np.concatenate([found.boxes, found.scores[:, None], found.classes[:, None]], axis=1)
    same_count = len(ours) == len(theirs_np)
    # Compared as sets (row order only differs between equal scores).
    order_t = np.lexsort(theirs_np.T[::-1]) if len(theirs_np) else []
    order_o = np.lexsort(ours.T[::-1]) if len(ours) else []
    diff = (
        float(np.abs(ours[order_o] - theirs_np[order_t]).max())
        if same_count and len(ours)
        else (0.0 if same_count else float("inf"))
    )
    # Back onto an original image of another aspect ratio.
    original = np.zeros((480, 853, 3), np.uint8)
    boxed = letterbox(original, (640, 640))
    back_ours = scale_boxes(found.boxes, boxed)
    back_theirs = ultralytics_scale_boxes(
        (640, 640), torch.from_numpy(found.boxes.copy()), (480, 853)
    ).numpy()
    return {
        "detections": len(theirs_np),
        "count_mismatch": int(not same_count),
        "max_detection_diff": diff,
        "max_scaled_box_diff": float(np.abs(back_ours - back_theirs).max()) if len(ours) else 0.0,
    }


def mask_differences(seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    # Smooth prototypes (blobs), as real ones are, at a quarter of a 160x160 input.
    yy, xx = np.mgrid[0:40, 0:40]
    protos = np.stack(
        [
            np.sin(xx / rng.uniform(2, 8) + rng.uniform(0, 6))
            * np.cos(yy / rng.uniform(2, 8) + rng.uniform(0, 6))
            for _ in range(8)
        ]
    ).astype(np.float32)
    coefficients = rng.normal(0, 1, (12, 8)).astype(np.float32)
    corners = rng.uniform(0, 150, (12, 2))
    boxes = np.concatenate([corners, corners + rng.uniform(5, 60, (12, 2))], 1).astype(np.float32)
    theirs = (
        process_mask(
            torch.from_numpy(protos),
            torch.from_numpy(coefficients),
            torch.from_numpy(boxes),
            (160, 160),
            upsample=True,
        )
        .numpy()
        .astype(bool)
    )
    ours = decode_masks(coefficients, protos, boxes, (160, 160))
    outlines_differ = 0
    for mine, their_segment in zip(ours, masks2segments(theirs, strategy="largest"), strict=True):
        outline = largest_outline(mine)
        their_points = {tuple(map(int, point)) for point in their_segment}
        outlines_differ += int({tuple(map(int, p)) for p in outline} != their_points)
    return {
        "mask_pixels_differing": int((theirs != ours).sum()),
        "mask_pixels": int(theirs.sum()),
        "outlines_differing": outlines_differ,
    }


def main() -> None:
    paths = [Path(arg) for arg in sys.argv[1:]]
    report: dict[str, object] = {"letterbox": letterbox_differences(paths)}
    report["decode"] = [decode_differences(seed, 3, 2100) for seed in range(5)]
    report["classification"] = classification_differences(paths)
    report["masks"] = [mask_differences(seed) for seed in range(3)]
    print(json.dumps(report))


if __name__ == "__main__":
    main()
