"""`train`: a training job through Ultralytics' own trainer, reporting through the SDK.

Ultralytics runs its loop; callbacks turn its events into the contract's reports: after every
epoch's save (`on_model_save`) its metrics, then `last`, and `best` when it improved (uploaded
on a background thread: `uploads.py`); a log line
per epoch (`on_fit_epoch_end`); and a cancel check between batches (`on_train_batch_end`),
which stops the run by raising `Cancelled` out of the loop. A resumed attempt downloads `last`
(and `best`, so the final evaluation and the best metric survive) and continues with
`resume=True`.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lensforge.sdk import CheckpointNotFound, ConfigurationError, Trainer
from lensforge.trainers.ultralytics import evaluation, failures, layout, offline
from lensforge.trainers.ultralytics.entry import Cancelled, run_job
from lensforge.trainers.ultralytics.metrics import BEST_METRIC, clean_metrics, diverged
from lensforge.trainers.ultralytics.options import (
    ULTRALYTICS_TASK,
    TrainOptions,
    architecture_yaml,
    find_weights,
    train_options,
)
from lensforge.trainers.ultralytics.uploads import CheckpointUploader


@dataclass
class Progress:
    options: TrainOptions
    saved_epoch: int | None = None
    """The epoch `on_model_save` just reported: Ultralytics saves (every epoch, `save=True`)
    before `on_fit_epoch_end` in its loop, and never before the final evaluation of `best`,
    which runs that callback once more."""
    last_metrics: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)

    @property
    def best_value(self) -> float | None:
        return self.best_metrics.get(BEST_METRIC[self.options.task])


def main() -> int:
    return run_job("ultralytics trainer", run)


def run(trainer: Trainer) -> None:
    from lensforge.trainers.ultralytics import adapters

    offline.silence_settings()
    trainer.report_started()
    work = trainer.config.work_dir
    dataset = trainer.download_dataset()
    data_dir = work / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    data = layout.write_dataset(dataset, data_dir)
    if data.val_is_train:
        trainer.warning("the dataset has no val split: validating on the train split")
    options = train_options(
        trainer.config.model,
        trainer.config.task,
        trainer.config.config,
        train_images=data.train_images,
        cuda=adapters.cuda_available(),
    )
    save_dir = work / "runs" / "train"
    arguments: dict[str, Any] = {
        **options.arguments,
        "model": architecture_yaml(options.model),
        "data": str(data.data),
        "task": ULTRALYTICS_TASK[options.task],
        "project": str(save_dir.parent),
        "name": save_dir.name,
        "exist_ok": True,
        "plots": False,
        "save": True,
        "pretrained": False,
    }
    arguments["pretrained"] = _pretrained(trainer, adapters, options.pretrained)
    progress = Progress(options)
    if trainer.config.resume:
        last = _resume_from(trainer, adapters, save_dir, data.data, progress)
        if last is not None:
            arguments["model"] = str(last)
            arguments["resume"] = str(last)
    trainer.info(
        f"ultralytics: {options.model} ({options.task}), {options.epochs} epochs, "
        f"imgsz {arguments['imgsz']}, batch {arguments['batch']}, device {arguments['device']}; "
        f"{data.train_images} train / {data.val_images} val images",
        config=options.config,
        arguments={k: v for k, v in arguments.items() if isinstance(v, str | int | float | bool)},
    )
    engine = adapters.trainer_class(ULTRALYTICS_TASK[options.task])(overrides=arguments)
    uploads = CheckpointUploader(trainer, work / "uploads")
    _attach(engine, trainer, progress, uploads)
    engine.train()
    uploads.close()
    evaluation.report_final_validation(trainer, Path(engine.best), data.data, arguments, save_dir)
    trainer.report_completed(
        best_epoch=progress.best_epoch,
        best_metric_name=BEST_METRIC[options.task],
        best_metric_value=progress.best_value,
        metrics=progress.last_metrics,
    )


def _pretrained(trainer: Trainer, adapters: Any, cached: str | None) -> str | bool:
    """The weights to start from: uploaded ones (`spec.weights`) win over `basic.pretrained`
    (a file of the worker's weights cache); False trains from scratch. Says which it chose."""
    uploaded = trainer.download_weights()
    if uploaded is not None:
        name = trainer.spec()["weights"]["name"]
        if uploaded.suffix.lower() not in (".pt", ".pth"):
            raise ConfigurationError(
                f"weights {name}: Ultralytics starts only from .pt weights, not {uploaded.name}"
            )
        problem = adapters.pretrained_problem(uploaded)
        if problem is not None:
            raise ConfigurationError(
                f"weights {name} ({uploaded.name}) cannot be loaded: {problem}"
            )
        replaced = f"; they replace basic.pretrained {cached}" if cached else ""
        trainer.info(f"starting from uploaded weights {name} ({uploaded.name}){replaced}")
        return str(uploaded)
    if cached:
        path = find_weights(cached, [trainer.config.cache_path / "weights"])
        trainer.info(f"starting from cached weights {path}")
        return str(path)
    trainer.info(
        "training from scratch: the job names no pretrained weights (`--weights yolo11n.pt` "
        "starts from official ones, `--weights NAME` from an uploaded artifact)"
    )
    return False


def _resume_from(
    trainer: Trainer, adapters: Any, save_dir: Path, data: Path, progress: Progress
) -> Path | None:
    weights = save_dir / "weights"
    weights.mkdir(parents=True, exist_ok=True)
    try:
        last = trainer.download_checkpoint("last", weights / "resume-last.pt").path
    except CheckpointNotFound:
        trainer.warning("asked to resume, but the job has no checkpoint yet: starting over")
        return None
    checkpoint = adapters.retarget_checkpoint(last, save_dir=save_dir, data=data)
    try:
        best = trainer.download_checkpoint("best", weights / "best.pt").path
    except CheckpointNotFound:
        best = None
    if best is not None:
        saved = adapters.read_checkpoint(best)
        progress.best_epoch = int(saved.get("epoch", -1)) + 1
        progress.best_metrics = clean_metrics(saved.get("train_metrics") or {})
    done = int(checkpoint.get("epoch", -1)) + 1
    if done >= progress.options.epochs:
        raise ConfigurationError(
            f"the last checkpoint is of epoch {done}: the {progress.options.epochs} epochs "
            "are done, nothing to resume (restart the job to train again)"
        )
    trainer.info(f"resuming after epoch {done} from the job's last checkpoint")
    return last


def _metrics(engine: Any) -> dict[str, float]:
    raw: dict[str, Any] = {}
    if engine.tloss is not None:
        raw.update(engine.label_loss_items(engine.tloss, prefix="train"))
    raw.update(engine.metrics or {})
    raw.update(getattr(engine, "lr", None) or {})
    return clean_metrics(raw)


def _attach(engine: Any, trainer: Trainer, progress: Progress, uploads: CheckpointUploader) -> None:
    total = progress.options.epochs

    def check_cancel(_: Any) -> None:
        if trainer.should_stop():
            raise Cancelled

    def on_model_save(engine: Any) -> None:
        # The epoch's point goes to the spool before its checkpoint: a trainer killed between
        # the two then never leaves a checkpoint whose epoch has no point (the resumed attempt
        # starts after it).
        epoch = progress.saved_epoch = int(engine.epoch) + 1
        metrics = progress.last_metrics = _metrics(engine)
        trainer.report_progress(epoch, total, metrics)
        broken = diverged(metrics)
        if broken:
            # Ultralytics reloads `last` after a NaN epoch; one it saved cannot be recovered.
            raise failures.Diverged(
                f"training diverged at epoch {epoch}: {', '.join(broken)} not finite"
            )
        uploads.submit(Path(engine.last), "last", epoch, metrics)
        if engine.best_fitness == engine.fitness and Path(engine.best).is_file():
            progress.best_epoch, progress.best_metrics = epoch, metrics
            uploads.submit(Path(engine.best), "best", epoch, metrics)

    def on_fit_epoch_end(engine: Any) -> None:
        epoch, progress.saved_epoch = progress.saved_epoch, None
        metrics = _metrics(engine)
        if epoch is None:
            shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if k.startswith("val/"))
            trainer.info(f"final evaluation of best: {shown}", final=metrics)
            return
        shown = ", ".join(f"{k} {v:.4g}" for k, v in metrics.items() if not k.startswith("lr/"))
        trainer.info(f"epoch {epoch}/{total}: {shown}", epoch=epoch)
        check_cancel(engine)

    engine.add_callback("on_train_epoch_start", check_cancel)
    engine.add_callback("on_train_batch_end", check_cancel)
    engine.add_callback("on_fit_epoch_end", on_fit_epoch_end)
    engine.add_callback("on_model_save", on_model_save)
