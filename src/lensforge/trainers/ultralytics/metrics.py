"""Ultralytics' metric keys as the platform's clean names.

`metrics/mAP50-95(B)` -> `val/mAP50-95`, `metrics/precision(M)` -> `val/mask_precision`,
`metrics/recall(P)` -> `val/pose_recall`, `metrics/accuracy_top1` -> `val/accuracy_top1`;
`train/box_loss`, `val/box_loss` and `lr/pg0` are already clean and kept.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

_SUFFIX_PREFIX = {"(B)": "", "(M)": "mask_", "(P)": "pose_", "(OBB)": ""}

# The metric `best` is chosen by, per task (Ultralytics' fitness leans on the same ones).
BEST_METRIC = {
    "detection": "val/mAP50-95",
    "segmentation": "val/mask_mAP50-95",
    "pose": "val/pose_mAP50-95",
    "classification": "val/accuracy_top1",
}


def clean_name(key: str) -> str:
    if not key.startswith("metrics/"):
        return key
    name = key.removeprefix("metrics/")
    for suffix, prefix in _SUFFIX_PREFIX.items():
        if name.endswith(suffix):
            return f"val/{prefix}{name.removesuffix(suffix)}"
    return f"val/{name}"


def clean_metrics(raw: Mapping[str, object]) -> dict[str, float]:
    """Every numeric entry under its clean name (non-numbers such as tensors' leftovers are
    converted with float(); what cannot be is dropped)."""
    out: dict[str, float] = {}
    for key, value in raw.items():
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            continue
        out[clean_name(str(key))] = number
    return out


def diverged(metrics: Mapping[str, float]) -> list[str]:
    """The loss metrics that are NaN or infinite (a diverged run)."""
    return sorted(k for k, v in metrics.items() if k.endswith("loss") and not math.isfinite(v))
