"""A job's config (`{"basic": ..., "advanced": ...}`) as Ultralytics training arguments.

The server validated the config against the manifest's schemas already; this completes it with
the defaults (a hand-run trainer may pass a partial one), refuses unknown fields, and applies
the rules that depend on the data: `nbs` for tiny datasets, AMP only on CUDA.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lensforge.sdk import ConfigurationError

MANIFEST = Path(__file__).with_name("manifest.json")
DEFAULT_NBS = 64
MIN_STEPS_PER_EPOCH = 10

# The platform's task names -> Ultralytics'.
ULTRALYTICS_TASK = {
    "detection": "detect",
    "segmentation": "segment",
    "classification": "classify",
    "pose": "pose",
}
_SUFFIX_TASK = {"-seg": "segmentation", "-cls": "classification", "-pose": "pose"}

# Config fields that are ours, not Ultralytics arguments of the same name.
_RENAMED = {"batch_size": "batch", "learning_rate": "lr0"}
_OURS = {"pretrained", "device", "cache", "nbs", "freeze"}


@dataclass(frozen=True)
class TrainOptions:
    model: str
    task: str
    epochs: int
    arguments: dict[str, Any]
    """Keyword arguments of the Ultralytics trainer (without `data`, `project`, `name`)."""
    pretrained: str
    """The weights file name or path the user asked for ('' = from scratch)."""
    config: dict[str, dict[str, Any]]
    """The complete config (defaults filled in), for the job's log."""


def manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return data


def model_task(model: str) -> str:
    """The platform task of a model name (`yolo11n-seg` -> segmentation)."""
    for suffix, task in _SUFFIX_TASK.items():
        if model.endswith(suffix):
            return task
    return "detection"


def architecture_yaml(model: str) -> str:
    """The architecture file Ultralytics builds the model from: `yolo11n-seg` -> `yolo11n-seg.yaml`
    (Ultralytics reads the scale `n` from the name and the layers from `yolo11-seg.yaml`)."""
    return f"{model}.yaml"


def complete_config(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    schema = manifest()["config_schema"]
    merged: dict[str, dict[str, Any]] = {}
    for section in ("basic", "advanced"):
        properties: dict[str, Any] = schema[section]["properties"]
        given = dict(config.get(section) or {})
        unknown = sorted(set(given) - set(properties))
        if unknown:
            raise ConfigurationError(f"unknown {section} config fields: {unknown}")
        merged[section] = {
            name: given.get(name, p.get("default")) for name, p in properties.items()
        }
    return merged


def train_options(
    model: str | None,
    task: str | None,
    config: dict[str, Any],
    *,
    train_images: int,
    cuda: bool,
) -> TrainOptions:
    """Checked training arguments; ConfigurationError names what is wrong."""
    models = {m["name"]: m["tasks"] for m in manifest()["models"]}
    if model is None or model not in models:
        raise ConfigurationError(f"unknown model {model!r}; the trainer offers {sorted(models)}")
    task = task or models[model][0]
    if task not in models[model]:
        raise ConfigurationError(f"model {model} does {models[model]}, not {task}")
    merged = complete_config(config)
    basic, advanced = merged["basic"], merged["advanced"]
    arguments: dict[str, Any] = {}
    for section in (basic, advanced):
        for name, value in section.items():
            if name not in _OURS:
                arguments[_RENAMED.get(name, name)] = value
    batch = int(basic["batch_size"])
    nbs = advanced["nbs"]
    if nbs is None:
        # Ultralytics accumulates gradients over nbs=64 images per optimiser step. On a small
        # dataset that leaves a handful of steps per epoch (160 raccoons at batch 8: 2.5), and a
        # model trained for 30 epochs from scratch finds nothing; below MIN_STEPS_PER_EPOCH
        # steps of 64 images, every batch is a step.
        small = train_images < DEFAULT_NBS * MIN_STEPS_PER_EPOCH
        nbs = batch if small else DEFAULT_NBS
    arguments["nbs"] = max(int(nbs), batch)
    arguments["amp"] = bool(advanced["amp"]) and cuda
    device = str(basic["device"])
    if "," in device:
        raise ConfigurationError(
            "basic.device: multi-GPU (DDP) training is not supported by this trainer: "
            "Ultralytics runs it in subprocesses where the platform's callbacks do not run"
        )
    arguments["device"] = ("0" if cuda else "cpu") if device == "auto" else device
    if arguments["device"] not in ("cpu", "mps") and not cuda:
        raise ConfigurationError(
            f"basic.device is {device!r} but no CUDA device is visible to this trainer"
        )
    arguments["cache"] = False if advanced["cache"] == "none" else advanced["cache"]
    if advanced["freeze"] is not None:
        arguments["freeze"] = int(advanced["freeze"])
    return TrainOptions(
        model=model,
        task=task,
        epochs=int(basic["epochs"]),
        arguments=arguments,
        pretrained=str(basic["pretrained"] or ""),
        config=merged,
    )


def find_weights(name: str, folders: list[Path]) -> Path:
    """The pretrained weights file: an absolute path, or a name found in one of `folders`
    (the worker's weights caches). Never downloads: a missing file is a configuration error."""
    if "\\" in name or not name.endswith(".pt"):
        raise ConfigurationError(f"basic.pretrained must name a .pt file, not {name!r}")
    path = Path(name)
    if path.is_absolute():
        if path.is_file():
            return path
        raise ConfigurationError(f"basic.pretrained: {name} does not exist on this worker")
    if len(path.parts) != 1 or name.startswith("."):
        raise ConfigurationError("basic.pretrained must be a file name or an absolute path")
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    looked = ", ".join(str(f) for f in folders) or "no folder"
    raise ConfigurationError(
        f"basic.pretrained: {name} is not in the weights cache ({looked}); this trainer never "
        "downloads weights: place the file there, give an absolute path, or train with "
        f"`--weights {name}` (an uploaded model artifact, or an official file the server "
        "downloads and verifies)"
    )
