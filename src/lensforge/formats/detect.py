"""Which format a directory holds, decided from cheap signals (names, folder layout, the first
bytes of files), in a fixed priority: native > COCO > YOLO > VOC > ImageFolder. The first format
whose signal is present wins, so a COCO export that also carries a `classes.txt` is COCO.

The task is inferred the way the readers infer it (COCO by a byte scan of the JSON for
non-empty `segmentation`s and category `keypoints`, YOLO from `kpt_shape` and label rows),
without parsing whole files twice.
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass

from lensforge.formats.errors import FormatNotDetected
from lensforge.formats.files import FileIndex, head_text
from lensforge.formats.images import is_image_name
from lensforge.formats.layout import looks_like_imagefolder, yolo_label_files
from lensforge.formats.model import Task
from lensforge.formats.readers.coco import find_coco_files
from lensforge.formats.readers.native import find_native_files
from lensforge.formats.readers.yolo_config import find_config

FORMATS: tuple[str, ...] = ("native", "coco", "yolo", "voc", "imagefolder")
"""Format names in detection priority order."""

_SEGMENTATION = re.compile(rb'"segmentation"\s*:\s*(?:\[\s*\[|\[\s*-?\d|\{)')
_CATEGORY_KEYPOINTS = re.compile(rb'"keypoints"\s*:\s*\[\s*"')


@dataclass(frozen=True)
class DetectedFormat:
    format: str
    task: Task
    reason: str
    """What was seen, e.g. 'annotations/instances_default.json'."""
    tasks: tuple[Task, ...] = ()
    """Every task the directory holds annotations for (native may hold several)."""


def _coco_task(index: FileIndex, files: list[str]) -> Task:
    plain_seg = plain = keyed = False
    for rel in files:
        try:
            data = index.path(rel).read_bytes()
        except OSError:
            continue
        if posixpath.basename(rel).startswith("person_keypoints_") or _CATEGORY_KEYPOINTS.search(
            data
        ):
            keyed = True
            continue
        plain = True
        plain_seg = plain_seg or bool(_SEGMENTATION.search(data))
    if plain:
        return Task.SEGMENTATION if plain_seg else Task.DETECTION
    return Task.POSE if keyed else Task.DETECTION


def _yolo_task(index: FileIndex, config: str | None, labels: list[str]) -> Task:
    if config is not None and re.search(
        r"^kpt_shape\s*:", head_text(index.path(config)), re.MULTILINE
    ):
        return Task.POSE
    for rel in labels:
        for line in head_text(index.path(rel), 1 << 20).splitlines():
            if len(line.split()) > 6:
                return Task.SEGMENTATION
    return Task.DETECTION


def _yaml_is_yolo(index: FileIndex, config: str) -> bool:
    return bool(
        re.search(r"^(names|nc|train|val|kpt_shape)\s*:", head_text(index.path(config)), re.M)
    )


def _voc_file(index: FileIndex) -> str | None:
    for checked, rel in enumerate(index.with_suffix(".xml")):
        if "<annotation" in head_text(index.path(rel), 4096):
            return rel
        if checked >= 20:
            break
    return None


def _unsupported_hints(index: FileIndex) -> list[str]:
    hints = []
    for rel in list(index.with_suffix(".json"))[:50]:
        head = head_text(index.path(rel), 4096)
        if '"shapes"' in head and '"imagePath"' in head:
            hints.append(f"{rel} looks like LabelMe; export COCO from LabelMe (labelme2coco)")
            break
        if head.lstrip().startswith("[") and '"data"' in head:
            hints.append(
                f"{rel} looks like a Label Studio JSON export; export 'COCO' or 'YOLO' instead"
            )
            break
    if any(posixpath.basename(d) == "labelTxt" for d in index.dirs):
        hints.append("labelTxt/ holds YOLOv5-OBB (DOTA) labels, which are not supported")
    return hints


def detect_format(path: str | os.PathLike[str] | FileIndex) -> DetectedFormat:
    """Detect the dataset format of a directory; raises `FormatNotDetected` listing what was
    looked for when nothing matches."""
    index = path if isinstance(path, FileIndex) else FileIndex(path)
    native = find_native_files(index)
    if native:
        tasks = tuple(native)
        return DetectedFormat("native", tasks[0], ", ".join(native.values()), tasks)
    coco = [f for f in find_coco_files(index) if head_text(index.path(f), 256).lstrip()[:1] in "{"]
    if coco:
        task = _coco_task(index, coco)
        return DetectedFormat("coco", task, ", ".join(coco[:5]), (task,))
    config = find_config(index)
    labels = yolo_label_files(index)
    if (config and _yaml_is_yolo(index, config)) or (labels and not looks_like_imagefolder(index)):
        task = _yolo_task(index, config, labels)
        return DetectedFormat("yolo", task, config or labels[0], (task,))
    voc = _voc_file(index)
    if voc:
        return DetectedFormat("voc", Task.DETECTION, voc, (Task.DETECTION,))
    if looks_like_imagefolder(index):
        task = Task.CLASSIFICATION
        return DetectedFormat("imagefolder", task, "class folders", (task,))
    raise _not_detected(index)


def _not_detected(index: FileIndex) -> FormatNotDetected:
    images = sum(1 for f in index.files if is_image_name(f))
    looked = [
        "native: annotations_<task>.json at the root",
        "COCO: annotations/*.json, <split>/_annotations.coco.json, result.json, or a JSON "
        "object with an 'images' list at the root or one folder down",
        "YOLO: data.yaml, or .txt labels under labels/ (classes.txt / obj.names for names)",
        "Pascal VOC: .xml files with an <annotation> root",
        "ImageFolder: <class>/<image> or <split>/<class>/<image> (or <split>/_classes.csv)",
    ]
    hints = _unsupported_hints(index)
    message = (
        f"No dataset format recognised ({len(index.files)} files, {images} images). "
        "Looked for: " + "; ".join(looked) + "."
    )
    if hints:
        message += " " + " ".join(hints) + "."
    return FormatNotDetected(message, details={"looked_for": looked, "hints": hints})
