"""ImageFolder classification (also Ultralytics/Roboflow classification and CVAT ImageNet).

Layouts: `<class>/<image>` at the root, or `<split>/<class>/<image>` with split folders
`train`, `val`/`valid`/`validation`, `test`. Images may sit in sub-folders of a class folder.
Classes are the sorted union of the class folder names (Ultralytics sorts them too). An item's
name keeps its class folder (`cat/1.jpg`), since `cat/1.jpg` and `dog/1.jpg` are common.

Roboflow's multi-label export is read too: `<split>/_classes.csv` beside the images, header
`filename, cls_a, cls_b` (spaces after commas), rows of one-hot 0/1.
"""

from __future__ import annotations

import csv
import io
import os
import posixpath

from lensforge.formats.files import FileIndex, is_split_name, normalize_split, relative_to
from lensforge.formats.geometry import AnnotationBuilder
from lensforge.formats.model import DatasetManifest, Split, Task
from lensforge.formats.readers._common import PendingItem, ReadContext, finalize
from lensforge.formats.validation import ValidationReport

CSV_NAME = "_classes.csv"


def _folder_items(
    ctx: ReadContext, folder: str, split: Split | None, classes: set[str]
) -> list[tuple[str, str, Split | None, str]]:
    """(image, name, split, class) for the class folders in `folder`."""
    out: list[tuple[str, str, Split | None, str]] = []
    for rel in ctx.scan_images(ctx.index.files_in(folder)):
        ctx.issue("missing_label", "image outside any class folder; ignored", rel)
    for cls in ctx.index.children(folder):
        classes.add(cls)
        class_dir = posixpath.join(folder, cls) if folder else cls
        for rel in ctx.scan_images(ctx.index.under(class_dir)):
            out.append((rel, posixpath.join(cls, relative_to(rel, class_dir)), split, cls))
    return out


def _csv_items(
    ctx: ReadContext, folder: str, split: Split | None
) -> tuple[list[str], list[PendingItem]] | None:
    rel = posixpath.join(folder, CSV_NAME) if folder else CSV_NAME
    text = ctx.read_text(rel)
    if text is None:
        return None
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # a NUL byte, a field over the csv module's size limit, ...
        ctx.issue("invalid_structure", f"not a readable CSV file: {exc}", rel)
        return None
    if not rows or len(rows[0]) < 2:
        ctx.issue("invalid_structure", "expected a header 'filename, class, ...'", rel)
        return None
    classes = [h.strip() for h in rows[0][1:]]
    pending: list[PendingItem] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        values = [v.strip() for v in row]
        if len(values) != len(classes) + 1 or any(v not in ("0", "1") for v in values[1:]):
            ctx.issue(
                "invalid_structure", "expected a file name and one 0/1 per class", rel, line=lineno
            )
            continue
        image = ctx.index.find(posixpath.join(folder, values[0]) if folder else values[0])
        if image is None:
            ctx.issue("missing_image", f"{values[0]!r} is not in the dataset", rel, line=lineno)
            continue
        labels = [i for i, v in enumerate(values[1:]) if v == "1"]
        pending.append(PendingItem(image=image, name=values[0], split=split, labels=labels))
    return classes, pending


def read_imagefolder_index(
    index: FileIndex, task: Task | None = None, report: ValidationReport | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    ctx = ReadContext(index, report)
    top = index.children("")
    has_splits = any(is_split_name(d) for d in top)
    folders: list[tuple[str, Split | None]] = []
    source_splits: dict[str, Split | None] = {}
    if has_splits:
        for d in top:
            split = normalize_split(d)
            if split is None:
                ctx.issue("unexpected_directory", "not a split folder (train/val/test)", d)
                continue
            folders.append((d, split))
            source_splits[d] = split
    else:
        folders.append(("", None))
    csv_folders = [(f, s) for f, s in folders if index.exists(posixpath.join(f, CSV_NAME))]
    pending: list[PendingItem] = []
    if csv_folders:
        class_list: list[str] | None = None
        for folder, split in csv_folders:
            got = _csv_items(ctx, folder, split)
            if got is None:
                continue
            if class_list is not None and got[0] != class_list:
                ctx.issue(
                    "inconsistent_categories",
                    f"classes {got[0]} differ from {class_list}",
                    posixpath.join(folder, CSV_NAME),
                )
                continue
            class_list = got[0]
            pending += got[1]
        classes = class_list or []
    else:
        found: set[str] = set()
        raw = [r for folder, split in folders for r in _folder_items(ctx, folder, split, found)]
        classes = sorted(found)
        ids = {c: i for i, c in enumerate(classes)}
        pending = [PendingItem(image=i, name=n, split=s, labels=[ids[c]]) for i, n, s, c in raw]
    if len(set(classes)) != len(classes) or any(not c for c in classes):
        ctx.issue("invalid_class_names", "class names must be non-empty and unique", None)
        classes = [str(i) for i in range(len(classes))]
    builder = AnnotationBuilder(ctx.report, Task.CLASSIFICATION, len(classes))
    items = finalize(ctx, pending, builder)
    manifest = DatasetManifest(
        task=Task.CLASSIFICATION,
        classes=classes,
        items=items,
        source_format="imagefolder",
        source_splits=source_splits,
    )
    return manifest, ctx.report


def read_imagefolder(
    path: str | os.PathLike[str] | FileIndex, task: Task | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    """Read an ImageFolder classification directory."""
    index = path if isinstance(path, FileIndex) else FileIndex(path)
    return read_imagefolder_index(index, task)
