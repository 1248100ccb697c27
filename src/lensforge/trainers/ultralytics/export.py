"""`export`: an export job. The job's checkpoint is exported with Ultralytics' exporter, then
verified before it is offered: the PyTorch model and the exported one run on the same
validation images (`verify.samples` of them); their raw outputs are compared on one identical
input tensor per image, their detections (or top-1 classes) matched, and their inference times
measured. `report_export` uploads the model with the report and fails the job when it did not
pass."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from lensforge.sdk import ConfigurationError, Trainer
from lensforge.trainers.ultralytics import offline, verification
from lensforge.trainers.ultralytics.entry import run_job

# Options of the job (the manifest's `capabilities.export_options`) -> Ultralytics arguments.
FORMAT_ARGUMENTS = {
    "onnx": ("opset", "dynamic", "nms", "simplify"),
    "torchscript": ("nms",),
    "openvino": ("dynamic", "nms"),
}
VERIFY_CONF = 0.25


def main() -> int:
    return run_job("ultralytics export", run)


def export_arguments(fmt: str, options: dict[str, Any], imgsz: int) -> dict[str, Any]:
    if fmt not in FORMAT_ARGUMENTS:
        raise ConfigurationError(f"this trainer does not export to {fmt!r}")
    arguments: dict[str, Any] = {"format": fmt, "imgsz": imgsz}
    for name in FORMAT_ARGUMENTS[fmt]:
        if options.get(name) is not None:
            arguments[name] = options[name]
    if options.get("half"):
        arguments["quantize"] = 16
    return arguments


def run(trainer: Trainer) -> None:
    from ultralytics import YOLO

    from lensforge.trainers.ultralytics import adapters, inference, safe_weights

    offline.silence_settings()
    trainer.report_started()
    spec = trainer.spec()
    task = str(spec["task"])
    inputs = trainer.inputs
    fmt = str(inputs.get("format"))
    options = dict(inputs.get("options") or {})
    verify = dict(inputs.get("verify") or {})
    folder = trainer.config.work_dir / "export"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    weights = folder / f"{trainer.config.model or 'model'}.pt"
    shutil.copyfile(trainer.download_source_model(), weights)
    safe_weights.check(weights)  # before Ultralytics' loader, which unpickles freely
    reference = YOLO(str(weights))
    imgsz = int(options.get("imgsz") or reference.overrides.get("imgsz") or 640)
    arguments = export_arguments(fmt, options, imgsz)
    device = "0" if adapters.cuda_available() else "cpu"
    trainer.info(f"exporting to {fmt}", arguments=arguments)
    exported_path = Path(YOLO(str(weights)).export(device=device, **arguments))
    trainer.info(f"exported {exported_path.name}; verifying against the PyTorch model")

    dataset = trainer.download_dataset()
    items = dataset.items("val") or dataset.items()
    samples = [dataset.image_path(item) for item in items[: int(verify.get("samples", 8))]]
    exported = inference.load(exported_path, task)
    report = verify_export(
        reference,
        exported,
        samples,
        task=task,
        classes=[str(c) for c in spec["dataset"]["classes"]],
        params=verify_params(imgsz, device),
        fmt=fmt,
        options=options,
        verify=verify,
    )
    trainer.info(
        f"verification {'passed' if report['passed'] else 'FAILED'}: max abs diff "
        f"{report['max_abs_diff']}, agreement {report['detection_agreement']}, latency "
        f"{report['latency_ms']}",
        verification=report,
    )
    # The options it was exported with, the input size included (the trained one by default).
    exported_with = {**options, "imgsz": imgsz}
    trainer.report_export(exported_path, format=fmt, options=exported_with, verification=report)


def verify_params(imgsz: int, device: str) -> dict[str, Any]:
    """Predict arguments of both models during verification. `rect=False`: Ultralytics
    letterboxes a PyTorch model's input to the image's own aspect (`rect`, its predict default)
    but a fixed-size export's to a square, so the two would see different pixels and a weak
    model's detections would disagree for that reason alone (agreement 0.6 for the README's
    first model, with raw outputs equal to 1e-5). The same square input for both."""
    return {"imgsz": imgsz, "conf": VERIFY_CONF, "device": device, "rect": False}


def verify_export(
    reference: Any,
    exported: Any,
    samples: list[Path],
    *,
    task: str,
    classes: list[str],
    params: dict[str, Any],
    fmt: str,
    options: dict[str, Any],
    verify: dict[str, Any],
) -> dict[str, Any]:
    from lensforge.trainers.ultralytics import inference

    names = inference.model_names(reference)
    exported_names = inference.model_names(exported)
    half = bool(options.get("half"))
    differences = verification.Differences()
    # Each model runs over all samples in turn (after a warm-up call), not alternating per
    # image: one runtime's idle threads spin for a while after a call and would slow the
    # other's next one.
    timed: dict[str, list[tuple[Any, float]]] = {}
    for key, model in (("reference", reference), ("exported", exported)):
        if samples:
            inference.timed_predict(model, samples[0], **params)
        timed[key] = [inference.timed_predict(model, image, **params) for image in samples]
    pairs = [
        (
            inference.to_result(ref, name=image.name, task=task, classes=classes, names=names),
            inference.to_result(
                exp, name=image.name, task=task, classes=classes, names=exported_names
            ),
        )
        for image, (ref, _), (exp, _) in zip(
            samples, timed["reference"], timed["exported"], strict=True
        )
    ]
    pytorch_ms = [ms for _, ms in timed["reference"]]
    exported_ms = [ms for _, ms in timed["exported"]]
    for image in samples:
        raw = inference.raw_difference(reference, exported, image, int(params["imgsz"]))
        if raw is None:
            differences.skipped.append(image.name)
        else:
            differences.add(*raw)
    default_tolerance = 5e-2 if half else 1e-3
    return verification.report(
        fmt=fmt,
        options=options,
        samples=len(samples),
        differences=differences,
        detection_agreement=verification.agreement(pairs, conf=VERIFY_CONF),
        tolerance=float(verify.get("max_abs_diff", default_tolerance)),
        min_agreement=float(verify.get("min_agreement", 0.95)),
        pytorch_ms=pytorch_ms,
        exported_ms=exported_ms,
        runtime=inference.runtime(fmt),
    )
