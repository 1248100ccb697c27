"""Decoding images sent for prediction, safely: a pixel limit checked from the header before any
pixel is decoded (a decompression bomb costs nothing), EXIF orientation applied (as OpenCV's
`imread` does for the trainers), RGB out.

    array = decode_image(data, max_pixels=40_000_000)   # HxWx3 uint8, RGB
"""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from lensforge.serving.errors import ImageTooLarge, InvalidImage, TruncatedImage

DEFAULT_MAX_PIXELS = 40_000_000  # a 40-megapixel photo; far beyond any model's input


def decode_image(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray[Any, Any]:
    """`data` (any format Pillow reads) as an HxWx3 RGB uint8 array."""
    try:
        with warnings.catch_warnings():
            # Pillow warns (and past twice its global limit, raises) about bombs on open; our
            # own limit below is the one that counts.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError:
        raise ImageTooLarge("the image has too many pixels (a decompression bomb?)") from None
    except (OSError, ValueError, SyntaxError):
        raise InvalidImage("not an image (or a format Pillow cannot read)") from None
    with image:
        width, height = image.size
        if width * height > max_pixels:
            raise ImageTooLarge(
                f"the image is {width}x{height} pixels, more than the limit of {max_pixels}"
            )
        try:
            image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = upright.convert("RGB")
        except OSError as exc:
            if "truncated" in str(exc):
                raise TruncatedImage("the image is truncated") from None
            raise InvalidImage(f"the image cannot be decoded: {exc}") from None
        except (ValueError, SyntaxError) as exc:
            raise InvalidImage(f"the image cannot be decoded: {exc}") from None
        return np.asarray(rgb)


__all__ = ["DEFAULT_MAX_PIXELS", "decode_image"]
