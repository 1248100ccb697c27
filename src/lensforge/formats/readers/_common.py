"""What every reader shares: parsing files into issues instead of exceptions, checking images,
and turning pending items (image + raw objects) into validated `Item`s.

A reader works in two passes. First it parses its annotation files into `PendingItem`s (no
image is opened). Then `finalize` checks every image once (hash, header, full decode; a few
threads, since Pillow decodes outside the GIL; pixels are never kept), compares declared sizes,
and validates each object against the real image size.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import yaml
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as xml_fromstring
from pydantic import ValidationError

from lensforge.formats.errors import ImageError
from lensforge.formats.files import FileIndex, normalize_relative
from lensforge.formats.geometry import AnnotationBuilder, Where
from lensforge.formats.images import (
    ImageInfo,
    describe_image,
    is_image_name,
    is_unsupported_image_name,
)
from lensforge.formats.model import Annotation, Item, Split, Task
from lensforge.formats.validation import JsonScalar, ValidationReport


@dataclass
class RawObject:
    """One object as read, before it is checked against its image."""

    where: Where
    class_id: int
    bbox: tuple[float, ...] | None = None
    polygons: list[list[float]] = field(default_factory=list)
    keypoints: list[tuple[float, float, float]] = field(default_factory=list)
    iscrowd: bool = False
    normalized: bool = False
    """YOLO: coordinates are fractions of the image size."""
    resolve: Callable[[tuple[int, int]], RawObject | None] | None = None
    """Called with the real image size before validation (COCO RLE masks)."""


@dataclass
class PendingItem:
    image: str
    """Image path relative to the index root."""
    name: str
    """The item's file name (unique per split)."""
    split: Split | None
    declared_size: tuple[int, int] | None = None
    declared_in: str | None = None
    objects: list[RawObject] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)


class ReadContext:
    def __init__(self, index: FileIndex, report: ValidationReport | None = None) -> None:
        self.index = index
        self.report = report if report is not None else ValidationReport()

    def issue(
        self,
        code: str,
        message: str,
        file: str | None = None,
        *,
        line: int | None = None,
        object_index: int | None = None,
        **extra: JsonScalar,
    ) -> None:
        self.report.add(
            code,
            message,
            file=None if file is None else self.index.display(file),
            line=line,
            object_index=object_index,
            **extra,
        )

    def where(
        self, file: str, line: int | None = None, obj: int | None = None, image: str | None = None
    ) -> Where:
        """`image`: the image's path when `file` holds the objects of many images."""
        shown = None if image is None else self.index.display(image)
        return Where(file=self.index.display(file), line=line, object_index=obj, image=shown)

    def read_text(self, rel: str) -> str | None:
        try:
            data = self.index.path(rel).read_bytes()
        except OSError as exc:
            self.issue("unreadable_file", f"cannot read: {exc.strerror or exc}", rel)
            return None
        try:
            return data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            self.issue("unreadable_file", f"not UTF-8 text (byte {exc.start})", rel)
            return None

    def load_json(self, rel: str) -> Any:
        text = self.read_text(rel)
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            self.issue(
                "json_syntax",
                f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                rel,
                line=exc.lineno,
                column=exc.colno,
            )
            return None
        except RecursionError:
            self.issue("json_syntax", "invalid JSON: nested too deeply", rel)
            return None
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            self.issue("json_syntax", f"invalid JSON: {exc}", rel)
            return None

    def load_yaml(self, rel: str) -> Any:
        text = self.read_text(rel)
        if text is None:
            return None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else None
            column = mark.column + 1 if mark is not None else None
            problem = getattr(exc, "problem", None) or str(exc)
            where = f" at line {line}, column {column}" if line else ""
            self.issue(
                "yaml_syntax", f"invalid YAML{where}: {problem}", rel, line=line, column=column
            )
            return None
        except RecursionError:
            self.issue("yaml_syntax", "invalid YAML: nested too deeply", rel)
            return None
        except ValueError as exc:  # e.g. an integer of more than 4300 digits
            self.issue("yaml_syntax", f"invalid YAML: {exc}", rel)
            return None

    def parse_xml(self, rel: str) -> Element | None:
        try:
            data = self.index.path(rel).read_bytes()
        except OSError as exc:
            self.issue("unreadable_file", f"cannot read: {exc.strerror or exc}", rel)
            return None
        try:
            root: Element = xml_fromstring(data, forbid_dtd=True)
        except ParseError as exc:
            line, column = exc.position
            self.issue(
                "xml_syntax",
                f"invalid XML at line {line}, column {column + 1}: {exc}",
                rel,
                line=line,
                column=column + 1,
            )
            return None
        except DefusedXmlException as exc:
            self.issue("xml_syntax", f"refused XML (DTD or entity declarations): {exc}", rel)
            return None
        except LookupError as exc:  # expat's "unknown encoding: foo-bar" from the declaration
            self.issue("xml_syntax", f"invalid XML: {exc} (declared in the XML header)", rel)
            return None
        except (ValueError, RecursionError) as exc:
            self.issue("xml_syntax", f"invalid XML: {exc or type(exc).__name__}", rel)
            return None
        return root

    def scan_images(self, files: Iterable[str]) -> list[str]:
        """Supported images among `files`; image-like files of other types are reported."""
        out: list[str] = []
        for f in files:
            if is_image_name(f):
                out.append(f)
            elif is_unsupported_image_name(f):
                self.issue("unsupported_image_type", _unsupported_message(f), f)
        return out


