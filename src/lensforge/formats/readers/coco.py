"""COCO (official, Roboflow, CVAT, Label Studio, and others' exports).

Annotation files: `annotations/*.json` (`instances_<subset>.json`, `person_keypoints_<subset>
.json`), `<split>/_annotations.coco.json` (Roboflow), `result.json` (Label Studio) and any JSON
object with an `images` list at the root or one folder down. The split is taken from the subset
name (`instances_train2017` -> train, CVAT's `default` -> none) or the folder (`valid` -> val).

Categories are renumbered 0..n-1 in the order of their COCO ids (ids may start at 0 or 1 and
have gaps). Roboflow's synthetic parent category is dropped: a category that another category
names as its `supercategory` and that no annotation uses (rf-detr's rule). Categories with the
same name are merged.

An image's `file_name` is looked up beside the JSON, in `images/<subset>/`, `images/`,
`<subset>/` and the dataset root, first as written, then by its base name, then as the only file
of that base name anywhere (Label Studio's upload paths, Windows separators, CVAT task folders).
"""

from __future__ import annotations

import os
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from lensforge.formats.files import (
    UNSPLIT_NAMES,
    FileIndex,
    head_text,
    is_inside,
    is_split_name,
    logical_name,
    normalize_relative,
    normalize_split,
)
from lensforge.formats.geometry import AnnotationBuilder
from lensforge.formats.images import is_image_name
from lensforge.formats.model import DatasetManifest, Split, Task
from lensforge.formats.readers._common import PendingItem, ReadContext, finalize
from lensforge.formats.readers.coco_categories import Categories, read_categories
from lensforge.formats.readers.coco_objects import ObjectParser
from lensforge.formats.validation import ValidationReport

_STRONG = re.compile(
    r"^(?:(?:instances|person_keypoints)_.+|_annotations\.coco|result)\.json$", re.IGNORECASE
)
_SUBSET = re.compile(r"^(?:instances|person_keypoints)_(.+)\.json$", re.IGNORECASE)
_NATIVE = re.compile(r"^annotations_(?:detection|segmentation|classification|pose)\.json$")
_SKIP = ("captions_", "image_info", "panoptic_")


@dataclass
class Doc:
    rel: str
    data: dict[str, Any]
    subset: str | None
    split: Split | None

    @property
    def has_keypoints(self) -> bool:
        cats = self.data.get("categories")
        return isinstance(cats, list) and any(
            isinstance(c, dict) and c.get("keypoints") for c in cats
        )


def find_coco_files(index: FileIndex) -> list[str]:
    out = []
    for rel in index.with_suffix(".json"):
        name = posixpath.basename(rel).lower()
        if rel.count("/") > 1 or name.startswith(_SKIP) or _NATIVE.match(name):
            continue
        if _STRONG.match(name) or posixpath.dirname(rel).lower() == "annotations":
            out.append(rel)
            continue
        head = head_text(index.path(rel)).lstrip()
        if head.startswith("{") and '"images"' in head and '"shapes"' not in head:
            out.append(rel)
    return out


def _subset(rel: str) -> str | None:
    name = posixpath.basename(rel)
    match = _SUBSET.match(name)
    if match:
        return match.group(1)
    stem = name[: -len(".json")]
    if is_split_name(stem) or stem.lower() in UNSPLIT_NAMES:
        return stem
    parent = posixpath.dirname(rel)
    if parent and parent.lower() != "annotations":
        return posixpath.basename(parent)
    return None


def resolve_image(index: FileIndex, doc_rel: str, file_name: str, subset: str | None) -> str | None:
    fn = normalize_relative(file_name)
    json_dir = posixpath.dirname(doc_rel)
    root = (
        posixpath.dirname(json_dir)
        if posixpath.basename(json_dir).lower() == "annotations"
        else json_dir
    )
    base = posixpath.basename(fn)
    names = [fn] if is_inside(fn) else []
    if base and base not in names:
        names.append(base)
    dirs = [json_dir]
    if subset:
        dirs += [posixpath.join(root, "images", subset)]
    dirs += [posixpath.join(root, "images")]
    if subset:
        dirs += [posixpath.join(root, subset)]
    dirs += [root]
    for name in names:
        for folder in dict.fromkeys(dirs):
            found = index.find(posixpath.join(folder, name))
            if found:
                return found
    matches = index.by_basename(base) if base else []
    return matches[0] if len(matches) == 1 else None


