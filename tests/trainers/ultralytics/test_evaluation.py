"""Which of Ultralytics' validation outputs become job artifacts, and how its per-class
summary becomes a table (numpy scalars as plain numbers): no torch needed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lensforge.trainers.ultralytics.evaluation import per_class_table, plot_files


class _Scalar:
    """Stands in for a numpy scalar: a value behind `.item()`."""

    def __init__(self, value: float | int) -> None:
        self.value = value

    def item(self) -> float | int:
        return self.value


class _Metrics:
    def summary(self) -> list[dict[str, Any]]:
        return [
            {
                "Class": "raccoon",
                "Images": _Scalar(40),
                "Instances": _Scalar(44),
                "Box-P": _Scalar(0.8123456),
                "mAP50-95": float("nan"),
            },
        ]


def test_the_per_class_summary_becomes_a_table() -> None:
    columns, rows = per_class_table(_Metrics())
    assert columns == ["Class", "Images", "Instances", "Box-P", "mAP50-95"]
    assert rows == [["raccoon", 40, 44, 0.81235, None]]


def test_classification_has_no_per_class_table() -> None:
    class Classify:
        def summary(self) -> list[dict[str, Any]]:
            return [{"classify": "all", "top1_acc": 0.9}]

    assert per_class_table(Classify()) == ([], [])
    assert per_class_table(object()) == ([], [])


def test_the_plots_reported_and_their_order(tmp_path: Path) -> None:
    for name in (
        "BoxPR_curve.png", "MaskPR_curve.png", "BoxF1_curve.png", "confusion_matrix.png",
        "confusion_matrix_normalized.png", "val_batch0_labels.jpg", "val_batch0_pred.jpg",
        "val_batch1_pred.jpg", "val_batch2_pred.jpg", "val_batch3_pred.jpg",
    ):  # fmt: skip
        (tmp_path / name).write_bytes(b"x")
    assert [(p.name, title) for p, title in plot_files(tmp_path)] == [
        ("BoxPR_curve.png", "Precision-recall curve"),
        ("MaskPR_curve.png", "Precision-recall curve"),
        ("confusion_matrix.png", "Confusion matrix"),
        ("val_batch0_pred.jpg", "Predictions on validation images"),
        ("val_batch1_pred.jpg", "Predictions on validation images"),
        ("val_batch2_pred.jpg", "Predictions on validation images"),
    ]
