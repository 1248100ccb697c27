"""`read_dataset` and `write_dataset`: the entry points the datasets service and trainers use."""

from __future__ import annotations

import os
from collections.abc import Mapping

from lensforge.formats.detect import FORMATS, detect_format
from lensforge.formats.errors import UnsupportedFormat
from lensforge.formats.files import FileIndex
from lensforge.formats.images import ImagePolicy
from lensforge.formats.model import DatasetManifest, Task
from lensforge.formats.readers import READERS
from lensforge.formats.validation import ValidationReport
from lensforge.formats.writers import WRITERS, ImageSource, WriteResult

TASKS_OF: dict[str, frozenset[Task]] = {
    "native": frozenset(Task),
    "yolo": frozenset(Task),
    "coco": frozenset({Task.DETECTION, Task.SEGMENTATION, Task.POSE}),
    "voc": frozenset({Task.DETECTION}),
    "imagefolder": frozenset({Task.CLASSIFICATION}),
}
"""The tasks each format can hold."""


def _task(task: str | Task | None) -> Task | None:
    if task is None or isinstance(task, Task):
        return task
    try:
        return Task(task)
    except ValueError:
        raise UnsupportedFormat(
            f"unknown task {task!r}; choose one of {', '.join(t.value for t in Task)}"
        ) from None


def _check(format: str, task: Task | None, available: Mapping[str, object]) -> None:
    if format not in available:
        raise UnsupportedFormat(
            f"unknown format {format!r}; choose one of {', '.join(sorted(available))}"
        )
    if task is not None and task not in TASKS_OF[format]:
        raise UnsupportedFormat(f"{format} cannot hold {task.value} datasets")


def read_dataset(
    path: str | os.PathLike[str],
    format: str | None = None,
    task: str | Task | None = None,
    image_policy: ImagePolicy | None = None,
) -> tuple[DatasetManifest, ValidationReport]:
    """Read a dataset directory (an extracted archive) into a manifest and a report.

    `format` None auto-detects (see `detect_format`); `task` None lets the reader infer it.
    A directory that wraps everything in one top folder is read from inside it. Raises
    `FormatNotDetected`/`UnsupportedFormat` when it cannot start; problems inside the data are
    issues in the report (`report.has_errors` means nothing should be imported).
    `image_policy` sets the pixel limit and whether unusable images are skipped.
    """
    wanted = _task(task)
    index = FileIndex(path, image_policy=image_policy)
    if format is None:
        format = detect_format(index).format
    _check(format, wanted, READERS)
    manifest, report = READERS[format](index, wanted)
    _report_nested_archives(index, report)
    return manifest, report


ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz",
                    ".7z", ".rar")  # fmt: skip
"""Names of archives: one inside the dataset is not opened, and the report says so."""


def _report_nested_archives(index: FileIndex, report: ValidationReport) -> None:
    for rel in index.files:
        if rel.lower().endswith(ARCHIVE_SUFFIXES):
            report.add(
                "nested_archive",
                "an archive inside the dataset is not extracted: nothing in it is imported "
                "(extract it into the folder, or import it on its own)",
                file=index.display(rel),
            )


def write_dataset(
    manifest: DatasetManifest,
    format: str,
    dest: str | os.PathLike[str],
    image_source: ImageSource,
) -> WriteResult:
    """Write `manifest` as `format` ("yolo", "coco", "voc", "imagefolder", "native") into `dest`, a
    folder that must not exist yet or be empty. `image_source` is a directory (images at each
    item's `source_path`) or a callable giving an item's image path or opener."""
    _check(format, manifest.task, WRITERS)
    return WRITERS[format](manifest, dest, image_source)


__all__ = ["FORMATS", "TASKS_OF", "read_dataset", "write_dataset"]
