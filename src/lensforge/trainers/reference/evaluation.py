"""The reference trainer's final evaluation, reported as job artifacts: per-class precision,
recall and support as a table, and the confusion matrix as a small PNG (drawn with Pillow).

The reference trainer classifies samples (whole images, or labelled objects' box crops), so its
per-class numbers are those of a classifier: precision and recall of each class over the
validation samples, not a detector's average precision.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from lensforge.sdk import SDKError, Trainer
from lensforge.trainers.reference.data import Vector
from lensforge.trainers.reference.model import TrainState, argmax

CELL = 48
Cell = str | float | int | None
MARGIN = 96


def confusion(state: TrainState, samples: list[Vector], labels: list[int]) -> list[list[int]]:
    """counts[true][predicted] over the samples."""
    size = len(state.classes)
    counts = [[0] * size for _ in range(size)]
    for x, y in zip(samples, labels, strict=True):
        counts[y][argmax(state.probabilities(x))] += 1
    return counts


def per_class_rows(classes: Sequence[str], counts: list[list[int]]) -> list[list[Cell]]:
    rows: list[list[Cell]] = []
    for index, name in enumerate(classes):
        true_positive = counts[index][index]
        support = sum(counts[index])
        predicted = sum(row[index] for row in counts)
        precision = true_positive / predicted if predicted else None
        recall = true_positive / support if support else None
        rows.append([name, support, _round(precision), _round(recall)])
    return rows


def confusion_png(classes: Sequence[str], counts: list[list[int]]) -> bytes:
    """Rows: the true class; columns: the predicted one; darker = more samples."""
    import io

    size = len(classes)
    width = height = MARGIN + CELL * size + 8
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default()
    top = max((max(row) for row in counts), default=0) or 1
    for true, row in enumerate(counts):
        for predicted, count in enumerate(row):
            shade = 255 - int(200 * count / top)
            x, y = MARGIN + predicted * CELL, MARGIN + true * CELL
            draw.rectangle([x, y, x + CELL - 1, y + CELL - 1], fill=(shade, shade, 255))
            draw.text(
                (x + 6, y + CELL // 3),
                str(count),
                fill="black" if shade > 120 else "white",
                font=font,
            )
    for index, name in enumerate(classes):
        draw.text((4, MARGIN + index * CELL + CELL // 3), name[:14], fill="black", font=font)
        draw.text((MARGIN + index * CELL + 4, MARGIN - 16), name[:7], fill="black", font=font)
    draw.text((MARGIN, 8), "predicted ->", fill="black", font=font)
    draw.text((4, MARGIN - 16), "true", fill="black", font=font)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def report_evaluation(
    trainer: Trainer, state: TrainState, samples: list[Vector], labels: list[int]
) -> None:
    """Send the table and the plot; a refusal is logged, never fails the training."""
    counts = confusion(state, samples, labels)
    try:
        trainer.report_table(
            "per_class.json",
            ["class", "val samples", "precision", "recall"],
            per_class_rows(state.classes, counts),
            title="Per-class precision and recall (validation samples)",
        )
        trainer.report_artifact(
            "confusion_matrix.png",
            confusion_png(state.classes, counts),
            kind="plot",
            title="Confusion matrix (validation samples)",
        )
    except SDKError as exc:
        trainer.warning(f"the evaluation plots were not stored: {exc}")


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
