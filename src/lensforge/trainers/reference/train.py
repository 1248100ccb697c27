"""`train`: the reference trainer's run, following the trainer contract step by step."""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lensforge.sdk import (
    CheckpointNotFound,
    ConfigurationError,
    DatasetError,
    Trainer,
    error_type_of,
)
from lensforge.trainers.reference.data import BACKGROUND, Samples, load_split
from lensforge.trainers.reference.evaluation import report_evaluation
from lensforge.trainers.reference.model import MODELS, Cancelled, Hyper, TrainState

_MANIFEST = Path(__file__).with_name("manifest.json")
BEST_METRIC = "val/accuracy"


@dataclass(frozen=True)
class Settings:
    model: str
    hyper: Hyper
    imgsz: int
    epoch_delay_seconds: float
    save_every_epoch: bool
    config: dict[str, Any]


def settings_from(model: str | None, config: dict[str, Any]) -> Settings:
    """The job config completed with the manifest's defaults and checked (ConfigurationError
    naming the field). The server validated it already; a hand-run trainer may not have."""
    schema = json.loads(_MANIFEST.read_text())["config_schema"]
    merged: dict[str, dict[str, Any]] = {}
    for section in ("basic", "advanced"):
        properties = schema[section]["properties"]
        given = dict(config.get(section) or {})
        unknown = sorted(set(given) - set(properties))
        if unknown:
            raise ConfigurationError(f"unknown {section} config fields: {unknown}")
        merged[section] = {
            name: given.get(name, p.get("default")) for name, p in properties.items()
        }
    basic, advanced = merged["basic"], merged["advanced"]
    if model not in MODELS:
        raise ConfigurationError(f"unknown model {model!r}: the reference trainer has {MODELS}")
    checks = {
        "basic.epochs": isinstance(basic["epochs"], int) and basic["epochs"] >= 1,
        "basic.batch_size": isinstance(basic["batch_size"], int) and basic["batch_size"] >= 1,
        "basic.learning_rate": _number(basic["learning_rate"]) and basic["learning_rate"] > 0,
        "basic.imgsz": isinstance(basic["imgsz"], int) and 4 <= basic["imgsz"] <= 128,
        "basic.seed": isinstance(basic["seed"], int) and basic["seed"] >= 0,
        "advanced.weight_decay": _number(advanced["weight_decay"])
        and advanced["weight_decay"] >= 0,
        "advanced.epoch_delay_seconds": _number(advanced["epoch_delay_seconds"])
        and advanced["epoch_delay_seconds"] >= 0,
        "advanced.save_every_epoch": isinstance(advanced["save_every_epoch"], bool),
    }
    bad = [name for name, ok in checks.items() if not ok]
    if bad:
        raise ConfigurationError(f"invalid config values: {', '.join(bad)} (see the manifest)")
    return Settings(
        model=model,
        hyper=Hyper(
            epochs=basic["epochs"],
            batch_size=basic["batch_size"],
            learning_rate=float(basic["learning_rate"]),
            weight_decay=float(advanced["weight_decay"]),
            seed=basic["seed"],
        ),
        imgsz=basic["imgsz"],
        epoch_delay_seconds=float(advanced["epoch_delay_seconds"]),
        save_every_epoch=advanced["save_every_epoch"],
        config=merged,
    )


def main() -> int:
    try:
        trainer = Trainer()
    except ConfigurationError as exc:  # nothing to report to: say it where the worker logs
        print(f"reference trainer: {exc}", file=sys.stderr)
        return 1
    trainer.install_signal_handlers()
    try:
        run(trainer)
    except Cancelled:
        trainer.close()  # report nothing more: the worker records the cancellation
        return 0
    except Exception as exc:
        trainer.report_failed(error_type_of(exc), f"{type(exc).__name__}: {exc}")
        trainer.close()
        return 1
    trainer.close()
    return 0


