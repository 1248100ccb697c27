"""What every writer shares: where images come from, staging, and unique output names.

A writer builds the whole dataset in a hidden sibling folder and renames it to `dest` at the
end, so a failure leaves nothing half-written. Images are hard-linked when the source is a file
on the same filesystem, else copied (streamed, never held in memory).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lensforge.formats.errors import DatasetWriteError
from lensforge.formats.model import Item

Opener = Callable[[], BinaryIO]
SourceResult = str | os.PathLike[str] | Opener
ImageSource = str | os.PathLike[str] | Callable[[Item], SourceResult]
"""A directory (images found at `item.source_path`, else `item.file_name`), or a callable
returning, for an item, the image's path or a function that opens it for reading (for images
kept elsewhere, e.g. a cache by sha256)."""


@dataclass
class WriteResult:
    path: Path
    images: int = 0
    skipped: list[str] = field(default_factory=list)
    """Items not written, with the reason."""
    renamed: dict[str, str] = field(default_factory=dict)
    """`split/file_name` -> the name written, where names had to be made unique."""


def _source(source: ImageSource, item: Item) -> SourceResult:
    if isinstance(source, str | os.PathLike):
        return Path(source) / (item.source_path or item.file_name)
    return source(item)


def place_image(source: ImageSource, item: Item, dest: Path) -> None:
    got = _source(source, item)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(got, str | os.PathLike):
        try:
            os.link(got, dest)
        except OSError:
            try:
                shutil.copyfile(got, dest)
            except OSError as exc:
                raise DatasetWriteError(
                    f"cannot copy the image of {item.file_name}: {exc}"
                ) from exc
        return
    with got() as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)


@contextmanager
def staging(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary folder that becomes `dest` when the block succeeds, else disappears."""
    final = Path(dest)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise DatasetWriteError(f"{final} already exists and is not an empty folder")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    try:
        yield tmp
        if final.exists():
            final.rmdir()
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def unique_names(items: Sequence[Item], folder: Callable[[Item], str]) -> dict[int, str]:
    """An output name per item (keyed by `id(item)`) such that no two items in one output
    folder share a name stem, ignoring case (`a.jpg`/`a.png` would share `a.txt`; `A.jpg`/
    `a.jpg` collide on macOS/Windows). Later items, in (file name, split) order, get `_1`,
    `_2`... before the extension."""
    taken: set[tuple[str, str]] = set()
    out: dict[int, str] = {}
    for item in sorted(items, key=lambda i: (i.file_name, i.split or "")):
        where = folder(item)
        stem, ext = posixpath.splitext(item.file_name)
        name, n = item.file_name, 0
        while (where, posixpath.splitext(name)[0].casefold()) in taken:
            n += 1
            name = f"{stem}_{n}{ext}"
        taken.add((where, posixpath.splitext(name)[0].casefold()))
        out[id(item)] = name
    return out


def number(value: float) -> str:
    """A coordinate for a text label: 10 significant digits, no `-0`."""
    text = format(value + 0.0, ".10g")
    return "0" if text == "-0" else text
