"""The reference trainer's export and inference jobs (docs/inference-and-export.md).

Inference: each image is classified whole. For classification data that is the task; for
detection, segmentation and pose data the model learnt object crops, so the answer is one
detection covering the whole image (with the image outline as polygon, and no keypoints): an
honest statement of what this tiny model knows, in the platform's result schema.

Export: the `json` format (the model without its training state). Verification runs the
checkpoint and the exported model on validation images and compares their probabilities.
"""

from __future__ import annotations

import json
import statistics
import time
from pathlib import Path
from typing import Any

from PIL import Image

from lensforge.sdk import Trainer
from lensforge.trainers.reference.data import BACKGROUND, image_vector
from lensforge.trainers.reference.model import TrainState

TOP_K = 5


def _load(path: Path) -> TrainState:
    return TrainState.from_dict(json.loads(path.read_text(encoding="utf-8")))


def _timed(state: TrainState, path: Path) -> tuple[list[float], float]:
    started = time.perf_counter()
    p = state.probabilities(state.normalise(image_vector(path, state.imgsz)))
    return p, (time.perf_counter() - started) * 1000.0


def image_result(
    state: TrainState, path: Path, name: str, task: str, conf: float
) -> dict[str, Any]:
    p, elapsed = _timed(state, path)
    with Image.open(path) as image:
        width, height = image.size
    ranked = sorted(range(len(p)), key=p.__getitem__, reverse=True)
    result: dict[str, Any] = {
        "image": name,
        "width": width,
        "height": height,
        "task": task,
        "inference_ms": round(elapsed, 3),
    }
    if task == "classification":
        result["classifications"] = [
            {"class_id": i, "class_name": state.classes[i], "score": p[i]} for i in ranked[:TOP_K]
        ]
        return result
    # The background class helps training tell objects from the rest; the answer is the
    # object class this image is most like, scored among the object classes.
    objects = [i for i in ranked if state.classes[i] != BACKGROUND]
    total = sum(p[i] for i in objects) or 1.0
    p = [v / total for v in p]
    best = objects[0]
    detections = []
    if p[best] >= conf:
        detection: dict[str, Any] = {
            "class_id": best,
            "class_name": state.classes[best],
            "score": p[best],
            "box": [0.0, 0.0, float(width), float(height)],
        }
        if task == "segmentation":
            detection["polygon"] = [[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]]
        if task == "pose":
            detection["keypoints"] = []
        detections.append(detection)
    result["detections"] = detections
    return result


def predict_job() -> int:
    with Trainer() as trainer:
        trainer.report_started()
        state = _load(trainer.download_source_model())
        inputs = trainer.inputs
        conf = float(inputs.get("conf", 0.25))
        task = str(trainer.spec()["task"])
        images = trainer.download_inputs()
        trainer.info(f"predicting {len(images)} image(s) with {state.model}")
        trainer.report_predictions(
            image_result(state, image.path, image.name, task, conf) for image in images
        )
        trainer.report_completed()
    return 0


def export_job() -> int:
    with Trainer() as trainer:
        trainer.report_started()
        inputs = trainer.inputs
        fmt = str(inputs.get("format", "json"))
        verify = dict(inputs.get("verify") or {})
        source = trainer.download_source_model()
        reference = _load(source)
        out = trainer.config.work_dir / "export" / "model.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        indent = int((inputs.get("options") or {}).get("indent") or 0) or None
        out.write_text(json.dumps(reference.export(), indent=indent), encoding="utf-8")
        exported = _load(out)
        dataset = trainer.download_dataset()
        samples = [dataset.image_path(item) for item in dataset.items("val")]
        samples = (samples or [dataset.image_path(i) for i in dataset.items()])[
            : int(verify.get("samples", 8))
        ]
        report = verification(
            reference, exported, samples, fmt, dict(inputs.get("options") or {}), verify
        )
        trainer.info(
            f"verification: max abs diff {report['max_abs_diff']:.3g}, "
            f"agreement {report['detection_agreement']:.3f}",
            passed=report["passed"],
        )
        # The options it was exported with, its input size included (the trained one).
        exported_with = {**report["options"], "imgsz": reference.imgsz}
        trainer.report_export(out, format=fmt, options=exported_with, verification=report)
    return 0


def verification(
    reference: TrainState,
    exported: TrainState,
    samples: list[Path],
    fmt: str,
    options: dict[str, Any],
    verify: dict[str, Any],
) -> dict[str, Any]:
    tolerance = float(verify.get("max_abs_diff", 1e-3))
    minimum = float(verify.get("min_agreement", 0.95))
    diffs: list[float] = []
    agreed = 0
    ref_ms: list[float] = []
    exp_ms: list[float] = []
    failures: list[str] = []
    for path in samples:
        p, a = _timed(reference, path)
        q, b = _timed(exported, path)
        ref_ms.append(a)
        exp_ms.append(b)
        diffs += [abs(x - y) for x, y in zip(p, q, strict=True)]
        agreed += int(
            max(range(len(p)), key=p.__getitem__) == max(range(len(q)), key=q.__getitem__)
        )
    if not samples:
        failures.append("no validation images to verify on")
    max_diff = max(diffs, default=0.0)
    agreement = agreed / len(samples) if samples else 0.0
    if max_diff > tolerance:
        failures.append(f"max abs diff {max_diff:.3g} exceeds {tolerance}")
    if agreement < minimum:
        failures.append(f"top-1 agreement {agreement:.3f} is under {minimum}")
    return {
        "passed": not failures,
        "samples": len(samples),
        "format": fmt,
        "options": options,
        "max_abs_diff": max_diff,
        "mean_abs_diff": statistics.fmean(diffs) if diffs else 0.0,
        "tolerance": tolerance,
        "detection_agreement": agreement,
        "min_agreement": minimum,
        "latency_ms": {"pytorch": _latency(ref_ms), "exported": _latency(exp_ms)},
        "runtime": "lensforge reference (pure Python)",
        "failures": failures,
    }


def _latency(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"median": 0.0, "p95": 0.0}
    ordered = sorted(samples)
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 3),
    }
