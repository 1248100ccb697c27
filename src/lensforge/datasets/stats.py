"""A version's statistics, computed once from its manifest when the version is created.

Versions are immutable, so the result is stored on the version (`DatasetVersion.stats`) and the
stats route only reads it. The shape is documented by `browse_schemas.VersionStats`; keys are
emitted in a fixed order so the stored JSON is byte-stable for equal manifests.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from lensforge.formats import SPLITS, DatasetManifest, Item, Task

# Objects per image, bucketed: single counts where most images are, ranges in the long tail.
OBJECT_COUNT_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0", 0, 0),
    ("1", 1, 1),
    ("2", 2, 2),
    ("3", 3, 3),
    ("4", 4, 4),
    ("5-9", 5, 9),
    ("10-19", 10, 19),
    ("20+", 20, None),
)
# Longest image side in pixels: the question users ask is "what input size fits my data".
LONGEST_SIDE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-256", 0, 256),
    ("257-512", 257, 512),
    ("513-1024", 513, 1024),
    ("1025-2048", 1025, 2048),
    ("2049-4096", 2049, 4096),
    ("4097+", 4097, None),
)
# COCO's object size thresholds: absolute box areas in pixels, as COCO's own evaluation uses.
SMALL_AREA = 32 * 32
MEDIUM_AREA = 96 * 96
UNASSIGNED = "unassigned"


def compute_stats(manifest: DatasetManifest) -> dict[str, Any]:
    """Counts and distributions of a manifest, as plain JSON data with a stable key order."""
    classification = manifest.task is Task.CLASSIFICATION
    n_classes = len(manifest.classes)
    class_counts = [0] * n_classes
    class_images = [0] * n_classes
    splits: dict[str, _SplitAccumulator] = {name: _SplitAccumulator(n_classes) for name in SPLITS}
    objects_per_image = dict.fromkeys((label for label, _, _ in OBJECT_COUNT_BUCKETS), 0)
    box_sizes = {"small": 0, "medium": 0, "large": 0}
    keypoints = _KeypointAccumulator(manifest) if manifest.task is Task.POSE else None
    annotation_count = 0
    empty_images = 0
    for item in manifest.items:
        ids = _class_ids(item, classification)
        annotation_count += len(ids)
        if not ids:
            empty_images += 1
        for class_id in ids:
            class_counts[class_id] += 1
        for class_id in set(ids):
            class_images[class_id] += 1
        split = item.split or UNASSIGNED
        if split not in splits:
            splits[split] = _SplitAccumulator(n_classes)
        splits[split].add(ids)
        if classification:
            continue
        objects_per_image[_bucket(len(item.annotations), OBJECT_COUNT_BUCKETS)] += 1
        for annotation in item.annotations:
            box_sizes[_box_size(annotation.bbox[2] * annotation.bbox[3])] += 1
            if keypoints is not None:
                keypoints.add(annotation.keypoints)
    return {
        "task": manifest.task.value,
        "image_count": len(manifest.items),
        "annotation_count": annotation_count,
        "images_without_annotations": empty_images,
        "classes": [
            {"id": i, "name": name, "count": class_counts[i], "images": class_images[i]}
            for i, name in enumerate(manifest.classes)
        ],
        "splits": {name: acc.result() for name, acc in splits.items()},
        # Flat as well: version listings show only these, without the per-class detail.
        "split_image_counts": {name: acc.images for name, acc in splits.items()},
        "objects_per_image": None if classification else objects_per_image,
        "image_sizes": _image_sizes(manifest.items),
        "box_sizes": None if classification else box_sizes,
        "keypoints": keypoints.result() if keypoints is not None else None,
    }


def _class_ids(item: Item, classification: bool) -> list[int]:
    """The class of each object, or each label of a classification image."""
    if classification:
        return sorted(set(item.labels))
    return [annotation.class_id for annotation in item.annotations]


def _bucket(value: int, buckets: Sequence[tuple[str, int, int | None]]) -> str:
    for label, low, high in buckets:
        if value >= low and (high is None or value <= high):
            return label
    raise ValueError(f"{value} is below every bucket")


def _box_size(area: float) -> str:
    if area < SMALL_AREA:
        return "small"
    if area < MEDIUM_AREA:
        return "medium"
    return "large"


def _summary(values: list[int]) -> dict[str, float | int | None]:
    if not values:
        return {"min": None, "max": None, "mean": None, "median": None}
    return {
        "min": min(values),
        "max": max(values),
        "mean": round(statistics.fmean(values), 2),
        "median": float(statistics.median(values)),
    }


def _image_sizes(items: Sequence[Item]) -> dict[str, Any]:
    widths = [item.width for item in items]
    heights = [item.height for item in items]
    longest = dict.fromkeys((label for label, _, _ in LONGEST_SIDE_BUCKETS), 0)
    for item in items:
        longest[_bucket(max(item.width, item.height), LONGEST_SIDE_BUCKETS)] += 1
    return {"width": _summary(widths), "height": _summary(heights), "longest_side": longest}


class _SplitAccumulator:
    def __init__(self, n_classes: int) -> None:
        self.images = 0
        self.annotations = 0
        self.class_counts = [0] * n_classes

    def add(self, class_ids: list[int]) -> None:
        self.images += 1
        self.annotations += len(class_ids)
        for class_id in class_ids:
            self.class_counts[class_id] += 1

    def result(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "annotations": self.annotations,
            "class_counts": self.class_counts,
        }


class _KeypointAccumulator:
    """Visibility counts in total and per keypoint: 2 visible, 1 labelled but occluded, 0 not
    labelled."""

    def __init__(self, manifest: DatasetManifest) -> None:
        count = manifest.keypoint_count
        names = manifest.keypoint_names or [str(i) for i in range(count)]
        self.names = names
        self.per_keypoint = [[0, 0, 0] for _ in range(count)]

    def add(self, keypoints: Sequence[tuple[float, float, int]]) -> None:
        for index, (_, _, visibility) in enumerate(keypoints[: len(self.per_keypoint)]):
            self.per_keypoint[index][visibility] += 1

    def result(self) -> dict[str, Any]:
        totals = [sum(counts[v] for counts in self.per_keypoint) for v in (2, 1, 0)]
        return {
            "visible": totals[0],
            "occluded": totals[1],
            "unlabeled": totals[2],
            "per_keypoint": [
                {
                    "index": index,
                    "name": self.names[index],
                    "visible": counts[2],
                    "occluded": counts[1],
                    "unlabeled": counts[0],
                }
                for index, counts in enumerate(self.per_keypoint)
            ],
        }
