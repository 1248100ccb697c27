"""Pascal VOC detection (official layout, CVAT, Roboflow, Label Studio, LabelImg).

XML files anywhere in the directory (`Annotations/*.xml`, or next to the images) whose root is
`<annotation>`; parsed with defusedxml, which refuses entity-expansion attacks.

Boxes: VOC numbers pixels from 1 and `xmax`/`ymax` are inclusive, so a box covers
`[xmin - 1, xmax]` in Lensforge's 0-based continuous coordinates: x = xmin - 1,
w = xmax - xmin + 1 (Detectron2's convention). Exports that write 0-based floats (CVAT) come
out shifted by up to one pixel; the 1 px bounds tolerance absorbs that at the image edges.

Classes: the order of `labels.txt`/`classes.txt`/`labelmap.txt` (CVAT's `name:color:...`
lines, `background` skipped) when present, else the sorted union of `<name>`s. `difficult`
objects are kept (Detectron2 keeps them; Ultralytics' VOC script drops them; the user drew
them); `truncated`, `occluded` and `pose` are not kept. Objects without `<bndbox>` are skipped.

Splits: `ImageSets/Main/{train,val,test}.txt`, else a split-named parent folder (Roboflow).
"""

from __future__ import annotations

import os
import posixpath
from xml.etree.ElementTree import Element

from lensforge.formats.files import (
    FileIndex,
    is_inside,
    logical_name,
    normalize_relative,
    normalize_split,
    split_from_path,
)
from lensforge.formats.geometry import AnnotationBuilder
from lensforge.formats.images import (
    SUPPORTED_EXTENSIONS,
    is_image_name,
    is_unsupported_image_name,
)
from lensforge.formats.model import DatasetManifest, Split, Task
from lensforge.formats.readers._common import PendingItem, RawObject, ReadContext, finalize
from lensforge.formats.validation import ValidationReport

CLASS_FILES = ("labels.txt", "classes.txt", "labelmap.txt")
_EXTS = sorted(SUPPORTED_EXTENSIONS)


def _class_file(ctx: ReadContext) -> list[str] | None:
    for name in CLASS_FILES:
        rel = ctx.index.find(name)
        if rel is None:
            continue
        names = []
        for line in (ctx.read_text(rel) or "").splitlines():
            text = line.split(":", 1)[0].strip() if name == "labelmap.txt" else line.strip()
            if (
                text
                and not line.startswith("#")
                and not (name == "labelmap.txt" and text == "background")
            ):
                names.append(text)
        if len(set(names)) != len(names):
            ctx.issue("invalid_class_names", "class names must be unique", rel)
            return None
        return names
    return None


def _image_sets(ctx: ReadContext) -> dict[str, Split | None]:
    out: dict[str, Split | None] = {}
    folder = ctx.index.find_dir("ImageSets/Main")
    if folder is None:
        return out
    for rel in ctx.index.files_in(folder):
        stem = posixpath.splitext(posixpath.basename(rel))[0]
        split = normalize_split(stem)
        if split is None and stem.lower() != "default":
            continue
        for line in (ctx.read_text(rel) or "").splitlines():
            if line.strip():
                out.setdefault(line.split()[0], split)
    return out


def resolve_image(index: FileIndex, xml_rel: str, root: Element) -> str | None:
    xml_dir = posixpath.dirname(xml_rel)
    parent = (
        posixpath.dirname(xml_dir)
        if posixpath.basename(xml_dir).lower() == "annotations"
        else xml_dir
    )
    filename = normalize_relative(root.findtext("filename") or "")
    path_base = posixpath.basename(normalize_relative(root.findtext("path") or ""))
    xml_stem = posixpath.splitext(posixpath.basename(xml_rel))[0]
    names = [n for n in (filename if is_inside(filename) else "", path_base) if n]
    names += [posixpath.basename(filename)] if filename else []
    if filename and not posixpath.splitext(filename)[1]:  # old Label Studio: stem only
        names += [filename + ext for ext in _EXTS]
    names += [xml_stem + ext for ext in _EXTS]
    folder = normalize_relative(root.findtext("folder") or "")
    dirs = [xml_dir, posixpath.join(parent, "JPEGImages"), posixpath.join(parent, "images")]
    if folder and is_inside(folder):
        dirs.append(posixpath.join(parent, folder))
    dirs.append(parent)
    for name in dict.fromkeys(names):
        for d in dict.fromkeys(dirs):
            found = index.find(posixpath.join(d, name))
            if found and (is_image_name(found) or is_unsupported_image_name(found)):
                return found
    for name in (posixpath.basename(filename), path_base):
        matches = index.by_basename(name) if name else []
        if len(matches) == 1:
            return matches[0]
    return None


