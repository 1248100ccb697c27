"""One reader per format. Each takes a directory (or a prebuilt `FileIndex`) and an optional
task, and returns `(DatasetManifest, ValidationReport)`; problems in the data are issues in the
report, never exceptions."""

from __future__ import annotations

from collections.abc import Callable

from lensforge.formats.files import FileIndex
from lensforge.formats.model import DatasetManifest, Task
from lensforge.formats.readers.coco import read_coco, read_coco_index
from lensforge.formats.readers.imagefolder import read_imagefolder, read_imagefolder_index
from lensforge.formats.readers.native import read_native, read_native_index
from lensforge.formats.readers.voc import read_voc, read_voc_index
from lensforge.formats.readers.yolo import read_yolo
from lensforge.formats.validation import ValidationReport

Reader = Callable[[FileIndex, Task | None], tuple[DatasetManifest, ValidationReport]]

READERS: dict[str, Reader] = {
    "native": read_native_index,
    "coco": read_coco_index,
    "yolo": read_yolo,
    "voc": read_voc_index,
    "imagefolder": read_imagefolder_index,
}

__all__ = [
    "READERS",
    "Reader",
    "read_coco",
    "read_imagefolder",
    "read_native",
    "read_voc",
    "read_yolo",
]
