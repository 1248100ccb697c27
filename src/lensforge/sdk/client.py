"""`Trainer`: a training attempt's side of the contract (reports, heartbeats, cancel, storage).

Reporting never touches the network on the caller's thread: each call appends one line to the
spool (`spool.py`) and returns. A sender thread (`sender.py`) delivers them: at once for
lifecycle reports (`started`, `checkpoint`, `completed`, `failed`) and ERROR/CRITICAL logs,
as soon as 50 buffered reports (other logs, progress) wait, and at least every second.
"""

from __future__ import annotations

import atexit
import logging
import math
import signal
import sys
import threading
import traceback as tb
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal

import httpx

from lensforge.sdk import artifacts, dataset_download, model_work, storage
from lensforge.sdk.config import TrainerConfig
from lensforge.sdk.dataset import LocalDataset
from lensforge.sdk.errors import ErrorType, SDKError
from lensforge.sdk.http import Api
from lensforge.sdk.sender import Sender
from lensforge.sdk.spool import Spool

logger = logging.getLogger("lensforge.sdk")

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
URGENT_KINDS = frozenset({"started", "checkpoint", "completed", "failed"})
URGENT_LEVELS = frozenset({"ERROR", "CRITICAL"})
BUFFERED_REPORTS = 50
MAX_MESSAGE_CHARS = 32_000
MAX_TRACEBACK_CHARS = 64_000
CheckpointKind = Literal["best", "last", "epoch"]


