"""How jobs look in a terminal: job lists, a job's summary, attempts and transitions, metric
tables, checkpoints and coloured log lines."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterable, Mapping

from rich.filesize import decimal
from rich.markup import escape
from rich.table import Column, Table
from rich.text import Text

from lensforge.cli._client import when
from lensforge.cli.output import console
from lensforge.client import Checkpoint, Job, JobDetail, LogLine, MetricPoint

STATUS_STYLE = {
    "pending": "dim",
    "queued": "dim",
    "preparing": "cyan",
    "running": "bold cyan",
    "completed": "green",
    "failed": "bold red",
    "cancelled": "yellow",
}
LEVEL_STYLE = {
    "DEBUG": "dim",
    "INFO": "",
    "WARNING": "yellow",
    "ERROR": "red",
    "CRITICAL": "bold red",
}
MAX_METRIC_COLUMNS = 12
SHORT_ID = 8


def status(value: str) -> str:
    """The status as Rich markup, coloured by meaning."""
    style = STATUS_STYLE.get(value, "")
    return f"[{style}]{escape(value)}[/]" if style else escape(value)


def number(value: float | None) -> str:
    """A metric for people: 4 significant digits, `-` for none, `nan` for a diverged value."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return f"{value:.4g}"


def metrics_line(metrics: Mapping[str, float | None]) -> str:
    return "  ".join(f"{name} {number(value)}" for name, value in metrics.items())


def progress_text(job: Job) -> str:
    if job.epoch is None:
        return "-"
    return f"{job.epoch}/{job.total_epochs}" if job.total_epochs else str(job.epoch)


# --- jobs --------------------------------------------------------------------------------------


def jobs_table(jobs: list[Job], project_names: Mapping[uuid.UUID, str] | None = None) -> Table:
    """Ids are cut to `SHORT_ID` characters, which the jobs commands accept as a prefix. The
    project is shown only when the jobs belong to more than one."""
    projects = {job.project_id for job in jobs}
    names = project_names if project_names is not None and len(projects) > 1 else None
    table = Table(
        Column("ID", no_wrap=True),
        Column("Name", overflow="fold", min_width=8),
        *([Column("Project", overflow="fold", min_width=6)] if names is not None else []),
        Column("Model", overflow="fold", min_width=8),
        Column("Status", no_wrap=True),
        Column("Epoch", no_wrap=True),
        Column("Created", no_wrap=True),
    )
    for job in jobs:
        project = [escape(names.get(job.project_id, str(job.project_id)))] if names else []
        table.add_row(
            str(job.id)[:SHORT_ID],
            escape(job.name),
            *project,
            escape(f"{job.trainer}/{job.model}"),
            status(job.status),
            progress_text(job),
            when(job.created_at),
        )
    return table


def print_job(job: JobDetail) -> None:
    """The summary: what it trains on, where it stands, and why."""
    console.print(f"[bold]{escape(job.name)}[/] ({job.id})")
    console.print(f"  status: {status(job.status)}" + _reason(job.status_reason))
    console.print(
        f"  trainer: {escape(job.trainer)} {escape(job.trainer_version)}   "
        f"model: {escape(job.model)}   task: {escape(job.task)}"
    )
    console.print(
        f"  dataset: {job.dataset_id} (content hash {job.dataset_content_hash[:12]})   "
        f"queue: {escape(job.queue)}   priority: {job.priority}"
    )
    console.print(
        f"  epoch: {progress_text(job)}   attempts: {job.attempt_count}/{job.max_attempts}"
        + (f"   best: {escape(job.best_metric_name)} " if job.best_metric_name else "")
        + (
            f"{number(job.best_metric_value)} (epoch {job.best_epoch})"
            if job.best_metric_name
            else ""
        )
    )
    console.print(
        f"  created: {when(job.created_at)}   started: {when(job.started_at)}   "
        f"finished: {when(job.finished_at)}"
    )
    if job.cancel_requested_at is not None and not job.finished:
        console.print(f"  cancel requested at {when(job.cancel_requested_at)}", style="yellow")
    if job.workflow_id:
        console.print(
            f"  workflow: {escape(job.workflow_id)} ({job.orchestrator})"
            + (f"   {escape(job.workflow_url)}" if job.workflow_url else "")
        )


def _reason(reason: str) -> str:
    return f" — {escape(reason)}" if reason else ""


def attempts_table(job: JobDetail) -> Table:
    table = Table(
        "#",
        "Status",
        "Worker",
        "Started",
        "Finished",
        "Exit",
        Column("Error", overflow="fold", ratio=1),
        title="Attempts",
        title_justify="left",
    )
    for attempt in job.attempts:
        error = ": ".join(part for part in (attempt.error_type, attempt.error_message) if part)
        table.add_row(
            str(attempt.number),
            status(attempt.status),
            escape(attempt.worker_id or "-"),
            when(attempt.started_at),
            when(attempt.finished_at),
            "-" if attempt.exit_code is None else str(attempt.exit_code),
            escape(error),
        )
    return table


def transitions_table(job: JobDetail) -> Table:
    table = Table(
        "At",
        "From",
        "To",
        "Attempt",
        Column("Reason", overflow="fold", ratio=1),
        title="Transitions",
        title_justify="left",
    )
    for item in job.transitions:
        table.add_row(
            item.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            status(item.from_status) if item.from_status else "-",
            status(item.to_status),
            "-" if item.attempt_number is None else str(item.attempt_number),
            escape(item.reason),
        )
    return table


def checkpoints_table(checkpoints: Iterable[Checkpoint]) -> Table:
    table = Table(
        "Kind",
        "Epoch",
        "Attempt",
        "Size",
        Column("Metrics", overflow="fold", ratio=1),
        title="Checkpoints",
        title_justify="left",
    )
    for checkpoint in checkpoints:
        table.add_row(
            escape(checkpoint.kind),
            "-" if checkpoint.epoch is None else str(checkpoint.epoch),
            "-" if checkpoint.attempt_number is None else str(checkpoint.attempt_number),
            decimal(checkpoint.size_bytes),
            escape(metrics_line(checkpoint.metrics)),
        )
    return table


# --- metrics and logs --------------------------------------------------------------------------


def metric_names(points: Iterable[MetricPoint]) -> list[str]:
    """Every metric reported, in the order first seen."""
    names: dict[str, None] = {}
    for point in points:
        names.update(dict.fromkeys(point.values))
    return list(names)


def metrics_table(points: list[MetricPoint]) -> Table:
    """One row per step (epoch), one column per metric (the first `MAX_METRIC_COLUMNS`)."""
    names = metric_names(points)[:MAX_METRIC_COLUMNS]
    table = Table("Epoch", "Step", *(Column(escape(n), justify="right") for n in names))
    for point in points:
        table.add_row(
            "-" if point.epoch is None else str(point.epoch),
            str(point.step),
            *(number(point.values.get(name)) for name in names),
        )
    return table


def log_text(line: LogLine) -> Text:
    """`12:03:04 INFO    #1 message`: the time, the level coloured, the attempt."""
    style = LEVEL_STYLE.get(line.level.upper(), "")
    text = Text()
    text.append(line.logged_at.astimezone().strftime("%H:%M:%S "), style="dim")
    text.append(f"{line.level.upper():<8}", style=style or None)
    text.append(f" #{line.attempt_number} ", style="dim")
    if line.source not in ("trainer", ""):
        text.append(f"[{line.source}] ", style="dim")
    text.append(line.message, style=style if line.level.upper() != "INFO" else None)
    return text
