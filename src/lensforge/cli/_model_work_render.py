"""How model work looks in a terminal: predictions per image, exports and their verification
report, and the trainers × formats table of capabilities."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.filesize import decimal
from rich.markup import escape
from rich.table import Column, Table

from lensforge.cli._client import when
from lensforge.cli._job_render import SHORT_ID, number, status
from lensforge.cli.output import console
from lensforge.client import (
    Capabilities,
    ExportFormat,
    ImageResult,
    ModelExport,
    VerificationReport,
)

MAX_RESULT_ROWS = 50


# --- predictions -------------------------------------------------------------------------------


def _coordinates(values: Sequence[float]) -> str:
    return ", ".join(f"{value:.1f}" for value in values)


def result_table(result: ImageResult) -> Table | str:
    """One image's predictions, highest score first (or a line saying there are none)."""
    timing = f", {result.inference_ms:.1f} ms" if result.inference_ms is not None else ""
    title = f"{escape(result.image)} ({result.width}×{result.height}{timing})"
    if result.classifications is not None:
        if not result.classifications:
            return f"[bold]{title}[/]: no classes"
        table = Table(Column("Class"), Column("Score", justify="right"), title=title)
        for item in result.classifications:
            table.add_row(escape(item.class_name), f"{item.score:.3f}")
        return table
    detections = sorted(result.detections or [], key=lambda d: d.score, reverse=True)
    if not detections:
        return f"[bold]{title}[/]: no detections"
    shapes = any(d.polygon or d.keypoints for d in detections)
    table = Table(
        Column("Class"),
        Column("Score", justify="right"),
        Column("Box (x1, y1, x2, y2)", no_wrap=True),
        *([Column("Shape")] if shapes else []),
        title=title,
    )
    for detection in detections[:MAX_RESULT_ROWS]:
        shape: list[str] = []
        if detection.polygon:
            shape.append(f"{len(detection.polygon)}-point polygon")
        if detection.keypoints:
            shape.append(f"{len(detection.keypoints)} keypoints")
        if detection.angle is not None:
            shape.append(f"angle {detection.angle:.2f} rad")
        table.add_row(
            escape(detection.class_name),
            f"{detection.score:.3f}",
            _coordinates(detection.box),
            *([", ".join(shape)] if shapes else []),
        )
    if len(detections) > MAX_RESULT_ROWS:
        table.caption = f"{MAX_RESULT_ROWS} of {len(detections)} shown; see --json"
    return table


# --- exports -----------------------------------------------------------------------------------


def exports_table(exports: Sequence[ModelExport], job_names: Mapping[str, str]) -> Table:
    """Ids are cut to `SHORT_ID` characters, which the exports commands accept as a prefix. A
    completed export passed its verification (a failed one is `failed`)."""
    table = Table(
        Column("ID", no_wrap=True),
        Column("Model of", overflow="fold", min_width=10),
        Column("Format", no_wrap=True),
        Column("Status", no_wrap=True),
        Column("Size", justify="right", no_wrap=True),
        Column("Created", no_wrap=True),
    )
    for export in exports:
        source = str(export.source_job_id)
        table.add_row(
            str(export.id)[:SHORT_ID],
            f"{escape(job_names.get(source, source[:SHORT_ID]))} ({escape(export.checkpoint)})",
            escape(export.format),
            status(export.status),
            decimal(export.size) if export.size is not None else "-",
            when(export.created_at),
        )
    return table


def _verified(report: VerificationReport | None) -> str:
    if report is None:
        return "-"
    return "[green]passed[/]" if report.passed else "[bold red]failed[/]"


def print_export(export: ModelExport, job_name: str | None = None) -> None:
    """The export's summary, then its verification report when there is one."""
    options = ", ".join(f"{k}={v}" for k, v in export.options.items()) or "defaults"
    source = escape(job_name) if job_name else str(export.source_job_id)
    console.print(f"[bold]export {export.id}[/]: {status(export.status)}")
    console.print(
        f"  model: {escape(export.format)} of job {source} ({export.checkpoint} checkpoint)"
    )
    console.print(f"  options: {escape(options)}")
    size = image_size(export.options.get("imgsz"))
    if size is not None:
        # Asked for until the export ends; then what the trainer reports it exported at.
        console.print(f"  image size: {size}")
    if export.status_reason:
        console.print(f"  reason: {escape(export.status_reason)}")
    if export.size is not None:
        console.print(f"  artifact: {decimal(export.size)}, sha256 {export.sha256 or '-'}")
    if export.verification is not None:
        console.print(verification_table(export.verification))


