"""Instance masks of YOLO segmentation models, in numpy, as Ultralytics' `process_mask` and
`masks2segments` make them (no OpenCV):

    masks = decode_masks(found.extra[:, :32], protos[0], found.boxes, (640, 640))
    polygon = largest_outline(masks[i])      # [[x, y], ...] in the letterboxed input

Each mask is its coefficients times the prototypes, upsampled bilinearly (half-pixel centres)
to the input size, thresholded at 0 (a logit, so probability 0.5) and cropped to its box. The
polygon is the outer boundary of the mask's largest connected region (8-connected), traced
pixel by pixel and stripped of points along straight runs as OpenCV's CHAIN_APPROX_SIMPLE does.
Ultralytics keeps the contour with the most points; we keep the largest region's, which is the
same one for any mask that is not made of scattered specks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

Array = np.ndarray[Any, Any]

# Clockwise from north, as (row, column) steps.
_NEIGHBOURS = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))


def _grid(source: int, target: int) -> tuple[Array, Array, Array]:
    position = np.clip((np.arange(target) + 0.5) * (source / target) - 0.5, 0, source - 1)
    low = np.floor(position).astype(np.intp)
    return low, np.minimum(low + 1, source - 1), (position - low).astype(np.float32)


def decode_masks(
    coefficients: Array, protos: Array, boxes: Array, input_shape: tuple[int, int]
) -> Array:
    """Boolean masks `[n, H, W]` in the input's coordinates from `coefficients` `[n, c]`,
    `protos` `[c, mh, mw]` and xyxy `boxes` `[n, 4]` in input pixels."""
    height, width = input_shape
    channels, mh, mw = protos.shape
    masks = np.zeros((len(coefficients), height, width), dtype=bool)
    if not len(coefficients):
        return masks
    logits = (coefficients.astype(np.float32) @ protos.reshape(channels, -1)).reshape(-1, mh, mw)
    rows, cols = _grid(mh, height), _grid(mw, width)
    for index, (x1, y1, x2, y2) in enumerate(boxes):
        # Only the pixels inside the box are computed: the crop keeps nothing else. A pixel is
        # inside when its index is >= the low edge and < the high edge (Ultralytics' crop_mask).
        r0, r1 = max(0, int(np.ceil(y1))), min(height, int(np.ceil(y2)))
        c0, c1 = max(0, int(np.ceil(x1))), min(width, int(np.ceil(x2)))
        if r0 >= r1 or c0 >= c1:
            continue
        y_low, y_high, y_w = (part[r0:r1] for part in rows)
        x_low, x_high, x_w = (part[c0:c1] for part in cols)
        plane = logits[index]
        top = plane[y_low][:, x_low] * (1 - x_w) + plane[y_low][:, x_high] * x_w
        bottom = plane[y_high][:, x_low] * (1 - x_w) + plane[y_high][:, x_high] * x_w
        value = top * (1 - y_w[:, None]) + bottom * y_w[:, None]
        masks[index, r0:r1, c0:c1] = value > 0
    return masks


def _largest_region(mask: Array) -> Array:
    """The largest 8-connected region of `mask`, found by flooding each region in turn with
    vectorised dilations (a region costs one pass per step of its longest path)."""
    remaining = mask.copy()
    best = np.zeros_like(mask)
    best_size = 0
    while remaining.sum() > best_size:
        seed = np.unravel_index(np.argmax(remaining), remaining.shape)
        region = np.zeros_like(mask)
        region[seed] = True
        while True:
            grown = region.copy()
            grown[1:] |= region[:-1]
            grown[:-1] |= region[1:]
            grown[:, 1:] |= grown[:, :-1].copy()
            grown[:, :-1] |= grown[:, 1:].copy()
            grown &= remaining
            if (grown == region).all():
                break
            region = grown
        size = int(region.sum())
        if size > best_size:
            best, best_size = region, size
        remaining &= ~region
    return best


def largest_outline(mask: Array) -> list[list[float]]:
    """The outer boundary of `mask`'s largest region as `[[x, y], ...]` pixel coordinates,
    clockwise, corners only; [] for an empty mask. A region of one pixel (or one line of
    pixels) gives its pixels' corners, so the polygon always has three points or more."""
    if not mask.any():
        return []
    region = np.pad(_largest_region(mask), 1)
    rows, cols = np.nonzero(region)
    start = (int(rows[0]), int(cols[0]))  # topmost, then leftmost: its west is background
    points = [start]
    current, backtrack = start, 6  # came from the west
    first_move: tuple[tuple[int, int], int] | None = None
    for _ in range(4 * region.size):
        for turn in range(1, 8):
            direction = (backtrack + turn) % 8
            step = _NEIGHBOURS[direction]
            candidate = (current[0] + step[0], current[1] + step[1])
            if region[candidate]:
                # The next search starts at the last background cell seen, as seen from the
                # new pixel: two steps back round for a straight move, three for a diagonal.
                backtrack = (direction + (6 if direction % 2 == 0 else 5)) % 8
                current = candidate
                break
        else:
            break  # a lone pixel
        # Done when a move repeats the first one (Jacob's criterion: thin parts are walked
        # along both sides, so passing the start is not enough).
        if first_move is None:
            first_move = (current, backtrack)
        elif (current, backtrack) == first_move:
            break
        points.append(current)
    if len(points) > 1 and points[-1] == start:
        points.pop()
    corners = _corners(points)
    outline = [[float(c - 1), float(r - 1)] for r, c in corners]
    if len(outline) < 3:
        ys, xs = zip(*[(r - 1, c - 1) for r, c in points], strict=True)
        x0, y0, x1, y1 = min(xs), min(ys), max(xs) + 1, max(ys) + 1
        outline = [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]
    return outline


def _corners(points: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`points` without those in the middle of a straight run (CHAIN_APPROX_SIMPLE)."""
    if len(points) < 3:
        return points
    kept = []
    count = len(points)
    for index, point in enumerate(points):
        before, after = points[index - 1], points[(index + 1) % count]
        incoming = (point[0] - before[0], point[1] - before[1])
        outgoing = (after[0] - point[0], after[1] - point[1])
        if incoming != outgoing:
            kept.append(point)
    return kept


__all__ = ["decode_masks", "largest_outline"]
