"""One writer per format: `(manifest, dest, image_source) -> WriteResult`."""

from __future__ import annotations

import os
from collections.abc import Callable

from lensforge.formats.model import DatasetManifest
from lensforge.formats.writers._common import ImageSource, WriteResult
from lensforge.formats.writers.coco import write_coco
from lensforge.formats.writers.imagefolder import write_imagefolder
from lensforge.formats.writers.native import write_native
from lensforge.formats.writers.voc import write_voc
from lensforge.formats.writers.yolo import write_yolo

Writer = Callable[[DatasetManifest, str | os.PathLike[str], ImageSource], WriteResult]

WRITERS: dict[str, Writer] = {
    "native": write_native,
    "coco": write_coco,
    "yolo": write_yolo,
    "imagefolder": write_imagefolder,
    "voc": write_voc,
}

__all__ = [
    "WRITERS",
    "ImageSource",
    "WriteResult",
    "Writer",
    "write_coco",
    "write_imagefolder",
    "write_native",
    "write_voc",
    "write_yolo",
]
