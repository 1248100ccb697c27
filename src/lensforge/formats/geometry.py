"""Checking raw geometry against its image and turning it into an `Annotation`.

Every reader converts its coordinates to absolute pixels and hands them to `AnnotationBuilder`,
so the rules are the same for all formats:

- any NaN/inf -> `non_finite`; a box with width or height <= 0 -> `degenerate_box`;
- a point more than the tolerance outside the image -> `out_of_bounds`; the tolerance is
  max(1 px, 1% of the image side). Points within it are clamped onto the image edge;
- boxes under 1 px -> `tiny_box` (warning);
- segmentation: the box is always the bounding box of the polygons (a declared box that differs
  by more than the tolerance gives a `bbox_mismatch` warning); an object with only a box
  becomes its rectangle (`box_as_polygon` warning);
- pose: keypoint count must match; visibility 0/1/2; points with v=0 are stored as (0, 0, 0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lensforge.formats.model import Annotation, Task
from lensforge.formats.validation import JsonScalar, ValidationReport

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Where:
    """Where an object came from, for issues."""

    file: str
    line: int | None = None
    object_index: int | None = None
    note: str = ""
    """Appended to out-of-bounds messages (e.g. a hint about YOLO normalisation)."""
    image: str | None = None
    """The image the object is drawn on, where `file` is not named after it (one COCO or
    native JSON file for many images): issues name it, so the user knows what to fix."""

    def located(self, message: str) -> str:
        return f"image {self.image}: {message}" if self.image else message

    def extra(self) -> dict[str, JsonScalar]:
        return {"image": self.image} if self.image else {}


def tolerance(side: int) -> float:
    return max(1.0, 0.01 * side)


def polygon_bbox(polygons: Sequence[Sequence[float]]) -> Box:
    xs = [p[i] for p in polygons for i in range(0, len(p), 2)]
    ys = [p[i] for p in polygons for i in range(1, len(p), 2)]
    x0, y0 = min(xs), min(ys)
    return (x0, y0, max(xs) - x0, max(ys) - y0)


def polygon_area(poly: Sequence[float]) -> float:
    """Shoelace area of a flat polygon."""
    n = len(poly) // 2
    total = 0.0
    for i in range(n):
        x1, y1 = poly[2 * i], poly[2 * i + 1]
        x2, y2 = poly[(2 * i + 2) % (2 * n)], poly[(2 * i + 3) % (2 * n)]
        total += x1 * y2 - x2 * y1
    return abs(total) / 2.0


def box_polygon(box: Box) -> list[float]:
    x, y, w, h = box
    return [x, y, x + w, y, x + w, y + h, x, y + h]


def merge_polygons(polygons: Sequence[Sequence[float]]) -> list[float]:
    """Join an object's parts into one outline with zero-width bridges (what Ultralytics'
    COCO converter does, since a YOLO row holds one polygon). Each later part is entered at its
    vertex nearest to the first part's anchor vertex and left the same way back."""
    if len(polygons) == 1:
        return list(polygons[0])
    first = list(polygons[0])
    ax, ay = first[0], first[1]
    out = [*first, ax, ay]
    for part in polygons[1:]:
        n = len(part) // 2
        j = min(range(n), key=lambda k: (part[2 * k] - ax) ** 2 + (part[2 * k + 1] - ay) ** 2)
        rotated = list(part[2 * j :]) + list(part[: 2 * j])
        out += rotated + rotated[:2] + [ax, ay]
    return out[:-2]