def _unsupported_message(rel: str) -> str:
    suffix = os.path.splitext(rel)[1] or "(no extension)"
    return f"{suffix} images are not accepted; accepted: jpg, jpeg, png, bmp, webp, tif, tiff"


SKIPPABLE = frozenset({"image_unreadable", "image_too_large"})
"""Image problems that `ImagePolicy.skip_invalid` turns into `image_skipped` warnings."""


def check_images(ctx: ReadContext, images: list[str]) -> dict[str, ImageInfo]:
    """Describe each image once; unreadable or unsupported ones are reported and left out."""
    unique = list(dict.fromkeys(images))
    supported = []
    for rel in unique:
        if is_image_name(rel):
            supported.append(rel)
        else:
            ctx.issue("unsupported_image_type", _unsupported_message(rel), rel)

    policy = ctx.index.image_policy

    def describe(rel: str) -> ImageInfo | ImageError:
        try:
            return describe_image(ctx.index.path(rel), policy.max_pixels)
        except ImageError as exc:
            return exc

    workers = min(8, os.cpu_count() or 1)
    out: dict[str, ImageInfo] = {}
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for rel, result in zip(supported, pool.map(describe, supported), strict=True):
            if isinstance(result, ImageError):
                if policy.skip_invalid and result.reason_code in SKIPPABLE:
                    ctx.issue(
                        "image_skipped",
                        f"left out ({result.reason_code}): {result.message}",
                        rel,
                        reason=result.reason_code,
                    )
                else:
                    ctx.issue(result.reason_code, result.message, rel)
                continue
            if result.end_marker_added:
                ctx.issue(
                    "corrupt_jpeg_restored",
                    "the JPEG lacks its end-of-image marker but decodes completely; it is kept "
                    "with the marker added",
                    rel,
                )
            out[rel] = result
    return out


def _dedupe(ctx: ReadContext, pending: list[PendingItem]) -> list[PendingItem]:
    kept: list[PendingItem] = []
    by_name: dict[tuple[Split | None, str], PendingItem] = {}
    by_image: dict[tuple[Split | None, str], PendingItem] = {}
    splits_of: dict[str, set[Split | None]] = {}
    for p in pending:
        key = (p.split, p.name)
        other = by_name.get(key) or by_image.get((p.split, p.image))
        if other is not None:
            ctx.issue(
                "duplicate_file_name",
                f"{ctx.index.display(p.image)} and {ctx.index.display(other.image)} both resolve "
                f"to {p.name!r} in split {p.split or '(none)'}",
                p.declared_in or p.image,
            )
            continue
        by_name[key] = p
        by_image[(p.split, p.image)] = p
        splits_of.setdefault(p.image, set()).add(p.split)
        kept.append(p)
    for image, splits in splits_of.items():
        if len(splits) > 1:
            names = ", ".join(sorted(s or "(none)" for s in splits))
            ctx.issue("image_in_several_splits", f"the image is in splits {names}", image)
    return kept


