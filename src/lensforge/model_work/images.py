"""Images sent for a quick test inference: checked (really an image, of an accepted format,
within the limits), hashed and stored content-addressed, streamed through a temporary file."""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO, cast

from PIL import Image, UnidentifiedImageError

from lensforge.errors import PayloadTooLarge, ValidationFailed
from lensforge.model_work.keys import inference_image_key
from lensforge.storage.base import ObjectStore

MAX_IMAGES = 20
MAX_IMAGE_BYTES = 20 * 1024 * 1024
MAX_PIXELS = 100_000_000
ACCEPTED = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
_CHUNK = 1024 * 1024


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
    store: ObjectStore, organization_id: uuid.UUID, images: Sequence[SentImage]
) -> list[dict[str, object]]:
    """Every image checked before any is stored: one bad file refuses the request whole."""
    if not images:
        raise ValidationFailed(
            "send at least one image (multipart field `files`)",
            details={"fields": [{"field": "files", "message": "required"}]},
            code="no_images",
        )
    if len(images) > MAX_IMAGES:
        raise ValidationFailed(
            f"at most {MAX_IMAGES} images per request; use a batch inference for more",
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
    name = (image.name or f"image-{index + 1}").replace("\\", "/").rsplit("/", 1)[-1][:255]
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
            raise _invalid(index, name, f"not a readable image ({exc})") from exc
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
