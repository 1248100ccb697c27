"""How the job page presents what the API says: attempts by what happened to them, checkpoint
metrics as table columns, the trainer's evaluation artifacts. Pure functions of API answers."""

from __future__ import annotations

import re
from typing import Any

# Learning rates are a schedule, not a result: they stay in the charts, not the metric columns.
_LEARNING_RATE = re.compile(r"(^|/)(lr|learning_rate)(\d*)(/|$)", re.IGNORECASE)


def attempt_rows(attempts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each attempt with the label and colour of what it means for the job.

    An attempt the worker lost (killed, machine gone) that a later attempt took over is an
    interruption the platform recovered from, not a failure: it reads "interrupted" (neutral),
    and the one that took over "resumed" (or "restarted" when it started over). Only a lost
    attempt nothing followed is shown as lost (red)."""
    rows = []
    numbers = {a["number"] for a in attempts}
    for attempt in attempts:
        status = str(attempt["status"])
        followed = attempt["number"] + 1 in numbers
        label, tone = status, status
        if status == "lost" and followed:
            label, tone = "interrupted", "interrupted"
        note = ""
        if attempt.get("resumed_from"):
            note = "resumed from the last checkpoint"
        elif attempt["number"] > 1:
            note = "started over"
        if status == "lost":
            note = (note + "; " if note else "") + (
                f"taken over by attempt {attempt['number'] + 1}"
                if followed
                else "the worker lost it"
            )
        rows.append(
            {
                **attempt,
                "label": label,
                "tone": tone,
                "origin": "resumed" if attempt.get("resumed_from") else None,
                "note": note,
            }
        )
    return rows


def metric_columns(checkpoints: list[dict[str, Any]]) -> list[str]:
    """The checkpoints' metric names, validation ones first, learning rates left out."""
    names: list[str] = []
    for checkpoint in checkpoints:
        for name in checkpoint.get("metrics") or {}:
            if name not in names and not _LEARNING_RATE.search(name):
                names.append(name)
    return sorted(names, key=lambda n: (not n.startswith("val"), names.index(n)))


def artifact_sections(
    artifacts: list[dict[str, Any]], tables: dict[str, Any], current_attempt: int
) -> dict[str, Any]:
    """Tables (with their data) and plots, sample prediction images last among the plots;
    `earlier` when they came from an attempt before the current one (a restarted job shows its
    previous evaluation until the new run reports its own)."""
    shown_tables = [{**a, "table": tables[a["name"]]} for a in artifacts if a["name"] in tables]
    plots = [a for a in artifacts if a["kind"] == "plot"]
    plots.sort(key=lambda a: ("pred" in a["name"] or "batch" in a["name"], a["name"]))
    attempt = max((a["attempt_number"] for a in artifacts), default=None)
    return {
        "tables": shown_tables,
        "plots": plots,
        "attempt": attempt,
        "earlier": attempt is not None and attempt < current_attempt,
    }


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def fitting_trainers(trainers: list[dict[str, Any]], task: str | None) -> list[dict[str, Any]]:
    """The trainers that can train `task`, best fit first: a trainer with models made for this
    task (Ultralytics' `yolo11n` for detection) before one whose models take any task (the
    reference trainer's generic classifiers). Without a task, all of them as listed."""
    if task is None:
        return list(trainers)

    def dedicated(trainer: dict[str, Any]) -> bool:
        return any(m.get("tasks") == [task] for m in trainer["manifest"].get("models") or [])

    able = [t for t in trainers if task in (t["manifest"].get("tasks") or [])]
    return sorted(able, key=lambda t: not dedicated(t))


def models_for_task(trainer: dict[str, Any], task: str | None) -> list[dict[str, Any]]:
    """The trainer's models that train `task` (all of them when none does or no task)."""
    models = list(trainer["manifest"].get("models") or [])
    fitting = [m for m in models if task is None or task in (m.get("tasks") or [])]
    return fitting or models
