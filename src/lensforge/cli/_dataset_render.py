"""How datasets look in a terminal: import reports, versions, class histograms, diffs, and the
progress bars of uploads, imports and downloads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from rich.filesize import decimal
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Column, Table

from lensforge.cli._client import when
from lensforge.cli.output import EXIT_INTERRUPTED, console, err_console
from lensforge.client import DatasetImport, DatasetVersion, ImportIssue, VersionDiff, VersionStats

MAX_ISSUE_ROWS = 50
BAR_WIDTH = 24
_SEVERITY_STYLE = {"error": "bold red", "warning": "yellow"}
_STATUS_STYLE = {"succeeded": "green", "failed": "bold red", "running": "cyan", "pending": "dim"}


# --- progress ----------------------------------------------------------------------------------


T = TypeVar("T")


def transfer_progress() -> Progress:
    """Bytes moved, speed and time left (on stderr, so `--json` output stays clean)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
    )


def resumable_upload(label: str, send: Callable[[Callable[[int, int], None]], T]) -> T:
    """`send(on_progress)` under a transfer bar named `upload <label>`. The bar is created at the
    first report, so bytes sent in an earlier run (a resume) do not count towards the speed
    shown. Ctrl-C says how to resume and exits 130."""
    with transfer_progress() as progress:
        task: TaskID | None = None

        def advance(done: int, total: int) -> None:
            nonlocal task
            if task is None:
                task = progress.add_task(f"upload {label}", total=total, completed=done)
                if done:
                    progress.console.print(
                        f"resuming: {decimal(done)} of {decimal(total)} already on the server"
                    )
            else:
                progress.update(task, completed=done)

        try:
            return send(advance)
        except KeyboardInterrupt:
            progress.stop()
            err_console.print("upload interrupted; run the same command again to resume it")
            raise typer.Exit(EXIT_INTERRUPTED) from None


class ImportProgressBar:
    """Follows an import's phases: the phase's name, and done/total where the phase counts."""

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err_console,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> ImportProgressBar:
        self.progress.start()
        self._task = self.progress.add_task("import: queued", total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, record: DatasetImport) -> None:
        if self._task is None:
            return
        phase = record.status if record.finished else record.phase or record.status
        total = record.progress_total or None
        done = record.progress_done
        if record.succeeded:
            total = done = record.progress_total or 1  # a full bar, whatever the last phase
        self.progress.update(
            self._task, description=f"import: {phase}", total=total, completed=done
        )


# --- imports -----------------------------------------------------------------------------------


def _where(issue: ImportIssue) -> str:
    if issue.line is not None:
        return f"line {issue.line}"
    if issue.object_index is not None:
        return f"object {issue.object_index}"
    return ""


def print_import(record: DatasetImport, version: DatasetVersion | None) -> None:
    """Status, the report's summary and issues (errors first, at most `MAX_ISSUE_ROWS`), and
    the version made."""
    style = _STATUS_STYLE.get(record.status, "")
    fmt = record.detected_format or record.requested_format
    console.print(
        f"import {record.id}: [{style}]{record.status}[/]" + (f" (format {fmt})" if fmt else "")
    )
    if record.error:
        console.print(f"[bold red]{escape(record.error)}[/]")
    report = record.report
    if report is not None:
        if report.summary:
            console.print(escape(report.summary))
        issues = report.errors + report.warnings
        if issues:
            console.print(issues_table(issues[:MAX_ISSUE_ROWS]))
        hidden = sum(report.counts.values()) - min(len(issues), MAX_ISSUE_ROWS)
        if hidden > 0:
            console.print(
                f"… and {hidden} more; use --json (`lensforge datasets report {record.id} "
                "--json`) for everything",
                style="dim",
            )
    if version is not None:
        console.print(
            f"version [bold]{version.number}[/]: {version.item_count} images, "
            f"{version.annotation_count} objects   content hash {version.content_hash}"
        )
    elif not record.finished:
        console.print(f"follow it with `lensforge datasets report {record.id}`", style="dim")


def issues_table(issues: list[ImportIssue]) -> Table:
    table = Table(
        Column("Severity", no_wrap=True),
        Column("Code", no_wrap=True),
        Column("File", overflow="fold"),
        Column("Where", no_wrap=True),
        Column("Message", overflow="fold", ratio=1),
    )
    for issue in issues:
        style = _SEVERITY_STYLE.get(issue.severity, "")
        table.add_row(
            f"[{style}]{escape(issue.severity)}[/]",
            escape(issue.code),
            escape(issue.file or ""),
            _where(issue),
            escape(issue.message),
        )
    return table


