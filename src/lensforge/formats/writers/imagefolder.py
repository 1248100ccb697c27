"""ImageFolder classification: `<split>/<class>/<image>`, or `<class>/<image>` when no item has
a split. An item's name already starts with its class folder when it came from an ImageFolder
(`cat/1.jpg`); that folder is not repeated. Items without a label are skipped (reported in the
result); multi-label items and a mix of split and unsplit items cannot be expressed."""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from lensforge.formats.errors import DatasetWriteError
from lensforge.formats.model import DatasetManifest, Item, Task
from lensforge.formats.writers._common import ImageSource, WriteResult, place_image, staging


def _relative(item: Item, cls: str) -> str:
    prefix = cls + "/"
    return item.file_name[len(prefix) :] if item.file_name.startswith(prefix) else item.file_name


def _folder_name(name: str) -> bool:
    """A class name usable as one folder: no separators, not hidden, not `.`/`..`."""
    return bool(name) and not name.startswith(".") and not any(c in name for c in "/\\\0")


def write_imagefolder(
    manifest: DatasetManifest, dest: str | os.PathLike[str], image_source: ImageSource
) -> WriteResult:
    if manifest.task is not Task.CLASSIFICATION:
        raise DatasetWriteError("ImageFolder holds classification datasets only")
    multi = [i.file_name for i in manifest.items if len(set(i.labels)) > 1]
    if multi:
        raise DatasetWriteError(
            f"ImageFolder cannot hold multi-label images ({len(multi)}, e.g. {multi[0]}); "
            "use the native format"
        )
    unsafe = [c for c in manifest.classes if not _folder_name(c)]
    if unsafe:
        raise DatasetWriteError(f"class names {unsafe} cannot be folder names")
    splits = {i.split for i in manifest.items if i.labels}
    if None in splits and len(splits) > 1:
        raise DatasetWriteError("ImageFolder cannot mix items with and without a split")
    taken: set[str] = set()
    plan: list[tuple[str, Item]] = []
    result = WriteResult(path=Path(dest))
    for item in sorted(manifest.items, key=lambda i: (i.file_name, i.split or "")):
        if not item.labels:
            result.skipped.append(f"{item.split or ''}/{item.file_name}: no label")
            continue
        cls = manifest.classes[item.labels[0]]
        rel = posixpath.join(cls, _relative(item, cls))
        if item.split:
            rel = posixpath.join(item.split, rel)
        stem, ext = posixpath.splitext(rel)
        n = 0
        while rel.casefold() in taken:
            n += 1
            rel = f"{stem}_{n}{ext}"
        if n:
            result.renamed[f"{item.split or ''}/{item.file_name}"] = rel
        taken.add(rel.casefold())
        plan.append((rel, item))
    with staging(dest) as out:
        for rel, item in plan:
            place_image(image_source, item, out / rel)
            result.images += 1
    return result
