"""What `lensforge train --follow` shows while a job runs: a bar of epochs with the latest
metrics under it, status changes, checkpoints and the job's log lines (all on stderr, so
`--json` output stays clean)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.console import RenderableType
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from lensforge.cli._job_follow import LogTail, log_from_event
from lensforge.cli._job_render import log_text, metrics_line, number, status
from lensforge.cli.output import err_console
from lensforge.client import JobDetail, JobEvent, LogLine


class _EpochProgress(Progress):
    """A progress bar with one more line under it: the latest metrics."""

    metrics = ""

    def get_renderables(self) -> Iterable[RenderableType]:
        yield from super().get_renderables()
        if self.metrics:
            yield Text(self.metrics, style="cyan")


class TrainingView:
    """Handles a `Follower`'s events and polls; use as a context manager around `run`."""

    def __init__(self) -> None:
        self.progress = _EpochProgress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("epochs"),
            TimeElapsedColumn(),
            console=err_console,
        )
        self._task = self.progress.add_task("queued", total=None)
        self._status = ""
        self.logs = LogTail(self._print_log)

    def __enter__(self) -> TrainingView:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _print(self, renderable: RenderableType) -> None:
        self.progress.console.print(renderable)

    def _print_log(self, line: LogLine) -> None:
        self._print(log_text(line))

    def event(self, event: JobEvent) -> None:
        data: dict[str, Any] = event.data
        if event.type == "training_progress":
            self._epoch(data.get("epoch"), data.get("total_epochs"))
            metrics = data.get("metrics") or {}
            if isinstance(metrics, dict) and metrics:
                self.progress.metrics = f"epoch {data.get('epoch')}: {metrics_line(metrics)}"
        elif event.type == "log":
            line = log_from_event(event)
            if line is not None:
                self.logs.add(line)
        elif event.type == "checkpoint":
            metrics = data.get("metrics") or {}
            self._print(
                Text.from_markup(
                    f"[dim]checkpoint[/] {escape(str(data.get('kind')))} after epoch "
                    f"{data.get('epoch')}"
                    + (f": {escape(metrics_line(metrics))}" if isinstance(metrics, dict) else "")
                )
            )
        elif event.type == "job_status":
            self._show_status(str(data.get("status", "")), str(data.get("reason", "")))

    def job(self, job: JobDetail) -> None:
        """A polled job: the status (in case its event was missed) and the epoch."""
        self._show_status(job.status, job.status_reason)
        if job.epoch is not None:
            self._epoch(job.epoch, job.total_epochs)

    def _epoch(self, epoch: object, total: object) -> None:
        if isinstance(epoch, int):
            self.progress.update(
                self._task,
                completed=epoch,
                total=total if isinstance(total, int) else None,
            )

    def _show_status(self, value: str, reason: str) -> None:
        if not value or value == self._status:
            return
        self._status = value
        self.progress.update(self._task, description=value)
        self._print(
            Text.from_markup(
                f"status: {status(value)}" + (f" — {escape(reason)}" if reason else "")
            )
        )


def summary(job: JobDetail) -> str:
    """One line on how the job ended, as Rich markup."""
    line = f"job [bold]{escape(job.name)}[/] ({job.id}) {status(job.status)}"
    if job.best_metric_name:
        line += (
            f": best {escape(job.best_metric_name)} {number(job.best_metric_value)}"
            f" (epoch {job.best_epoch})"
        )
    elif job.status_reason and job.status != "completed":
        line += f": {escape(job.status_reason)}"
    failed = [a for a in job.attempts if a.error_message]
    if job.status == "failed" and failed:
        last = failed[-1]
        line += f"\n  attempt {last.number}: {escape(last.error_type or 'error')}: "
        line += escape(last.error_message or "")
    return line