class AnnotationBuilder:
    """Validates raw objects of one dataset against their images and reports what is wrong."""

    def __init__(
        self,
        report: ValidationReport,
        task: Task,
        num_classes: int,
        num_keypoints: int = 0,
    ) -> None:
        self.report = report
        self.task = task
        self.num_classes = num_classes
        self.num_keypoints = num_keypoints

    def _issue(self, code: str, where: Where, message: str, **extra: JsonScalar) -> None:
        self.report.add(
            code,
            where.located(message),
            file=where.file,
            line=where.line,
            object_index=where.object_index,
            **where.extra(),
            **extra,
        )

    def build(
        self,
        where: Where,
        size: tuple[int, int],
        *,
        class_id: int,
        bbox: Sequence[float] | None,
        polygons: Sequence[Sequence[float]] = (),
        keypoints: Sequence[tuple[float, float, float]] = (),
        iscrowd: bool = False,
    ) -> Annotation | None:
        """An `Annotation`, or None after reporting why the object is unusable."""
        if not 0 <= class_id < self.num_classes:
            self._issue(
                "class_id_out_of_range",
                where,
                f"class id {class_id} is not in 0..{self.num_classes - 1}",
                class_id=class_id,
            )
            return None
        numbers = [*(bbox or ()), *(c for p in polygons for c in p)]
        numbers += [c for kp in keypoints for c in kp]
        if not all(math.isfinite(v) for v in numbers):
            self._issue("non_finite", where, "a coordinate is NaN or infinite")
            return None
        shapes: list[list[float]] = []
        if self.task is Task.SEGMENTATION:
            for poly in polygons:
                if len(poly) < 6 or len(poly) % 2:
                    self._issue(
                        "invalid_polygon",
                        where,
                        f"polygon with {len(poly)} coordinates: it needs an even count and "
                        "at least 3 points",
                    )
                    return None
                clamped = self._clamp_points(where, size, poly)
                if clamped is None:
                    return None
                shapes.append(clamped)
        box = self._box(where, size, bbox, shapes)
        if box is None:
            return None
        if self.task is Task.SEGMENTATION and not shapes:
            self._issue("box_as_polygon", where, "no polygon: the box's rectangle is used")
            shapes = [box_polygon(box)]
        points: list[tuple[float, float, int]] = []
        if self.task is Task.POSE:
            got = self._keypoints(where, size, keypoints)
            if got is None:
                return None
            points = got
        return Annotation(
            class_id=class_id, bbox=box, polygons=shapes, keypoints=points, iscrowd=iscrowd
        )

    def _box(
        self,
        where: Where,
        size: tuple[int, int],
        bbox: Sequence[float] | None,
        shapes: list[list[float]],
    ) -> Box | None:
        width, height = size
        if shapes:
            derived = polygon_bbox(shapes)
            if bbox is not None and len(bbox) == 4:
                tol = max(tolerance(width), tolerance(height))
                if any(abs(a - b) > tol for a, b in zip(bbox, derived, strict=True)):
                    self._issue(
                        "bbox_mismatch",
                        where,
                        f"declared box {_fmt(bbox)} differs from the polygon extent "
                        f"{_fmt(derived)}; the extent is used",
                    )
            if derived[2] <= 0 or derived[3] <= 0:
                self._issue("degenerate_box", where, "the polygon has no area (zero extent)")
                return None
            return derived
        if bbox is None or len(bbox) != 4:
            self._issue("invalid_structure", where, "the object has no box [x, y, w, h]")
            return None
        x, y, w, h = bbox
        if w <= 0 or h <= 0:
            self._issue(
                "degenerate_box", where, f"box {_fmt(bbox)} has zero or negative width/height"
            )
            return None
        corners = self._clamp_points(where, size, [x, y, x + w, y + h], what="box")
        if corners is None:
            return None
        x0, y0, x1, y1 = corners
        if x1 - x0 < 1 or y1 - y0 < 1:
            self._issue("tiny_box", where, f"box {_fmt(bbox)} is smaller than 1 px")
        return (x0, y0, x1 - x0, y1 - y0)

    def _clamp_points(
        self, where: Where, size: tuple[int, int], flat: Sequence[float], what: str = "polygon"
    ) -> list[float] | None:
        width, height = size
        tx, ty = tolerance(width), tolerance(height)
        out: list[float] = []
        for i in range(0, len(flat), 2):
            x, y = flat[i], flat[i + 1]
            if x < -tx or y < -ty or x > width + tx or y > height + ty:
                self._issue(
                    "out_of_bounds",
                    where,
                    f"{what} point ({x:g}, {y:g}) lies outside the {width}x{height} image"
                    + where.note,
                )
                return None
            out += [min(max(x, 0.0), float(width)), min(max(y, 0.0), float(height))]
        return out

    def _keypoints(
        self,
        where: Where,
        size: tuple[int, int],
        keypoints: Sequence[tuple[float, float, float]],
    ) -> list[tuple[float, float, int]] | None:
        if len(keypoints) != self.num_keypoints:
            self._issue(
                "keypoint_count_mismatch",
                where,
                f"{len(keypoints)} keypoints, expected {self.num_keypoints}",
                expected=self.num_keypoints,
                found=len(keypoints),
            )
            return None
        out: list[tuple[float, float, int]] = []
        for x, y, v in keypoints:
            if v not in (0, 1, 2):
                self._issue("invalid_keypoint", where, f"keypoint visibility {v:g} is not 0/1/2")
                return None
            if v == 0:
                out.append((0.0, 0.0, 0))
                continue
            clamped = self._clamp_points(where, size, [x, y], what="keypoint")
            if clamped is None:
                return None
            out.append((clamped[0], clamped[1], int(v)))
        return out


def _fmt(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{v:g}" for v in values) + "]"
