"""What the trainer needs from torch and Ultralytics, in one place (imported only after
`offline.prepare`; never by the server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from lensforge.trainers.ultralytics import safe_weights

TRAINERS = {
    "detect": ("ultralytics.models.yolo.detect", "DetectionTrainer"),
    "segment": ("ultralytics.models.yolo.segment", "SegmentationTrainer"),
    "classify": ("ultralytics.models.yolo.classify", "ClassificationTrainer"),
    "pose": ("ultralytics.models.yolo.pose", "PoseTrainer"),
}


def cuda_available() -> bool:
    return bool(torch.cuda.is_available())


def trainer_class(task: str) -> Any:
    import importlib

    module, name = TRAINERS[task]
    return getattr(importlib.import_module(module), name)


def read_checkpoint(path: Path) -> dict[str, Any]:
    """An Ultralytics checkpoint's dictionary, read without running code (`safe_weights`):
    a checkpoint comes back from storage, where a trainer put it."""
    data: dict[str, Any] = safe_weights.load_checkpoint(path)
    return data


def retarget_checkpoint(path: Path, *, save_dir: Path, data: Path) -> dict[str, Any]:
    """Point a `last` checkpoint of an earlier attempt at this attempt's folders: Ultralytics
    resumes with the arguments stored in it, and those name the old attempt's run folder and
    dataset copy."""
    checkpoint = read_checkpoint(path)
    args = dict(checkpoint.get("train_args") or {})
    args.update(
        save_dir=str(save_dir), project=str(save_dir.parent), name=save_dir.name, data=str(data)
    )
    checkpoint["train_args"] = args
    torch.save(checkpoint, path)
    return checkpoint


def is_out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, torch.cuda.OutOfMemoryError)


def pretrained_problem(path: Path) -> str | None:
    """Why Ultralytics cannot start from these weights, in its loader's own words; None when
    it can. Read with the restricted unpickler (`safe_weights`): a file that needs more than
    tensors and model layers is refused before any of its code runs, and only a file that
    passes reaches Ultralytics' own (unrestricted) loader."""
    try:
        checkpoint = safe_weights.load_checkpoint(path)
    except safe_weights.UnsafeWeights as exc:
        return str(exc)
    except Exception as exc:  # any unreadable file: say what the loader said
        return f"{type(exc).__name__}: {str(exc).strip() or repr(exc)}"
    if not isinstance(checkpoint, dict) or (
        checkpoint.get("ema") is None and checkpoint.get("model") is None
    ):
        return "not an Ultralytics checkpoint (it holds no 'model' or 'ema')"
    return None