def _item_name(file_name: str) -> str:
    """`file_name` without layout folders; only the base name of a path from another
    machine (absolute, a drive letter, or climbing out with `..`)."""
    fn = normalize_relative(file_name)
    foreign = file_name.strip().startswith(("/", "\\")) or ":" in fn or not is_inside(fn)
    return posixpath.basename(fn) if foreign else logical_name(fn)


def _select(ctx: ReadContext, docs: list[Doc], task: Task | None) -> tuple[list[Doc], Task | None]:
    plain = [d for d in docs if not d.has_keypoints]
    keyed = [d for d in docs if d.has_keypoints]
    if task is Task.POSE or (task is None and keyed and not plain):
        chosen, other = (keyed or docs), (plain if keyed else [])
        task = Task.POSE
    else:
        chosen, other = (plain or docs), (keyed if plain else [])
    for d in other:
        message = (
            "box/mask annotations, not used for a pose dataset"
            if task is Task.POSE
            else "keypoint annotations, not used (read with task='pose' to use them)"
        )
        ctx.issue("other_annotations_ignored", message, d.rel)
    return chosen, task


def _infer_task(docs: list[Doc]) -> Task:
    for doc in docs:
        anns = doc.data.get("annotations")
        if isinstance(anns, list) and any(
            isinstance(a, dict) and a.get("segmentation") not in (None, [], {}) for a in anns
        ):
            return Task.SEGMENTATION
    return Task.DETECTION


def _declared(img: dict[str, Any]) -> tuple[int, int] | None:
    w, h = img.get("width"), img.get("height")
    if isinstance(w, int | float) and isinstance(h, int | float) and 0 < w < 1e9 and 0 < h < 1e9:
        return (int(w), int(h))  # (NaN and Infinity, which Python's json accepts, fail the test)
    return None


def _read_images(ctx: ReadContext, doc: Doc, images: list[Any]) -> dict[Any, PendingItem | None]:
    """Image id -> pending item (None for an entry that was reported and skipped)."""
    by_id: dict[Any, PendingItem | None] = {}
    names: set[str] = set()
    for i, img in enumerate(images):
        if not isinstance(img, dict) or not isinstance(img.get("file_name"), str):
            ctx.issue(
                "invalid_structure", "an image needs 'id' and 'file_name'", doc.rel, object_index=i
            )
            continue
        img_id, fn = img.get("id"), img["file_name"]
        if not isinstance(img_id, int | str):
            ctx.issue(
                "invalid_structure", "an image needs 'id' and 'file_name'", doc.rel, object_index=i
            )
            continue
        if img_id in by_id:
            ctx.issue(
                "duplicate_image_id", f"image id {img_id} is used twice", doc.rel, object_index=i
            )
            continue
        by_id[img_id] = None
        if fn in names:
            ctx.issue("duplicate_file_name", f"{fn!r} is listed twice", doc.rel, object_index=i)
            continue
        names.add(fn)
        found = resolve_image(ctx.index, doc.rel, fn, doc.subset)
        if found is None:
            message = f"image {fn!r} (id {img_id}) is not in the dataset"
            ctx.issue("missing_image", message, doc.rel, object_index=i)
            continue
        by_id[img_id] = PendingItem(found, _item_name(fn), doc.split, _declared(img), doc.rel)
    return by_id