# --- versions ----------------------------------------------------------------------------------


def split_counts(version: DatasetVersion) -> str:
    order = {"train": 0, "val": 1, "test": 2}
    counts = sorted(version.split_counts.items(), key=lambda kv: (order.get(kv[0], 9), kv[0]))
    return " · ".join(f"{name} {count}" for name, count in counts) or "-"


def _origin(version: DatasetVersion) -> str:
    kind = str(version.source.get("kind", ""))
    if kind == "split":
        return f"split of v{version.source.get('from_version', '?')}"
    fmt = version.source.get("format")
    return f"{kind} ({fmt})" if kind and fmt else kind or "-"


def versions_table(versions: list[DatasetVersion]) -> Table:
    table = Table("Version", "Images", "Objects", "Train/Val/Test", "Warnings", "Hash", "From")
    for version in versions:
        counts = version.split_counts
        table.add_row(
            str(version.number),
            str(version.item_count),
            str(version.annotation_count),
            "/".join(str(counts.get(name, 0)) for name in ("train", "val", "test")),
            str(version.warning_count),
            version.content_hash[:12],
            escape(_origin(version)),
        )
    return table


def print_version(version: DatasetVersion) -> None:
    console.print(
        f"version [bold]{version.number}[/]: {version.item_count} images, "
        f"{version.annotation_count} objects, {len(version.classes)} classes"
    )
    console.print(
        f"  splits: {split_counts(version)}   warnings: {version.warning_count}   "
        f"created: {when(version.created_at)}"
    )
    console.print(f"  content hash: {version.content_hash}")
    if version.message:
        console.print(f"  message: {escape(version.message)}")


# --- stats and diffs ---------------------------------------------------------------------------


def _bar(value: int, largest: int) -> str:
    if largest <= 0 or value <= 0:
        return ""
    return "█" * max(1, round(BAR_WIDTH * value / largest))


def print_stats(result: VersionStats) -> None:
    stats = result.stats
    console.print(
        f"version [bold]{result.version}[/] ({stats.task}): {stats.image_count} images, "
        f"{stats.annotation_count} objects, {stats.images_without_annotations} images without "
        f"objects, {result.warning_count} warnings"
    )
    splits = " · ".join(f"{k} {v}" for k, v in stats.split_image_counts.items() if v) or "-"
    console.print(f"  images per split: {splits}")
    split_names = [name for name, split in stats.splits.items() if split.images]
    # Every count column says what it counts: objects (boxes, masks, poses, labels) or images.
    table = Table(
        "ID",
        "Class",
        "Objects",
        "Images with it",
        *(f"{name} objects" for name in split_names),
        Column("", overflow="crop"),
        caption="Objects: annotations of the class · Images with it: images holding at least one",
    )
    largest = max((c.count for c in stats.classes), default=0)
    for cls in stats.classes:
        per_split = [
            str(stats.splits[name].class_counts[cls.id])
            if cls.id < len(stats.splits[name].class_counts)
            else "0"
            for name in split_names
        ]
        table.add_row(
            str(cls.id),
            escape(cls.name),
            str(cls.count),
            str(cls.images),
            *per_split,
            f"[cyan]{_bar(cls.count, largest)}[/]",
        )
    console.print(table)


def print_diff(result: VersionDiff) -> None:
    diff, summary = result.diff, result.diff.summary
    console.print(f"version {result.from_version} → {result.to_version}")
    console.print(
        f"  items: +{summary.items_added} -{summary.items_removed} moved {summary.items_moved} "
        f"changed {summary.items_changed} unchanged {summary.items_unchanged}"
    )
    console.print(
        f"  objects: +{summary.annotations_added} -{summary.annotations_removed}   classes: "
        f"+{summary.classes_added} -{summary.classes_removed} renamed {summary.classes_renamed}"
    )
    rows: list[tuple[str, str, str]] = []
    rows += [("[green]added[/]", i.file_name, i.split or "") for i in diff.added]
    rows += [("[red]removed[/]", i.file_name, i.split or "") for i in diff.removed]
    rows += [
        ("[cyan]moved[/]", i.file_name, f"{i.old_split or '-'} → {i.new_split or '-'}")
        for i in diff.moved
    ]
    rows += [("[yellow]changed[/]", i.file_name, i.split or "") for i in diff.changed]
    if rows:
        table = Table("Change", "File", "Split")
        for change, name, split in rows:
            table.add_row(change, escape(name), escape(split))
        console.print(table)
    if diff.truncated:
        console.print(f"lists cut at {diff.limit} entries each; use --limit", style="dim")
