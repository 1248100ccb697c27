"""The verification report of an export (docs/inference-and-export.md): the exported model and
the PyTorch model run on the same validation images; their raw outputs are compared number by
number, their detections one by one, and their latencies measured. Pure arithmetic on results
in the platform's schema, so it is tested without torch."""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MATCH_IOU = 0.9


@dataclass
class Differences:
    """Running max and mean of |reference - exported| over every compared number."""

    max_abs: float = 0.0
    total: float = 0.0
    count: int = 0
    skipped: list[str] = field(default_factory=list)
    """Samples whose outputs had different shapes (e.g. NMS inside the exported graph)."""

    def add(self, max_abs: float, total: float, count: int) -> None:
        self.max_abs = max(self.max_abs, max_abs)
        self.total += total
        self.count += count

    @property
    def mean_abs(self) -> float | None:
        return self.total / self.count if self.count else None


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else float(a == b)


def matched_detections(
    reference: Sequence[Mapping[str, Any]],
    exported: Sequence[Mapping[str, Any]],
    *,
    conf: float,
    min_iou: float = MATCH_IOU,
) -> tuple[int, int]:
    """(matched, total): of the reference's detections with score >= conf, how many one of the
    exported model's detections (each used once, any score) matches: same class, IoU >= min_iou.
    The reference's most confident detections choose first."""
    wanted = sorted((d for d in reference if d["score"] >= conf), key=lambda d: -float(d["score"]))
    free = list(exported)
    matched = 0
    for detection in wanted:
        candidates = [
            (iou(detection["box"], other["box"]), index)
            for index, other in enumerate(free)
            if other["class_id"] == detection["class_id"]
        ]
        best = max(candidates, default=(0.0, -1))
        if best[0] >= min_iou:
            matched += 1
            free.pop(best[1])
    return matched, len(wanted)


def agreement(
    pairs: Sequence[tuple[Mapping[str, Any], Mapping[str, Any]]], *, conf: float
) -> float:
    """Detection tasks: the share of the reference's detections matched (1.0 when neither
    model detects anything, 0.0 when only the exported one does). Classification: the share of
    images with the same top-1 class."""
    if not pairs:
        return 0.0
    if "classifications" in pairs[0][0]:
        same = sum(
            1
            for ref, exp in pairs
            if ref["classifications"][:1]
            and exp["classifications"][:1]
            and ref["classifications"][0]["class_id"] == exp["classifications"][0]["class_id"]
        )
        return same / len(pairs)
    matched = total = extra = 0
    for ref, exp in pairs:
        m, t = matched_detections(ref["detections"], exp["detections"], conf=conf)
        matched, total = matched + m, total + t
        extra += sum(1 for d in exp["detections"] if d["score"] >= conf)
    if total == 0:
        return 1.0 if extra == 0 else 0.0
    return matched / total


def latency(samples_ms: Sequence[float]) -> dict[str, float]:
    if not samples_ms:
        return {"median": 0.0, "p95": 0.0}
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return {"median": round(statistics.median(ordered), 3), "p95": round(p95, 3)}


def report(
    *,
    fmt: str,
    options: Mapping[str, Any],
    samples: int,
    differences: Differences,
    detection_agreement: float,
    tolerance: float,
    min_agreement: float,
    pytorch_ms: Sequence[float],
    exported_ms: Sequence[float],
    runtime: str,
    failures: Sequence[str] = (),
) -> dict[str, Any]:
    """The report; `passed` when there were samples, the numbers stay within the tolerance
    (where they could be compared) and the agreement reaches the minimum."""
    problems = list(failures)
    if samples == 0:
        problems.append("no validation images to verify on")
    compared = differences.count > 0
    if compared and differences.max_abs > tolerance:
        problems.append(f"max abs diff {differences.max_abs:.3g} exceeds the tolerance {tolerance}")
    if samples and detection_agreement < min_agreement:
        problems.append(f"agreement {detection_agreement:.3f} is under the minimum {min_agreement}")
    return {
        "passed": not problems,
        "samples": samples,
        "format": fmt,
        "options": dict(options),
        "max_abs_diff": differences.max_abs if compared else None,
        "mean_abs_diff": differences.mean_abs,
        "tolerance": tolerance,
        "detection_agreement": round(detection_agreement, 6),
        "min_agreement": min_agreement,
        "latency_ms": {"pytorch": latency(pytorch_ms), "exported": latency(exported_ms)},
        "runtime": runtime,
        "failures": problems,
    }