def image_size(imgsz: object) -> str | None:
    """`640` → "640×640 px", `[480, 640]` (height, width) → "640×480 px" (width first)."""
    if isinstance(imgsz, int) and not isinstance(imgsz, bool):
        return f"{imgsz}×{imgsz} px"
    if isinstance(imgsz, list | tuple) and len(imgsz) == 2:
        height, width = imgsz
        return f"{width}×{height} px"
    return None


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def verification_table(report: VerificationReport) -> Table:
    """The numbers that decide whether the exported model may replace the PyTorch one."""
    verdict = "[green]passed[/]" if report.passed else "[bold red]failed[/]"
    samples = f"on {report.samples} samples" if report.samples is not None else ""
    table = Table(
        Column("Check", no_wrap=True),
        Column("Measured", justify="right", no_wrap=True),
        Column("Limit", justify="right", no_wrap=True),
        title=f"verification {verdict} {samples}".strip(),
        title_justify="left",
        caption_justify="left",
    )
    table.add_row("max abs diff", number(report.max_abs_diff), f"≤ {number(report.tolerance)}")
    table.add_row("mean abs diff", number(report.mean_abs_diff), "")
    table.add_row(
        "detection agreement",
        _ratio(report.detection_agreement),
        f"≥ {_ratio(report.min_agreement)}",
    )
    for name in ("pytorch", "exported"):
        stats = report.latency_ms.get(name)
        if stats is not None:
            table.add_row(
                f"latency {name} (median / p95)",
                f"{number(stats.median)} / {number(stats.p95)} ms",
                "",
            )
    if report.runtime:
        table.caption = f"runtime: {escape(report.runtime)}"
    for failure in report.failures:
        table.add_row("[red]failure[/]", escape(str(failure)), "")
    return table


# --- capabilities ------------------------------------------------------------------------------


def training_table(capabilities: Capabilities) -> Table:
    """What each trainer can train: one row per trainer and task, with the models for it."""
    table = Table(
        Column("Trainer", no_wrap=True),
        Column("Task", no_wrap=True),
        Column("Models", overflow="fold", ratio=1),
        title="What each trainer trains",
        title_justify="left",
    )
    for trainer in capabilities.trainers:
        for index, task in enumerate(trainer.tasks or ["-"]):
            models = [m.name for m in trainer.models if task in m.tasks]
            table.add_row(
                f"{escape(trainer.name)} {escape(trainer.version)}" if index == 0 else "",
                escape(task),
                escape(", ".join(models) or "-"),
            )
        table.add_section()
    return table


def capabilities_table(capabilities: Capabilities) -> Table:
    """One row per trainer and export format: available, or not and the trainer's reason.
    The trainer's name and whether it predicts are on its first row."""
    table = Table(
        Column("Trainer", no_wrap=True),
        Column("Predict", no_wrap=True),
        Column("Format", no_wrap=True),
        Column("Available", no_wrap=True),
        Column("Reason", overflow="fold", ratio=1),
        title="What their models can do",
        title_justify="left",
    )
    for trainer in capabilities.trainers:
        first = [
            f"{escape(trainer.name)} {escape(trainer.version)}",
            "[green]yes[/]" if trainer.predict else "[red]no[/]",
        ]
        formats: list[ExportFormat | None] = [*trainer.export_formats] or [None]
        for index, found in enumerate(formats):
            lead = first if index == 0 else ["", ""]
            if found is None:
                table.add_row(*lead, "-", "-", "exports nothing")
            else:
                table.add_row(
                    *lead,
                    escape(found.format),
                    "[green]yes[/]" if found.available else "[red]no[/]",
                    escape(found.reason or ""),
                )
        table.add_section()
    return table
