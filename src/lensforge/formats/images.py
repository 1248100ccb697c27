"""Image files: which ones are accepted, and what they contain.

Width and height are those a trainer sees: the stored size with the EXIF orientation applied
(orientations 5-8 swap width and height), as OpenCV's `imread` and Ultralytics' `exif_size` do.
"""

from __future__ import annotations

import hashlib
import io
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
_JPEG_FORMATS = frozenset({"JPEG", "MPO"})
_ORIENTATION_TAG = 0x0112
_CHUNK = 1 << 20
END_OF_IMAGE = b"\xff\xd9"
"""The JPEG end-of-image marker; some cameras and tools leave it out."""

DEFAULT_MAX_IMAGE_PIXELS = 89_478_485
"""Pillow's own decompression-bomb threshold (about 9459 × 9459): enough for any camera or
drone photo, while a 13000 × 13000 PNG of 492 KB would need 500 MB to decode."""


@dataclass(frozen=True)
class ImagePolicy:
    """Which images a reading accepts: the server's pixel limit, and whether images that cannot
    be used are left out with a warning (`image_skipped`) instead of failing the import."""

    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    skip_invalid: bool = False


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
    end_marker_added: bool = False
    """A JPEG whose only fault was a missing end-of-image marker: `sha256` and `size_bytes`
    are those of the file with the marker appended, which is what gets stored."""

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


def describe_image(
    path: str | os.PathLike[str], max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
) -> ImageInfo:
    """Hash an image file (read once, in chunks) and check that it decodes completely.

    Pillow reads the header for format, size and EXIF orientation; an image of more than
    `max_pixels` is refused from the header alone (`image_too_large`), before any pixel is
    decoded. Then `verify()` (checksums where the format has them), then every pixel is decoded
    from a fresh open, which is what catches truncated files; JPEGs are decoded at 1/8 scale,
    which still reads every byte of entropy-coded data but holds 64 times fewer pixels. Pixels
    are dropped at once. A JPEG whose only fault is a missing end-of-image marker is accepted
    with `end_marker_added` (Ultralytics keeps such images too). Raises `ImageError` with
    `reason_code` `image_unreadable`, `image_too_large` or `unsupported_image_type`.
    """
    name = os.fspath(path)
    digest = hashlib.sha256()
    size = 0
    tail = b""
    try:
        with open(name, "rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                tail = (tail + chunk)[-2:]
    except OSError as exc:
        raise ImageError(
            f"cannot read the file: {exc.strerror or exc}", reason_code="image_unreadable"
        ) from exc
    if size == 0:
        raise ImageError("the image file is empty", reason_code="image_unreadable")
    fmt, width, height = "unknown", 0, 0
    try:
        with Image.open(name) as im:
            fmt = im.format or "unknown"
            width, height = im.size
            if fmt not in _PIL_FORMATS:
                raise ImageError(
                    f"the file is a {fmt} image; accepted: JPEG, PNG, BMP, WebP, TIFF",
                    reason_code="unsupported_image_type",
                )
            check_pixels(width, height, max_pixels)
            im.verify()  # must come right after open (PNG checks chunks from the start)
        with Image.open(name) as im:
            orientation = _orientation(im)
            _decode(im)
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:  # Pillow's own refusal, at open
        raise ImageError(
            f"the image has too many pixels: {exc}", reason_code="image_too_large"
        ) from exc
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, struct.error...)
        if not (fmt in _JPEG_FORMATS and tail != END_OF_IMAGE and _decodes_with_end_marker(name)):
            raise ImageError(
                f"cannot decode the image: {_reason(exc)}", reason_code="image_unreadable"
            ) from exc
        digest.update(END_OF_IMAGE)
        size += len(END_OF_IMAGE)
        orientation = _orientation_of(name)
        restored = True
    else:
        restored = False
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return ImageInfo(
        sha256=digest.hexdigest(),
        size_bytes=size,
        width=width,
        height=height,
        format=fmt,
        exif_orientation=orientation,
        end_marker_added=restored,
    )


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    """Refuse an image larger than `max_pixels`, knowing only its header's size."""
    if width * height > max_pixels:
        raise ImageError(
            f"the image is {width}x{height} = {width * height:,} pixels; the server accepts at "
            f"most {max_pixels:,} (setting LENSFORGE_DATASETS__MAX_IMAGE_PIXELS)",
            reason_code="image_too_large",
        )


def _decode(im: Image.Image) -> None:
    if im.format in _JPEG_FORMATS:
        im.draft(im.mode, (max(1, im.width // 8), max(1, im.height // 8)))
    im.load()


def _decodes_with_end_marker(name: str) -> bool:
    """Whether a JPEG that fails to decode only lacks its end-of-image marker.

    With the marker appended, a truncated file decodes too (libjpeg fills the missing blocks
    with grey), so that alone proves nothing. The test: decode it once with the marker right
    after the data and twice with different filler bytes before the marker. If the file's
    entropy-coded data is complete, the decoder skips the filler and the pixels are identical;
    if it is cut short, the filler is decoded as image data and the pixels differ.
    """
    with open(name, "rb") as fh:
        data = fh.read()
    try:
        pixels = [
            _pixels(data + filler + END_OF_IMAGE) for filler in (b"", b"\x55" * 256, b"\xaa" * 256)
        ]
    except Exception:
        return False
    return pixels[0] == pixels[1] == pixels[2]


def _pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im.tobytes()


def _orientation_of(name: str) -> int:
    with Image.open(name) as im:
        return _orientation(im)


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