def _check_size(ctx: ReadContext, p: PendingItem, info: ImageInfo) -> bool:
    if p.declared_size is None or p.declared_size == (info.width, info.height):
        return True
    dw, dh = p.declared_size
    if p.declared_size == info.stored_size:
        ctx.issue(
            "exif_rotated",
            f"{ctx.index.display(p.image)}: {dw}x{dh} is declared, which is the stored size, but "
            f"EXIF orientation {info.exif_orientation} makes trainers see {info.width}x"
            f"{info.height}; labels drawn on the unrotated image will be misplaced",
            p.declared_in or p.image,
        )
        return True
    ctx.issue(
        "image_size_mismatch",
        f"{ctx.index.display(p.image)} is {info.width}x{info.height} but {dw}x{dh} is declared",
        p.declared_in or p.image,
        declared_width=dw,
        declared_height=dh,
        width=info.width,
        height=info.height,
    )
    return False


def _absolute(obj: RawObject, size: tuple[int, int]) -> RawObject:
    if not obj.normalized:
        return obj
    w, h = size

    def scale(flat: list[float]) -> list[float]:
        return [v * (w if i % 2 == 0 else h) for i, v in enumerate(flat)]

    bbox = None
    if obj.bbox is not None:
        cx, cy, bw, bh = obj.bbox
        bbox = ((cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h)
    return RawObject(
        where=obj.where,
        class_id=obj.class_id,
        bbox=bbox,
        polygons=[scale(p) for p in obj.polygons],
        keypoints=[(x * w, y * h, v) for x, y, v in obj.keypoints],
        iscrowd=obj.iscrowd,
    )


def finalize(
    ctx: ReadContext, pending: list[PendingItem], builder: AnnotationBuilder
) -> list[Item]:
    """Check images and objects; returns the items that are usable, sorted by name."""
    for p in pending:
        p.name = normalize_relative(p.name)
    pending = _dedupe(ctx, pending)
    infos = check_images(ctx, [p.image for p in pending])
    items: list[Item] = []
    for p in pending:
        info = infos.get(p.image)
        if info is None or not _check_size(ctx, p, info):
            continue
        size = (info.width, info.height)
        annotations: list[Annotation] = []
        for raw in p.objects:
            obj: RawObject | None = _absolute(raw, size)
            if obj is not None and obj.resolve is not None:
                obj = obj.resolve(size)
            if obj is None:
                continue
            ann = builder.build(
                obj.where,
                size,
                class_id=obj.class_id,
                bbox=obj.bbox,
                polygons=obj.polygons,
                keypoints=obj.keypoints,
                iscrowd=obj.iscrowd,
            )
            if ann is not None:
                annotations.append(ann)
        try:
            item = Item(
                file_name=p.name,
                width=info.width,
                height=info.height,
                split=p.split,
                annotations=annotations if builder.task is not Task.CLASSIFICATION else [],
                labels=p.labels if builder.task is Task.CLASSIFICATION else [],
                sha256=info.sha256,
                source_path=ctx.index.display(p.image),
            )
        except ValidationError as exc:  # e.g. a name that is not a safe relative path
            ctx.issue(
                "invalid_structure", f"unusable image name: {exc.errors()[0]['msg']}", p.image
            )
            continue
        items.append(item)
    if not items:
        ctx.issue("empty_dataset", "no usable image was found", None)
    items.sort(key=lambda i: (i.file_name, i.split or ""))
    return items
