"""COCO annotation objects: boxes, polygons, RLE masks and keypoints as `RawObject`s."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from lensforge.formats.geometry import Where, polygon_bbox, tolerance
from lensforge.formats.model import Task
from lensforge.formats.readers._common import RawObject, ReadContext
from lensforge.formats.rle import RLEError, decode, rle_to_polygons


def numbers(value: Any) -> list[float] | None:
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
        return None
    return [float(v) for v in value]


class ObjectParser:
    def __init__(self, ctx: ReadContext, task: Task, num_keypoints: int) -> None:
        self.ctx = ctx
        self.task = task
        self.num_keypoints = num_keypoints

    def _bad(self, code: str, where: Where, message: str) -> None:
        self.ctx.report.add(
            code,
            where.located(message),
            file=where.file,
            line=where.line,
            object_index=where.object_index,
            **where.extra(),
        )

    def parse(
        self, where: Where, ann: dict[str, Any], class_id: int, category_keypoints: int
    ) -> RawObject | None:
        bbox: tuple[float, ...] | None = None
        raw_box = ann.get("bbox")
        if raw_box not in (None, []):
            nums = numbers(raw_box)
            if nums is None or len(nums) != 4:
                self._bad("invalid_structure", where, "bbox must be [x, y, width, height]")
                return None
            bbox = tuple(nums)
        polygons, rle = self._segmentation(where, ann.get("segmentation"))
        if polygons is None:
            return None
        keypoints: list[tuple[float, float, float]] = []
        if self.task is Task.POSE:
            got = self._keypoints(where, ann.get("keypoints"), category_keypoints)
            if got is None:
                return None
            keypoints = got
        iscrowd = bool(ann.get("iscrowd") or 0)
        if rle is not None:
            template = RawObject(where, class_id, bbox, [], keypoints, iscrowd)
            return RawObject(where, class_id, bbox, resolve=self._rle_resolver(rle, template))
        if bbox is None and not polygons:
            self._bad(
                "invalid_structure", where, "the annotation has neither bbox nor segmentation"
            )
            return None
        if self.task is not Task.SEGMENTATION:
            if bbox is None:
                bbox = polygon_bbox(polygons)
            polygons = []
        return RawObject(where, class_id, bbox, polygons, keypoints, iscrowd)

    def _segmentation(
        self, where: Where, seg: Any
    ) -> tuple[list[list[float]] | None, dict[str, Any] | None]:
        if seg in (None, [], {}):
            return [], None
        if isinstance(seg, dict):
            return [], seg
        flat = numbers(seg)
        if flat is not None:  # some tools write one polygon without the outer list
            seg = [seg]
        if isinstance(seg, list):
            polygons = [numbers(p) for p in seg]
            if all(p is not None for p in polygons):
                out = [p for p in polygons if p is not None]
                bad = [p for p in out if len(p) < 6 or len(p) % 2]
                if bad:
                    self._bad(
                        "invalid_polygon",
                        where,
                        f"polygon with {len(bad[0])} coordinates: it needs an even count and "
                        "at least 3 points",
                    )
                    return None, None
                return out, None
        self._bad("invalid_structure", where, "segmentation must be polygons or an RLE object")
        return None, None

    def _keypoints(
        self, where: Where, raw: Any, expected: int
    ) -> list[tuple[float, float, float]] | None:
        if raw in (None, []):
            return [(0.0, 0.0, 0.0)] * self.num_keypoints
        nums = numbers(raw)
        if nums is None or len(nums) % 3:
            self._bad(
                "keypoint_count_mismatch",
                where,
                "keypoints must be a flat list of x, y, visibility triplets",
            )
            return None
        points = [(nums[i], nums[i + 1], nums[i + 2]) for i in range(0, len(nums), 3)]
        if len(points) == expected < self.num_keypoints:
            points += [(0.0, 0.0, 0.0)] * (self.num_keypoints - expected)
        return points

    def _rle_resolver(
        self, rle: dict[str, Any], template: RawObject
    ) -> Callable[[tuple[int, int]], RawObject | None]:
        """Checked when the image size is known: decode, compare, trace the outlines."""
        where, bbox = template.where, template.bbox

        def resolve(size: tuple[int, int]) -> RawObject | None:
            dims, counts = rle.get("size"), rle.get("counts")
            if (
                not isinstance(dims, list)
                or len(dims) != 2
                or not all(isinstance(v, int) for v in dims)
                or not isinstance(counts, list | str)
            ):
                self._bad("invalid_rle", where, "RLE needs size [height, width] and counts")
                return None
            h, w = dims
            if (w, h) != size:
                self._bad(
                    "invalid_rle",
                    where,
                    f"the mask is {w}x{h} but the image is {size[0]}x{size[1]}",
                )
                return None
            try:
                mask = decode(counts, h, w)
            except RLEError as exc:
                self._bad("invalid_rle", where, f"cannot decode the RLE mask: {exc}")
                return None
            if mask.area == 0:
                self._bad("empty_mask", where, "the mask has no pixels; the object is dropped")
                return None
            if self.task is Task.SEGMENTATION:
                return replace(template, polygons=rle_to_polygons(mask))
            extent = mask.bbox()
            tol = max(tolerance(w), tolerance(h))
            if bbox is not None and any(
                abs(a - b) > tol for a, b in zip(bbox, extent, strict=True)
            ):
                self._bad(
                    "bbox_mismatch",
                    where,
                    f"declared box {list(bbox)} differs from the mask extent {list(extent)}; "
                    "the extent is used",
                )
            return replace(template, bbox=extent)

        return resolve
