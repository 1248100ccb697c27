"""Decoding images for prediction: each bad image its own code, bombs refused from the header."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from lensforge.serving.errors import ServingError
from lensforge.serving.images import decode_image


def _encode(image: Image.Image, format: str = "PNG", **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def _png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims `width` x `height` pixels, with almost no data after it: what a
    decompression bomb looks like before it is inflated."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


NOISE = Image.fromarray(np.random.default_rng(1).integers(0, 255, (128, 128, 3), dtype=np.uint8))


def test_decodes_to_rgb_uint8() -> None:
    image = Image.new("RGB", (5, 3), (10, 20, 30))
    array = decode_image(_encode(image))
    assert array.shape == (3, 5, 3)
    assert array.dtype == np.uint8
    assert array[0, 0].tolist() == [10, 20, 30]


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "I;16"])
def test_other_modes_become_rgb(mode: str) -> None:
    array = decode_image(_encode(Image.new(mode, (4, 4))))
    assert array.shape == (4, 4, 3)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (6, 2), (200, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    array = decode_image(_encode(image, "JPEG", exif=exif.tobytes()))
    assert array.shape == (6, 2, 3)


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "invalid_image"),
        (b"plain text, not an image", "invalid_image"),
        (b"%PDF-1.4\n", "invalid_image"),
        (_encode(NOISE, "JPEG")[:3000], "truncated_image"),
        (_encode(NOISE, "JPEG")[:200], "invalid_image"),  # cut inside the header
        (_encode(Image.new("RGB", (64, 64)), "PNG")[:60], "truncated_image"),
        (_png_claiming(30000, 30000), "image_too_large"),  # past Pillow's own bomb limit
        (_png_claiming(8000, 6000), "image_too_large"),  # past ours (40 MP), under Pillow's
    ],
    ids=[
        "empty",
        "text",
        "pdf",
        "truncated-jpeg",
        "jpeg-header-cut",
        "truncated-png",
        "bomb",
        "too-large",
    ],
)
def test_bad_images_get_their_code(data: bytes, code: str) -> None:
    with pytest.raises(ServingError) as caught:
        decode_image(data)
    assert caught.value.code == code, caught.value.message


def test_the_pixel_limit_is_a_parameter() -> None:
    data = _encode(Image.new("RGB", (100, 100)))
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ServingError) as caught:
        decode_image(data, max_pixels=9_999)
    assert caught.value.status_code == 413