class Trainer:
    """One attempt of one job. Usually built from the environment the worker sets:

        trainer = Trainer()                    # or Trainer(TrainerConfig.from_env(epochs=3))
        trainer.report_started()
        data = trainer.download_dataset()
        for epoch in range(1, epochs + 1):
            if trainer.should_stop():
                break
            ...
            trainer.report_progress(epoch, epochs, {"train/loss": loss})
        trainer.report_completed(best_epoch=..., best_metric_name=..., best_metric_value=...)
        trainer.close()                        # also runs at exit

    Thread-safe: reports may come from any thread.
    """

    def __init__(
        self,
        config: TrainerConfig | None = None,
        *,
        http: httpx.Client | None = None,
        **overrides: Any,
    ) -> None:
        self.config = config or TrainerConfig.from_env(**overrides)
        self.spool = Spool(self.config.spool_path, self.config.attempt)
        self.api = Api(self.config, http)
        self._stop = threading.Event()
        self._closed = threading.Event()
        self._close_lock = threading.Lock()
        self._buffered = 0
        self._epoch: int | None = None
        self._spec: dict[str, Any] | None = None
        self._terminal_reported = False
        self._signalled = False
        # Checkpoint name -> spool offset just after its report (see storage.upload_checkpoint).
        self._checkpoint_reports: dict[str, int] = {}
        self.sender = Sender(
            self.spool,
            self.api,
            flush_interval=self.config.flush_interval,
            on_answer=self._on_answer,
        )
        self.sender.start()
        self._heartbeats = threading.Thread(
            target=self._heartbeat_loop, name="lensforge-sdk-heartbeat", daemon=True
        )
        self._heartbeats.start()
        atexit.register(self.close)

    # --- lifecycle reports ----------------------------------------------------------------------

    def report_started(self) -> int:
        return self._report("started", {})

    def report_progress(
        self,
        epoch: int,
        total_epochs: int,
        metrics: Mapping[str, float],
        step: int | None = None,
    ) -> int:
        """A point of the job's curves. Non-finite values (NaN, inf: a diverging run) are sent
        as null, which JSON can carry, and named in a WARNING log."""
        clean, dropped = _finite(metrics)
        data: dict[str, Any] = {"epoch": epoch, "total_epochs": total_epochs, "metrics": clean}
        if step is not None:
            data["step"] = step
        self._epoch = epoch
        sequence = self._report("progress", data)
        if dropped:
            self.warning(f"non-finite metrics at epoch {epoch}: {', '.join(dropped)}")
        return sequence

    def report_completed(
        self,
        best_epoch: int | None = None,
        best_metric_name: str | None = None,
        best_metric_value: float | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> int:
        self._terminal_reported = True
        best = best_metric_value
        if best is not None and not math.isfinite(best):
            best = None
        return self._report(
            "completed",
            {
                "best_epoch": best_epoch,
                "best_metric_name": best_metric_name,
                "best_metric_value": best,
                "metrics": _finite(metrics or {})[0],
            },
        )

    def report_failed(
        self, error_type: ErrorType | str, message: str, traceback: str | None = None
    ) -> int:
        """The attempt failed for `error_type`. Called inside an `except` block without a
        traceback, the current exception's is sent."""
        kind = ErrorType(error_type)  # ValueError for an unknown type, before anything is sent
        if traceback is None and sys.exc_info()[0] is not None:
            traceback = tb.format_exc()
        self._terminal_reported = True
        return self._report(
            "failed",
            {
                "error_type": kind.value,
                "message": _clip(message, MAX_MESSAGE_CHARS),
                "traceback": None if traceback is None else _clip(traceback, MAX_TRACEBACK_CHARS),
            },
        )

    # --- logs -----------------------------------------------------------------------------------

    def log(self, message: str, level: str = "INFO", **metadata: Any) -> int:
        name = level.upper()
        if name not in LEVELS:
            raise ValueError(f"unknown log level {level!r}; use one of {LEVELS}")
        data = {
            "level": name,
            "message": _clip(str(message), MAX_MESSAGE_CHARS),
            "metadata": metadata,
        }
        return self._report("log", data, urgent=name in URGENT_LEVELS)

    def debug(self, message: str, **metadata: Any) -> int:
        return self.log(message, "DEBUG", **metadata)

    def info(self, message: str, **metadata: Any) -> int:
        return self.log(message, "INFO", **metadata)

    def warning(self, message: str, **metadata: Any) -> int:
        return self.log(message, "WARNING", **metadata)

    def error(self, message: str, **metadata: Any) -> int:
        return self.log(message, "ERROR", **metadata)

    def critical(self, message: str, **metadata: Any) -> int:
        return self.log(message, "CRITICAL", **metadata)

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Wait until everything reported so far reached the server (or was refused for good);
        False if `timeout` passed first."""
        return self.sender.flush(timeout)

    flush_logs = flush  # the plan's name

    # --- heartbeats and cancel ------------------------------------------------------------------

    def heartbeat(self) -> bool:
        """Tell the server this attempt is alive; return whether a cancel was requested.
        Sent automatically every `heartbeat_interval` seconds; failures are not raised."""
        body = {} if self._epoch is None else {"epoch": self._epoch}
        try:
            response = self.api.client.post(
                self.api.base + "/heartbeat",
                json=body,
                headers={"Authorization": f"Bearer {self.config.token}"},
                timeout=10.0,
            )
        except httpx.TransportError as exc:
            logger.debug("heartbeat failed: %s", exc)
        else:
            if response.is_success:
                self._on_answer(response.json())
            elif response.status_code in (401, 403):
                # The attempt is over for the server (cancelled, declared lost, replaced):
                # nothing this process does can count any more.
                if not self._stop.is_set():
                    logger.warning(
                        "the server no longer accepts this attempt (HTTP %d): stopping",
                        response.status_code,
                    )
                self._stop.set()
            else:
                logger.debug("heartbeat refused: HTTP %d", response.status_code)
        return self._stop.is_set()

    def should_stop(self) -> bool:
        """True once a cancel was requested (by the server, or by SIGTERM with
        `install_signal_handlers`). Check it between batches; then stop, report nothing more,
        and exit 0: the worker records the cancellation."""
        return self._stop.is_set()

    def request_stop(self) -> None:
        self._stop.set()

    def install_signal_handlers(self, signals: Iterable[int] = (signal.SIGTERM,)) -> None:
        """Turn SIGTERM into `should_stop()`; a second one exits at once (code 143). Call it
        from the main thread (Python's rule for signal handlers)."""

        def handler(signum: int, frame: FrameType | None) -> None:
            if self._stop.is_set() and self._signalled:
                raise SystemExit(128 + signum)
            self._signalled = True
            self._stop.set()

        for number in signals:
            signal.signal(number, handler)

    # --- storage (see storage.py) ---------------------------------------------------------------

    def spec(self) -> dict[str, Any]:
        """The job spec (`GET /api/v1/trainer/jobs/{id}`), fetched once."""
        if self._spec is None:
            self._spec = dict(self.api.call("GET", ""))
            self._on_answer(self._spec)  # it says whether a cancel is already requested
        return self._spec

    def download_dataset(self, dest: str | Path | None = None) -> LocalDataset:
        return dataset_download.download_dataset(self, None if dest is None else Path(dest))

    def upload_file(self, path: str | Path, name: str) -> dict[str, Any]:
        return storage.upload_file(self, Path(path), name)

    def upload_checkpoint(
        self,
        path: str | Path,
        kind: CheckpointKind = "last",
        epoch: int | None = None,
        metrics: Mapping[str, float] | None = None,
    ) -> dict[str, Any]:
        return storage.upload_checkpoint(self, Path(path), kind, epoch, metrics)

    def report_artifact(
        self,
        name: str,
        file: str | Path | bytes,
        kind: artifacts.ArtifactKind = "plot",
        title: str | None = None,
        content_type: str | None = None,
    ) -> dict[str, Any]:
        """A plot (PNG/JPEG) or table (JSON) shown on the job page (see `sdk/artifacts.py`)."""
        return artifacts.report_artifact(
            self, name, file, kind=kind, title=title, content_type=content_type
        )

    def report_table(
        self,
        name: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str | float | int | None]],
        title: str | None = None,
    ) -> dict[str, Any]:
        """A table (e.g. per-class metrics) shown on the job page as data."""
        return artifacts.report_table(self, name, columns, rows, title=title)

    def download_checkpoint(
        self, kind: Literal["best", "last"] = "last", dest: str | Path | None = None
    ) -> storage.DownloadedCheckpoint:
        return storage.download_checkpoint(self, kind, None if dest is None else Path(dest))

    # --- export and inference jobs (see model_work.py) -------------------------------------------

    @property
    def kind(self) -> str:
        """`training`, `export` or `inference`: what this job asks of the trainer."""
        return str(self.spec().get("kind") or "training")

    @property
    def inputs(self) -> dict[str, Any]:
        """Export: `{"format", "options", "verify"}`; inference: `{"images", "conf", "iou",
        "max_det", "imgsz"}`; training: `{}`."""
        return dict(self.spec().get("inputs") or {})

    def download_source_model(self, dest: str | Path | None = None) -> Path:
        return model_work.download_source_model(self, None if dest is None else Path(dest))

    def download_weights(self, dest: str | Path | None = None) -> Path | None:
        """The job's uploaded pretrained weights (verified), or None when it has none."""
        return model_work.download_weights(self, None if dest is None else Path(dest))

    def download_inputs(self, dest: str | Path | None = None) -> list[model_work.InputImage]:
        return model_work.download_inputs(self, None if dest is None else Path(dest))

    def report_predictions(self, results: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
        return model_work.report_predictions(self, results)

    def report_export(
        self,
        path: str | Path,
        *,
        format: str,
        options: Mapping[str, Any],
        verification: Mapping[str, Any],
    ) -> dict[str, Any]:
        return model_work.report_export(
            self, Path(path), format=format, options=options, verification=verification
        )

    @property
    def epoch(self) -> int | None:
        """The epoch of the last progress report (sent with heartbeats)."""
        return self._epoch

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    # --- closing --------------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> bool:
        """Deliver every spooled report (waiting up to `drain_timeout`, 600 s by default, so a
        trainer finishing while the server is down still gets everything through), stop the
        threads. Idempotent; registered with `atexit`. True when nothing was left unsent."""
        with self._close_lock:
            if self._closed.is_set():
                return self.spool.unsent_bytes() == 0
            self._closed.set()
        atexit.unregister(self.close)
        wait = self.config.drain_timeout if timeout is None else timeout
        drained = self.sender.close(wait)
        if not drained:
            logger.error(
                "%d bytes of reports could not be delivered; they stay in %s",
                self.spool.unsent_bytes(),
                self.spool.path,
            )
        self.api.close()
        self.spool.close()
        return drained

    def __enter__(self) -> Trainer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """An exception escaping the block is reported as a failure (unless the trainer already
        reported an outcome, a stop was requested, or it is an exit or Ctrl-C), then the
        trainer closes."""
        if isinstance(exc, Exception) and not self._terminal_reported and not self.should_stop():
            self.report_failed(error_type_of(exc), f"{type(exc).__name__}: {exc}")
        self.close()

    # --- internals ------------------------------------------------------------------------------

    def _report(self, kind: str, data: dict[str, Any], *, urgent: bool = False) -> int:
        sequence = self.spool.append(kind, data)
        if urgent or kind in URGENT_KINDS:
            self._buffered = 0
            self.sender.wake()
        else:
            self._buffered += 1
            if self._buffered >= BUFFERED_REPORTS:
                self._buffered = 0
                self.sender.wake()
        return sequence

    def _on_answer(self, answer: Mapping[str, Any]) -> None:
        if answer.get("cancel_requested"):
            if not self._stop.is_set():
                logger.info("the server asked this attempt to stop")
            self._stop.set()

    def _heartbeat_loop(self) -> None:
        while not self._closed.wait(self.config.heartbeat_interval):
            try:
                self.heartbeat()
            except Exception:  # a heartbeat must never take the trainer down
                logger.debug("heartbeat failed", exc_info=True)


def error_type_of(exc: BaseException) -> ErrorType:
    """The error type a trainer should report for `exc`."""
    if isinstance(exc, SDKError):
        return exc.error_type
    if isinstance(exc, MemoryError):
        return ErrorType.RESOURCE
    if isinstance(exc, ImportError):
        return ErrorType.DEPENDENCY
    return ErrorType.INTERNAL


def _finite(metrics: Mapping[str, float]) -> tuple[dict[str, float | None], list[str]]:
    clean: dict[str, float | None] = {}
    dropped: list[str] = []
    for name, value in metrics.items():
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise TypeError(f"metric {name!r} is not a number: {value!r}") from None
        if math.isfinite(number):
            clean[str(name)] = number
        else:
            clean[str(name)] = None
            dropped.append(str(name))
    return clean, dropped


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text) - limit} chars cut]"