def _read_annotations(
    ctx: ReadContext,
    doc: Doc,
    anns: list[Any],
    by_id: dict[Any, PendingItem | None],
    cats: Categories,
    parser: ObjectParser,
) -> None:
    seen: set[Any] = set()
    for j, ann in enumerate(anns):
        if not isinstance(ann, dict):
            ctx.issue(
                "invalid_structure", "an annotation must be an object", doc.rel, object_index=j
            )
            continue
        ann_id = ann.get("id")
        index = ann_id if isinstance(ann_id, int) else j
        if isinstance(ann_id, int | str):
            if ann_id in seen:
                message = f"annotation id {ann_id} is used twice"
                ctx.issue("duplicate_annotation_id", message, doc.rel, object_index=index)
            seen.add(ann_id)
        image_id = ann.get("image_id")
        if not isinstance(image_id, int | str) or image_id not in by_id:
            message = f"image_id {image_id!r} is not in 'images'"
            ctx.issue("unknown_image_id", message, doc.rel, object_index=index)
            continue
        pending = by_id[image_id]
        if pending is None:  # its image was reported already
            continue
        where = ctx.where(doc.rel, None, index, image=pending.image)
        cid = ann.get("category_id")
        if not isinstance(cid, int | str) or cid not in cats.class_of:
            message = where.located(f"category_id {cid!r} is not in 'categories'")
            ctx.issue("unknown_class", message, doc.rel, object_index=index, image=where.image)
            continue
        obj = parser.parse(where, ann, cats.class_of[cid], cats.keypoints_of.get(cid, 0))
        if obj is not None:
            pending.objects.append(obj)


def _read_doc(
    ctx: ReadContext, doc: Doc, cats: Categories, parser: ObjectParser
) -> list[PendingItem]:
    images, anns = doc.data.get("images"), doc.data.get("annotations", [])
    if not isinstance(images, list) or not isinstance(anns, list):
        ctx.issue("invalid_structure", "'images' and 'annotations' must be lists", doc.rel)
        return []
    by_id = _read_images(ctx, doc, images)
    _read_annotations(ctx, doc, anns, by_id, cats, parser)
    return [p for p in by_id.values() if p is not None]


def _unlisted(ctx: ReadContext, pending: list[PendingItem]) -> None:
    used = {p.image for p in pending}
    for folder in sorted({posixpath.dirname(p.image) for p in pending}):
        for rel in ctx.index.files_in(folder):
            if rel not in used and is_image_name(rel):
                ctx.issue("unlisted_image", "not listed in the annotation file; not imported", rel)


def read_coco_index(
    index: FileIndex, task: Task | None = None, report: ValidationReport | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    ctx = ReadContext(index, report)
    docs: list[Doc] = []
    for rel in find_coco_files(index):
        data = ctx.load_json(rel)
        if data is None:
            continue
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            ctx.issue("invalid_structure", "a COCO file is an object with an 'images' list", rel)
            continue
        subset = _subset(rel)
        docs.append(Doc(rel, data, subset, normalize_split(subset) if subset else None))
    chosen, task = _select(ctx, docs, task)
    task = task or _infer_task(chosen)
    cats = read_categories(ctx, [(d.rel, d.data) for d in chosen], task)
    if task is Task.POSE and not cats.num_keypoints:
        task = Task.DETECTION
    parser = ObjectParser(ctx, task, cats.num_keypoints)
    pending = [p for doc in chosen for p in _read_doc(ctx, doc, cats, parser)]
    _unlisted(ctx, pending)
    builder = AnnotationBuilder(ctx.report, task, len(cats.classes), cats.num_keypoints)
    items = finalize(ctx, pending, builder)
    pose = task is Task.POSE
    manifest = DatasetManifest(
        task=task,
        classes=cats.classes,
        num_keypoints=cats.num_keypoints if pose else None,
        keypoint_dims=3 if pose else None,
        keypoint_names=cats.keypoint_names if pose else None,
        skeleton=cats.skeleton if pose else None,
        flip_idx=cats.flip_idx if pose else None,
        items=items,
        source_format="coco",
        source_splits={d.subset: d.split for d in chosen if d.subset},
    )
    return manifest, ctx.report


def read_coco(
    path: str | os.PathLike[str] | FileIndex, task: Task | None = None
) -> tuple[DatasetManifest, ValidationReport]:
    """Read a directory holding one or several COCO annotation files and their images."""
    index = path if isinstance(path, FileIndex) else FileIndex(path)
    return read_coco_index(index, task)
