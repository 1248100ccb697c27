"""Pascal VOC detection, in the official layout:

    JPEGImages/<name>            the images
    Annotations/<stem>.xml       one `<annotation>` per image (background images too, with no
                                 `<object>`, so readers do not report a missing label)
    ImageSets/Main/<split>.txt   the stems of each split's images (items without a split are
                                 in none)
    labels.txt                   the classes in their order (VOC has no class list of its own:
                                 without it, readers would sort the names and renumber them)

Boxes are written the way VOC numbers pixels, from 1 with `xmax`/`ymax` inclusive:
`xmin = x + 1`, `xmax = x + w` (the reader's inverse, see `readers/voc.py`), as integers where
they are whole numbers. VOC has no sub-folders and keys splits by stem, so names are made flat
and unique by stem across the dataset (`sub/a.jpg` becomes `sub_a.jpg`; a second `a.jpg` in
another split becomes `a_1.jpg`), each change listed in `WriteResult.renamed`.
Only detection fits VOC.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path
from xml.etree.ElementTree import Element, ElementTree, SubElement, indent

from lensforge.formats.model import SPLITS, DatasetManifest, Item
from lensforge.formats.writers._common import (
    ImageSource,
    WriteResult,
    number,
    place_image,
    staging,
)

CLASS_FILE = "labels.txt"


def flat_names(items: list[Item]) -> dict[int, str]:
    """A flat name per item (keyed by `id(item)`) whose stem no other item shares (ignoring
    case); later items, in (file name, split) order, get `_1`, `_2`... before the extension."""
    taken: set[str] = set()
    out: dict[int, str] = {}
    for item in sorted(items, key=lambda i: (i.file_name, i.split or "")):
        stem, ext = posixpath.splitext(item.file_name.replace("/", "_"))
        name, n = stem + ext, 0
        while stem_of(name).casefold() in taken:
            n += 1
            name = f"{stem}_{n}{ext}"
        taken.add(stem_of(name).casefold())
        out[id(item)] = name
    return out


def stem_of(name: str) -> str:
    return posixpath.splitext(name)[0]


def _text(parent: Element, tag: str, value: str) -> Element:
    element = SubElement(parent, tag)
    element.text = value
    return element


def annotation_xml(manifest: DatasetManifest, item: Item, name: str) -> ElementTree:
    root = Element("annotation")
    _text(root, "folder", "JPEGImages")
    _text(root, "filename", name)
    size = SubElement(root, "size")
    _text(size, "width", str(item.width))
    _text(size, "height", str(item.height))
    _text(size, "depth", "3")
    _text(root, "segmented", "0")
    for ann in item.annotations:
        x, y, w, h = ann.bbox
        obj = SubElement(root, "object")
        _text(obj, "name", manifest.classes[ann.class_id])
        _text(obj, "pose", "Unspecified")
        _text(obj, "truncated", "0")
        _text(obj, "difficult", "0")
        box = SubElement(obj, "bndbox")
        for tag, value in (("xmin", x + 1), ("ymin", y + 1), ("xmax", x + w), ("ymax", y + h)):
            _text(box, tag, number(value))
    indent(root)
    return ElementTree(root)


def write_voc(
    manifest: DatasetManifest, dest: str | os.PathLike[str], image_source: ImageSource
) -> WriteResult:
    names = flat_names(list(manifest.items))
    stems: dict[str, list[str]] = {split: [] for split in SPLITS}
    with staging(dest) as out:
        result = WriteResult(path=out)
        (out / "Annotations").mkdir()
        for item in manifest.items:
            name = names[id(item)]
            if name != item.file_name:
                result.renamed[f"{item.split or ''}/{item.file_name}"] = name
            place_image(image_source, item, out / "JPEGImages" / name)
            tree = annotation_xml(manifest, item, name)
            tree.write(out / "Annotations" / f"{stem_of(name)}.xml", encoding="utf-8")
            if item.split is not None:
                stems[item.split].append(stem_of(name))
            result.images += 1
        for split, listed in stems.items():
            if listed:
                sets = out / "ImageSets" / "Main"
                sets.mkdir(parents=True, exist_ok=True)
                (sets / f"{split}.txt").write_text("".join(s + "\n" for s in sorted(listed)))
        (out / CLASS_FILE).write_text("".join(c + "\n" for c in manifest.classes))
    result.path = Path(dest)
    return result