def _size(root: Element) -> tuple[int, int] | None:
    try:
        w = int(float(root.findtext("size/width") or 0))
        h = int(float(root.findtext("size/height") or 0))
    except (ValueError, OverflowError):  # "abc", "nan", "inf"
        return None
    return (w, h) if w > 0 and h > 0 else None


def _objects(
    ctx: ReadContext, rel: str, root: Element, names: list[str]
) -> list[tuple[RawObject, str]]:
    out: list[tuple[RawObject, str]] = []
    for k, obj in enumerate(root.findall("object")):
        where = ctx.where(rel, None, k)
        name = (obj.findtext("name") or "").strip()
        box = obj.find("bndbox")
        if box is None:
            ctx.issue(
                "unsupported_shape",
                f"object {name!r} has no <bndbox>; skipped",
                rel,
                object_index=k,
            )
            continue
        try:
            x0, y0, x1, y1 = (
                float(box.findtext(t) or "") for t in ("xmin", "ymin", "xmax", "ymax")
            )
        except ValueError:
            ctx.issue(
                "invalid_structure",
                "<bndbox> needs numeric xmin, ymin, xmax, ymax",
                rel,
                object_index=k,
            )
            continue
        if not name:
            ctx.issue("invalid_structure", "object without a <name>", rel, object_index=k)
            continue
        names.append(name)
        out.append((RawObject(where, -1, (x0 - 1, y0 - 1, x1 - x0 + 1, y1 - y0 + 1)), name))
    return out


def read_voc_index(
    index: FileIndex, task: Task | None = None, report: ValidationReport | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    ctx = ReadContext(index, report)
    declared = _class_file(ctx)
    sets = _image_sets(ctx)
    pending: list[PendingItem] = []
    named: list[tuple[RawObject, str]] = []
    seen_names: list[str] = []
    source_splits: dict[str, Split | None] = {}
    for rel in index.with_suffix(".xml"):
        root = ctx.parse_xml(rel)
        if root is None:
            continue
        if root.tag != "annotation":
            if posixpath.dirname(rel).lower().endswith("annotations"):
                ctx.issue(
                    "invalid_structure", f"root element is <{root.tag}>, not <annotation>", rel
                )
            continue
        image = resolve_image(index, rel, root)
        if image is None:
            ctx.issue(
                "missing_image", f"image {root.findtext('filename')!r} is not in the dataset", rel
            )
            continue
        stem = posixpath.splitext(posixpath.basename(image))[0]
        split, folder = (sets[stem], None) if stem in sets else split_from_path(rel)
        if folder:
            source_splits[folder] = split
        objs = _objects(ctx, rel, root, seen_names)
        named += objs
        p = PendingItem(image, logical_name(image), split, _size(root), rel, [o for o, _ in objs])
        pending.append(p)
    classes = declared if declared is not None else sorted(set(seen_names))
    class_of = {name: i for i, name in enumerate(classes)}
    for obj, name in named:
        if name in class_of:
            obj.class_id = class_of[name]
        else:
            ctx.report.add(
                "unknown_class",
                f"class {name!r} is not in the class list",
                file=obj.where.file,
                object_index=obj.where.object_index,
            )
    for p in pending:
        p.objects = [o for o in p.objects if o.class_id >= 0]
    _background(ctx, pending, sets)
    builder = AnnotationBuilder(ctx.report, Task.DETECTION, len(classes))
    items = finalize(ctx, pending, builder)
    manifest = DatasetManifest(
        task=Task.DETECTION,
        classes=classes,
        items=items,
        source_format="voc",
        source_splits=source_splits,
    )
    return manifest, ctx.report


def _background(
    ctx: ReadContext, pending: list[PendingItem], sets: dict[str, Split | None]
) -> None:
    """Images beside the annotated ones that have no XML: kept as background images."""
    used = {p.image for p in pending}
    for folder in sorted({posixpath.dirname(p.image) for p in pending}):
        for rel in ctx.scan_images(f for f in ctx.index.files_in(folder) if f not in used):
            ctx.issue("missing_label", "no annotation XML: kept as a background image", rel)
            stem = posixpath.splitext(posixpath.basename(rel))[0]
            split = sets[stem] if stem in sets else split_from_path(rel)[0]
            pending.append(PendingItem(rel, logical_name(rel), split))


def read_voc(
    path: str | os.PathLike[str] | FileIndex, task: Task | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    """Read a Pascal VOC directory."""
    index = path if isinstance(path, FileIndex) else FileIndex(path)
    return read_voc_index(index, task)
