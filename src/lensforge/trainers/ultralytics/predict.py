"""`predict`: an inference job. The job's source model (a `best`/`last` checkpoint or an
export) runs on the uploaded images; each image's predictions go out in the platform's result
schema (`report_predictions`)."""

from __future__ import annotations

from typing import Any

from lensforge.sdk import Trainer
from lensforge.trainers.ultralytics import offline
from lensforge.trainers.ultralytics.entry import run_job


def main() -> int:
    return run_job("ultralytics predict", run)


def run(trainer: Trainer) -> None:
    from lensforge.trainers.ultralytics import adapters, inference

    offline.silence_settings()
    trainer.report_started()
    spec = trainer.spec()
    task = str(spec["task"])
    classes = [str(c) for c in spec["dataset"]["classes"]]
    inputs = trainer.inputs
    model = inference.load(inference.unpack(trainer.download_source_model()), task)
    names = inference.model_names(model)
    params: dict[str, Any] = {
        "conf": float(inputs.get("conf") or 0.25),
        "iou": float(inputs.get("iou") or 0.7),
        "max_det": int(inputs.get("max_det") or 300),
        "device": "0" if adapters.cuda_available() else "cpu",
    }
    if inputs.get("imgsz"):
        params["imgsz"] = int(inputs["imgsz"])
    images = trainer.download_inputs()
    trainer.info(f"predicting {len(images)} image(s)", params=params)
    results = []
    for index, image in enumerate(images, start=1):
        if trainer.should_stop():
            return
        result, ms = inference.timed_predict(model, image.path, **params)
        results.append(
            inference.to_result(
                result, name=image.name, task=task, classes=classes, names=names, inference_ms=ms
            )
        )
        if index % 10 == 0 or index == len(images):
            trainer.info(f"predicted {index}/{len(images)} image(s)")
    trainer.report_predictions(results)
    trainer.report_completed()
