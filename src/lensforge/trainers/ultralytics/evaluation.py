"""After training: the final validation of `best` as job artifacts (docs/trainer-contract.md,
"Artifacts"): the per-class precision, recall and AP as a table (data, not a picture), and
Ultralytics' own plots: the PR curve, the confusion matrix and its predictions drawn on the
first validation batches.

Training runs with `plots=False` (no plotting every epoch); this validates `best` once more
with plots on, into its own folder. Nothing here may fail a finished training: a problem is a
warning in the job's log.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from lensforge.sdk import Trainer

# Ultralytics' plot files, by name pattern, with the title shown on the job page. Older
# versions write `PR_curve.png`, newer ones prefix the kind (`BoxPR_curve.png`, `MaskPR_...`).
PLOTS = (
    ("*PR_curve.png", "Precision-recall curve"),
    ("confusion_matrix.png", "Confusion matrix"),
    ("val_batch*_pred.jpg", "Predictions on validation images"),
)
MAX_PREDICTION_BATCHES = 3
TABLE_NAME = "per_class_metrics.json"


def report_final_validation(
    trainer: Trainer, best: Path, data: Path, arguments: dict[str, Any], save_dir: Path
) -> None:
    """Validate `best` with plots on and report the table and the plots."""
    if not best.is_file():
        trainer.warning("no best checkpoint to evaluate: no evaluation plots")
        return
    try:
        from ultralytics import YOLO

        folder = save_dir.parent / "final-val"
        metrics = YOLO(str(best)).val(
            data=str(data),
            imgsz=arguments.get("imgsz"),
            batch=arguments.get("batch"),
            device=arguments.get("device"),
            workers=0,
            plots=True,
            project=str(folder.parent),
            name=folder.name,
            exist_ok=True,
            verbose=False,
        )
        plotted = Path(getattr(metrics, "save_dir", None) or folder)
        columns, rows = per_class_table(metrics)
        if rows:
            trainer.report_table(
                TABLE_NAME, columns, rows, title="Per-class metrics of best (validation)"
            )
        sent = 0
        for path, title in plot_files(plotted):
            trainer.report_artifact(path.name, path, kind="plot", title=title)
            sent += 1
        trainer.info(f"final validation of best: {len(rows)} classes, {sent} plots reported")
    except Exception as exc:  # a plot is not worth failing a trained model for
        trainer.warning(
            f"the final evaluation plots were not reported: {type(exc).__name__}: {exc}"
        )


def plot_files(folder: Path) -> list[tuple[Path, str]]:
    """The plots to report, in page order, each once."""
    found: list[tuple[Path, str]] = []
    for pattern, title in PLOTS:
        paths = sorted(folder.glob(pattern))
        if pattern.startswith("val_batch"):
            paths = paths[:MAX_PREDICTION_BATCHES]
        for path in paths:
            if path.is_file() and all(path != seen for seen, _ in found):
                found.append((path, title))
    return found


def per_class_table(metrics: Any) -> tuple[list[str], list[list[str | float | int | None]]]:
    """Ultralytics' per-class results (`summary()`: one dict per class) as columns and rows;
    none for classification, which has no per-class detection metrics."""
    summary = getattr(metrics, "summary", None)
    if summary is None:
        return [], []
    entries = [dict(e) for e in summary() or [] if isinstance(e, dict)]
    if not entries or "Class" not in entries[0]:
        return [], []
    columns = list(entries[0])
    rows = [[_cell(entry.get(column)) for column in columns] for entry in entries]
    return columns, rows


def _cell(value: Any) -> str | float | int | None:
    if hasattr(value, "item"):  # a numpy scalar (Ultralytics counts are numpy integers)
        value = value.item()
    if value is None or isinstance(value, str | int):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return round(number, 5) if math.isfinite(number) else None
