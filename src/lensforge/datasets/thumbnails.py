"""Image thumbnails: rendered once per (image, size) and kept in object storage.

Images are content-addressed, so a thumbnail never goes stale: its cache key is the image's
hash and the size, and the first request to need it stores it for every later one (and every
other version or dataset sharing the image).

Requested sizes snap up to one of `SIZES`, so one image has at most five cached thumbnails
whatever sizes clients ask for. Memory stays bounded: an image above the pixel limit is refused
from its recorded size before anything is read; JPEGs decode straight at a reduced scale
(`draft`), other formats are reduced by an integer factor right after decoding, before any
conversion or rotation makes copies.
"""

from __future__ import annotations

import io
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, BinaryIO

from PIL import Image

from lensforge.datasets import keys
from lensforge.errors import PayloadTooLarge
from lensforge.storage.base import ObjectNotFound, ObjectStore

SIZES = (64, 128, 256, 512, 1024)
"""The sizes thumbnails are rendered at; a request is served the smallest one at least as
large as asked for."""
MIN_SIZE = 32
MAX_SIZE = SIZES[-1]
DEFAULT_SIZE = 256
JPEG_QUALITY = 85
# Pillow needs a seekable file; S3 streams are not. Small originals stay in memory, big ones
# spill to disk, so one request never holds a large image's bytes in RAM.
_SPOOL_BYTES = 8 * 1024 * 1024
_BACKGROUND = (255, 255, 255)
_ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that makes the image upright (as ImageOps.exif_transpose).
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class Thumbnail:
    """Either freshly rendered bytes, or a stream of the cached object; `size` in bytes."""

    etag: str
    size: int
    data: bytes | None = None
    stream: BinaryIO | None = None

    def chunks(self) -> Iterator[bytes]:
        if self.data is not None:
            yield self.data
            return
        assert self.stream is not None
        with self.stream:
            while chunk := self.stream.read(64 * 1024):
                yield chunk


class ImageTooLarge(PayloadTooLarge):
    code = "image_too_large"


def snap_size(size: int) -> int:
    """The size of `SIZES` a request for `size` is served with."""
    return next((s for s in SIZES if s >= size), SIZES[-1])


def thumbnail_etag(sha256: str, size: int) -> str:
    return f'"{sha256}-{snap_size(size)}"'


def check_renderable(width: int, height: int, max_pixels: int) -> None:
    """Refuse, before reading a byte, an image whose decoding would take too much memory (one
    imported before the pixel limit existed, or while it was higher)."""
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"the image is {width}x{height} pixels, more than the {max_pixels:,} this server "
            "renders thumbnails for; download the original instead",
            details={"width": width, "height": height, "max_pixels": max_pixels},
        )


def get_thumbnail(
    store: ObjectStore, organization_id: uuid.UUID, sha256: str, image_key: str, size: int
) -> Thumbnail:
    """The cached thumbnail, rendering and storing it first if this is the first request."""
    size = snap_size(size)
    key = keys.thumbnail_key(organization_id, sha256, size)
    etag = thumbnail_etag(sha256, size)
    try:
        info = store.head(key)
        return Thumbnail(etag=etag, size=info.size, stream=store.open(key))
    except ObjectNotFound:
        pass
    with store.open(image_key) as original, tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as buf:
        shutil.copyfileobj(original, buf)
        buf.seek(0)
        data = render_thumbnail(buf, size)
    # Two first requests racing both render and store the same bytes; `put` is atomic.
    store.put(key, io.BytesIO(data), size=len(data), content_type="image/jpeg")
    return Thumbnail(etag=etag, size=len(data), data=data)


def render_thumbnail(source: IO[bytes], size: int) -> bytes:
    """A JPEG no larger than `size` × `size`, upright (EXIF orientation applied), in RGB."""
    with Image.open(source) as image:
        # JPEG decoders can scale down by 1/2..1/8 while decoding: far less memory and time.
        image.draft("RGB", (size, size))
        orientation = image.getexif().get(_ORIENTATION_TAG, 1)
        image.load()
        reduced = _reduce(image, size)
        method = _TRANSPOSE.get(orientation) if isinstance(orientation, int) else None
        upright = reduced.transpose(method) if method is not None else reduced
        rgb = _to_rgb(upright)
        rgb.thumbnail((size, size), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        rgb.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        return out.getvalue()


def _reduce(image: Image.Image, size: int) -> Image.Image:
    """Shrink by a whole factor (a cheap box filter) to at least twice `size`, so the copies
    that rotation and mode conversion make are small. Modes `reduce` cannot take are kept."""
    factor = max(image.size) // (2 * size)
    if factor < 2:
        return image
    try:
        reduced = image.reduce(factor)
    except ValueError:  # e.g. 16-bit greyscale, palette images
        return image
    return reduced


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N"):
        # 16-bit greyscale (medical, depth): scale to 8 bits instead of clipping to white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent areas become white, not the black that dropping alpha would give.
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, _BACKGROUND)
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")