def run(trainer: Trainer) -> None:
    settings = settings_from(trainer.config.model, trainer.config.config)
    trainer.report_started()
    trainer.info(
        f"reference trainer: model {settings.model}, {settings.hyper.epochs} epochs, "
        f"imgsz {settings.imgsz}",
        config=settings.config,
    )
    dataset = trainer.download_dataset()
    classes = model_classes(dataset.task, dataset.classes)
    background = classes.index(BACKGROUND) if BACKGROUND in classes else None
    train = load_split(dataset, "train", settings.imgsz, background_class=background)
    val = load_split(dataset, "val", settings.imgsz, background_class=background)
    if not len(train):
        raise DatasetError("the train split has no labelled samples")
    if not len(val):
        trainer.warning(
            "the val split has no labelled samples: validating on the train split, so "
            "val/loss and val/accuracy measure the fit, not held-out performance"
        )
        val = train
    trainer.info(
        f"train: {train.describe()}; val: {val.describe()}. " + _meaning(classes),
        classes=classes,
        train={"images": train.images, "objects": train.objects, "background": train.background},
        val={"images": val.images, "objects": val.objects, "background": val.background},
    )
    if len(set(train.y)) < 2:
        trainer.warning(
            "the training samples have a single class: loss and accuracy are 0 and 1 by "
            "construction and say nothing about the model"
        )
    state = _initial_state(trainer, settings, classes, train)
    fit(trainer, state, settings, train, val)


def model_classes(task: str, classes: list[str]) -> list[str]:
    """The classes the model tells apart: the dataset's, plus background crops for the tasks
    whose samples are object crops."""
    return list(classes) if task == "classification" else [*classes, BACKGROUND]


def _meaning(classes: list[str]) -> str:
    if BACKGROUND in classes:
        return (
            "Samples are grey crops: loss is the mean cross-entropy and accuracy the share of "
            "crops classified right, among the objects' classes and background"
        )
    return (
        "Samples are whole images: loss is the mean cross-entropy and accuracy the share of "
        "images classified right"
    )


def _initial_state(
    trainer: Trainer, settings: Settings, classes: list[str], train: Samples
) -> TrainState:
    if trainer.config.resume:
        dest = trainer.config.work_dir / "resume" / "last.json"
        try:
            checkpoint = trainer.download_checkpoint("last", dest)
        except CheckpointNotFound:
            trainer.warning("asked to resume, but the job has no checkpoint: starting over")
        else:
            state = TrainState.from_dict(json.loads(checkpoint.path.read_text()))
            if (state.model, state.classes, state.imgsz) != (
                settings.model,
                classes,
                settings.imgsz,
            ):
                raise ConfigurationError(
                    "the last checkpoint is of another model, class list or size"
                )
            trainer.info(f"resuming after epoch {state.epoch}")
            return state
    return TrainState.new(
        settings.model, classes, settings.imgsz, train, settings.hyper.seed, settings.config
    )


def fit(
    trainer: Trainer, state: TrainState, settings: Settings, train: Samples, val: Samples
) -> None:
    hyper = settings.hyper
    train_x = [state.normalise(x) for x in train.x]
    val_x = train_x if val is train else [state.normalise(x) for x in val.x]
    folder = trainer.config.work_dir / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    metrics: dict[str, float] = {}
    for epoch in range(state.epoch + 1, hyper.epochs + 1):
        lr = hyper.lr_at(epoch)
        train_loss, train_accuracy = state.train_epoch(train_x, train.y, hyper, trainer.should_stop)
        val_loss, val_accuracy = state.evaluate(val_x, val.y)
        metrics = {
            "train/loss": train_loss,
            "train/accuracy": train_accuracy,
            "val/loss": val_loss,
            "val/accuracy": val_accuracy,
            "lr": lr,
        }
        improved = state.best_value is None or val_accuracy > state.best_value
        if improved:
            state.best_epoch, state.best_value = epoch, val_accuracy
        trainer.report_progress(epoch, hyper.epochs, metrics)
        trainer.info(
            f"epoch {epoch}/{hyper.epochs}: train/loss {train_loss:.4f}, "
            f"val/loss {val_loss:.4f}, val/accuracy {val_accuracy:.4f}",
            epoch=epoch,
        )
        last = _write(folder / "last.json", state)
        trainer.upload_checkpoint(last, "last", epoch, metrics)
        if improved:
            trainer.upload_checkpoint(_write(folder / "best.json", state), "best", epoch, metrics)
        if settings.save_every_epoch:
            trainer.upload_checkpoint(
                _write(folder / f"epoch-{epoch}.json", state), "epoch", epoch, metrics
            )
        _pause(trainer, settings.epoch_delay_seconds)
    report_evaluation(trainer, state, val_x, val.y)
    trainer.report_completed(
        best_epoch=state.best_epoch,
        best_metric_name=BEST_METRIC,
        best_metric_value=state.best_value,
        metrics=metrics,
    )


def _write(path: Path, state: TrainState) -> Path:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state.to_dict()))
    tmp.replace(path)
    return path


def _pause(trainer: Trainer, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if trainer.should_stop():
            raise Cancelled
        time.sleep(min(0.05, left))
    if trainer.should_stop():
        raise Cancelled


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
