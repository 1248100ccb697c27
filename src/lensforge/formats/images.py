"""Image files: which ones are accepted, and what they contain.

Width and height are those a trainer sees: the stored size with the EXIF orientation applied
(orientations 5-8 swap width and height), as OpenCV's `imread` and Ultralytics' `exif_size` do.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import PurePosixPath

from PIL import Image

from lensforge.formats.errors import ImageError

SUPPORTED_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})
"""Extensions of images Lensforge imports (compared case-insensitively)."""

UNSUPPORTED_EXTENSIONS = frozenset(
    {
        ".gif", ".heic", ".heif", ".svg", ".avif", ".jp2", ".j2k", ".jxl", ".ico", ".dng",
        ".mpo", ".pfm", ".tga", ".psd", ".raw", ".cr2", ".nef", ".arw", ".ppm", ".pgm", ".pbm",
    }
)  # fmt: skip
"""Image-like extensions that are reported as `unsupported_image_type` instead of ignored."""

_PIL_FORMATS = frozenset({"JPEG", "MPO", "PNG", "BMP", "WEBP", "TIFF"})
_ORIENTATION_TAG = 0x0112
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ImageInfo:
    sha256: str
    size_bytes: int
    width: int
    """Width as a trainer sees it (EXIF orientation applied)."""
    height: int
    format: str
    """Pillow's format name: JPEG, PNG, BMP, WEBP, TIFF or MPO."""
    exif_orientation: int = 1
    """The EXIF orientation tag (1 = as stored); 5-8 mean width and height were swapped."""

    @property
    def stored_size(self) -> tuple[int, int]:
        """Width and height of the pixels as stored in the file, before EXIF orientation."""
        if self.exif_orientation in (5, 6, 7, 8):
            return (self.height, self.width)
        return (self.width, self.height)


def extension(name: str) -> str:
    return PurePosixPath(name).suffix.lower()


def is_image_name(name: str) -> bool:
    return extension(name) in SUPPORTED_EXTENSIONS


def is_unsupported_image_name(name: str) -> bool:
    return extension(name) in UNSUPPORTED_EXTENSIONS


def describe_image(path: str | os.PathLike[str]) -> ImageInfo:
    """Hash an image file (read once, in chunks) and check that it decodes completely.

    Pillow reads the header for format, size and EXIF orientation, runs `verify()` (checksums
    where the format has them), then decodes every pixel from a fresh open, which is what
    catches truncated files. Pixels are dropped at once. Raises `ImageError` with
    `reason_code` `image_unreadable` or `unsupported_image_type`.
    """
    name = os.fspath(path)
    digest = hashlib.sha256()
    size = 0
    try:
        with open(name, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
    except OSError as exc:
        raise ImageError(
            f"cannot read the file: {exc.strerror or exc}", reason_code="image_unreadable"
        ) from exc
    if size == 0:
        raise ImageError("the image file is empty", reason_code="image_unreadable")
    try:
        with Image.open(name) as im:
            fmt = im.format or "unknown"
            width, height = im.size
            if fmt not in _PIL_FORMATS:
                raise ImageError(
                    f"the file is a {fmt} image; accepted: JPEG, PNG, BMP, WebP, TIFF",
                    reason_code="unsupported_image_type",
                )
            im.verify()  # must come right after open (PNG checks chunks from the start)
        with Image.open(name) as im:
            orientation = _orientation(im)
            im.load()
    except ImageError:
        raise
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, struct.error...)
        raise ImageError(
            f"cannot decode the image: {_reason(exc)}", reason_code="image_unreadable"
        ) from exc
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(
        sha256=digest.hexdigest(),
        size_bytes=size,
        width=width,
        height=height,
        format=fmt,
        exif_orientation=orientation,
    )


def _orientation(im: Image.Image) -> int:
    value = im.getexif().get(_ORIENTATION_TAG, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, Image.DecompressionBombError):
        return f"too many pixels ({text})"
    if "cannot identify image file" in text:
        return "not an image file Pillow can read"
    return text
