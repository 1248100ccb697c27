"""Module-level functions bound to one `Trainer` per process, built from the environment on
first use: the plan's style (`from lensforge import sdk; sdk.report_progress(...)`)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from lensforge.sdk.client import CheckpointKind, Trainer
from lensforge.sdk.dataset import LocalDataset
from lensforge.sdk.errors import ErrorType
from lensforge.sdk.model_work import InputImage
from lensforge.sdk.storage import DownloadedCheckpoint

_lock = threading.Lock()
_trainer: Trainer | None = None


def get_trainer() -> Trainer:
    """The process's default trainer (created from the environment on first call)."""
    global _trainer  # noqa: PLW0603 (one default per process, by design)
    with _lock:
        if _trainer is None or _trainer.closed:
            _trainer = Trainer()
        return _trainer


def set_trainer(trainer: Trainer | None) -> None:
    """Make `trainer` the one the module-level functions use (tests, custom configuration)."""
    global _trainer  # noqa: PLW0603 (one default per process, by design)
    with _lock:
        _trainer = trainer


def report_started() -> int:
    return get_trainer().report_started()


def report_progress(
    epoch: int, total_epochs: int, metrics: Mapping[str, float], step: int | None = None
) -> int:
    return get_trainer().report_progress(epoch, total_epochs, metrics, step)


def report_completed(
    best_epoch: int | None = None,
    best_metric_name: str | None = None,
    best_metric_value: float | None = None,
    metrics: Mapping[str, float] | None = None,
) -> int:
    return get_trainer().report_completed(best_epoch, best_metric_name, best_metric_value, metrics)


def report_failed(error_type: ErrorType | str, message: str, traceback: str | None = None) -> int:
    return get_trainer().report_failed(error_type, message, traceback)


def log(message: str, level: str = "INFO", **metadata: Any) -> int:
    return get_trainer().log(message, level, **metadata)


def debug(message: str, **metadata: Any) -> int:
    return get_trainer().debug(message, **metadata)


def info(message: str, **metadata: Any) -> int:
    return get_trainer().info(message, **metadata)


def warning(message: str, **metadata: Any) -> int:
    return get_trainer().warning(message, **metadata)


def error(message: str, **metadata: Any) -> int:
    return get_trainer().error(message, **metadata)


def flush(timeout: float | None = 30.0) -> bool:
    return get_trainer().flush(timeout)


flush_logs = flush


def heartbeat() -> bool:
    return get_trainer().heartbeat()


def should_stop() -> bool:
    return get_trainer().should_stop()


def install_signal_handlers() -> None:
    get_trainer().install_signal_handlers()


def download_dataset(dest: str | Path | None = None) -> LocalDataset:
    return get_trainer().download_dataset(dest)


def upload_file(path: str | Path, name: str) -> dict[str, Any]:
    return get_trainer().upload_file(path, name)


def report_artifact(
    name: str,
    file: str | Path | bytes,
    kind: Literal["plot", "table"] = "plot",
    title: str | None = None,
    content_type: str | None = None,
) -> dict[str, Any]:
    return get_trainer().report_artifact(name, file, kind, title, content_type)


def report_table(
    name: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[str | float | int | None]],
    title: str | None = None,
) -> dict[str, Any]:
    return get_trainer().report_table(name, columns, rows, title)


def upload_checkpoint(
    path: str | Path,
    kind: CheckpointKind = "last",
    epoch: int | None = None,
    metrics: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    return get_trainer().upload_checkpoint(path, kind, epoch, metrics)


def download_checkpoint(
    kind: Literal["best", "last"] = "last", dest: str | Path | None = None
) -> DownloadedCheckpoint:
    return get_trainer().download_checkpoint(kind, dest)


def close(timeout: float | None = None) -> bool:
    """Close the default trainer, if one was created."""
    with _lock:
        trainer = _trainer
    return True if trainer is None else trainer.close(timeout)


def download_source_model(dest: str | Path | None = None) -> Path:
    return get_trainer().download_source_model(dest)


def download_weights(dest: str | Path | None = None) -> Path | None:
    return get_trainer().download_weights(dest)


def download_inputs(dest: str | Path | None = None) -> list[InputImage]:
    return get_trainer().download_inputs(dest)


def report_predictions(results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    return get_trainer().report_predictions(results)


def report_export(
    path: str | Path,
    *,
    format: str,
    options: Mapping[str, Any],
    verification: Mapping[str, Any],
) -> dict[str, Any]:
    return get_trainer().report_export(
        path, format=format, options=options, verification=verification
    )
