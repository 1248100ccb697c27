"""Images sent for a quick test inference: checked (really an image, of an accepted format,
within the limits), hashed and stored content-addressed, streamed through a temporary file."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from PIL import Image, UnidentifiedImageError

from lensforge.archives import extract_archive
from lensforge.errors import PayloadTooLarge, ValidationFailed
from lensforge.model_work.keys import inference_image_key
from lensforge.storage.base import ObjectStore

MAX_IMAGES = 20
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 100_000_000
ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_CHUNK = 1024 * 1024
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})


@dataclass(frozen=True)
class SentImage:
    name: str
    stream: BinaryIO


def _invalid(index: int, name: str, message: str) -> ValidationFailed:
    return ValidationFailed(
        f"{name}: {message}",
        details={"fields": [{"field": f"files.{index}", "message": message}], "file": name},
        code="invalid_image",
    )


def store_images(
    store: ObjectStore,
    organization_id: uuid.UUID,
    images: Sequence[SentImage],
    *,
    limit: int = MAX_IMAGES,
) -> list[dict[str, object]]:
    """Every image checked before any is stored: one bad file refuses the request whole."""
    if not images:
        raise ValidationFailed(
            "send at least one image (multipart field `files`)",
            details={"fields": [{"field": "files", "message": "required"}]},
            code="no_images",
        )
    if len(images) > limit:
        raise ValidationFailed(
            f"at most {limit} images per request; use a batch inference for more",
            details={"fields": [{"field": "files", "message": f"{len(images)} sent"}]},
            code="too_many_images",
        )
    checked: list[tuple[dict[str, object], tempfile._TemporaryFileWrapper[bytes]]] = []
    try:
        for index, image in enumerate(images):
            checked.append(_check(index, image))
        refs = []
        for ref, spooled in checked:
            key = inference_image_key(organization_id, str(ref["sha256"]))
            if not store.exists(key):
                spooled.seek(0)
                store.put(
                    key,
                    cast(BinaryIO, spooled),
                    size=int(str(ref["size"])),
                    content_type=str(ref["type"]),
                )
            refs.append({k: ref[k] for k in ("name", "sha256", "width", "height")})
        return refs
    finally:
        for _, spooled in checked:
            spooled.close()


def _check(
    index: int, image: SentImage
) -> tuple[dict[str, object], tempfile._TemporaryFileWrapper[bytes]]:
    name = (image.name or f"image-{index + 1}").replace("\\", "/").lstrip("/")[-255:]
    spooled = tempfile.NamedTemporaryFile(prefix="lensforge-predict-")  # noqa: SIM115
    try:
        digest, size = hashlib.sha256(), 0
        while chunk := image.stream.read(_CHUNK):
            size += len(chunk)
            if size > MAX_IMAGE_BYTES:
                raise PayloadTooLarge(
                    f"{name}: images may be at most {MAX_IMAGE_BYTES // (1024 * 1024)} MB",
                    code="image_too_large",
                    details={"file": name, "limit": MAX_IMAGE_BYTES},
                )
            digest.update(chunk)
            spooled.write(chunk)
        spooled.flush()
        if size == 0:
            raise _invalid(index, name, "the file is empty")
        spooled.seek(0)
        try:
            with Image.open(spooled) as opened:
                kind = opened.format or ""
                width, height = opened.size
                if kind not in ACCEPTED:
                    raise _invalid(
                        index,
                        name,
                        f"{kind or 'this'} images are not accepted; send JPEG, PNG or WebP",
                    )
                if width * height > MAX_PIXELS:
                    raise _invalid(index, name, f"{width}x{height} is too many pixels")
                opened.verify()
        except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
            # Pillow names the file object in its messages; say what was wrong, not where.
            detail = str(exc).split(" <", 1)[0].removesuffix(" file").strip() or type(exc).__name__
            raise _invalid(index, name, f"not a readable image ({detail})") from exc
        ref: dict[str, object] = {
            "name": name,
            "sha256": digest.hexdigest(),
            "width": width,
            "height": height,
            "size": size,
            "type": ACCEPTED[kind],
        }
        return ref, spooled
    except BaseException:
        spooled.close()
        raise


def store_archive_images(
    store: ObjectStore, organization_id: uuid.UUID, archive: Path, limit: int
) -> list[dict[str, object]]:
    """The images of a zip or tar archive (checked for hostile members first, extracted to a
    temporary folder), in name order. Files that are not JPEG, PNG or WebP by name are skipped;
    one that claims to be an image but is not refuses the archive."""
    with tempfile.TemporaryDirectory(prefix="lensforge-batch-") as folder:
        files = extract_archive(archive, Path(folder) / "images")
        root = Path(folder) / "images"
        chosen = sorted(
            (p for p in files if p.suffix.lower() in IMAGE_SUFFIXES),
            key=lambda p: p.relative_to(root).as_posix(),
        )
        handles = [p.open("rb") for p in chosen[: limit + 1]]
        try:
            sent = [
                SentImage(name=p.relative_to(root).as_posix(), stream=h)
                for p, h in zip(chosen, handles, strict=False)
            ]
            return store_images(store, organization_id, sent, limit=limit)
        finally:
            for handle in handles:
                handle.close()
