"""Peak memory of checking an image at import and of rendering its thumbnail.

Each measurement runs in a fresh Python process and reports its peak resident set size
(`VmHWM`), so one measurement's memory never hides another's. The images are valid PNGs and
JPEGs written row by row (the generator itself holds one row), compressible like the 492 KB PNG
of 13000 x 13000 pixels that issue 12 found:

- `describe 13000² PNG`: the import's image check with the default pixel limit (refused from
  the header), and with the limit raised so it decodes everything (what every import did before).
- `describe 6000x4000 JPEG`: the check decoding at 1/8 scale (now) and at full scale (before).
- `thumbnail 8000² PNG`: the thumbnail renderer now, and the previous one (decode, rotate and
  convert at full size, then shrink).

    .venv/bin/python benchmarks/image_memory.py
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_png(path: Path, width: int, height: int) -> None:
    """An RGB PNG of a soft gradient, compressed row by row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    compressor = zlib.compressobj(9)
    with path.open("wb") as out:
        out.write(_PNG_SIGNATURE)
        out.write(chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)))
        for y in range(height):
            shade = y * 255 // max(1, height - 1)
            row = b"\x00" + bytes((shade, 128, 255 - shade)) * width
            data = compressor.compress(row)
            if data:
                out.write(chunk(b"IDAT", data))
        out.write(chunk(b"IDAT", compressor.flush()))
        out.write(chunk(b"IEND", b""))


def write_jpeg(path: Path, width: int, height: int) -> None:
    from PIL import Image

    Image.radial_gradient("L").resize((width, height)).convert("RGB").save(path, quality=90)


_MEASURE = r"""
import io, json, sys
from PIL import Image, ImageOps
Image.MAX_IMAGE_PIXELS = None  # measure our own limits, not Pillow's warning
kind, path, arg = sys.argv[1], sys.argv[2], int(sys.argv[3])
outcome = "ok"
if kind == "describe":
    from lensforge.formats.images import describe_image
    from lensforge.formats.errors import ImageError
    try:
        describe_image(path, arg)
    except ImageError as exc:
        outcome = exc.reason_code
elif kind == "describe-full":  # the check before: every pixel at full scale
    with Image.open(path) as im:
        im.load()
elif kind == "thumbnail":
    from lensforge.datasets.thumbnails import render_thumbnail
    with open(path, "rb") as fh:
        render_thumbnail(fh, arg)
elif kind == "thumbnail-before":  # the renderer before: everything at full size, then shrink
    with open(path, "rb") as fh, Image.open(fh) as image:
        image.draft("RGB", (arg, arg))
        rgb = ImageOps.exif_transpose(image).convert("RGB")
        rgb.thumbnail((arg, arg), Image.Resampling.LANCZOS)
        rgb.save(io.BytesIO(), format="JPEG", quality=85)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
hwm_kib = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
peak_mib = hwm_kib / 1024
print(json.dumps({"peak_mib": round(peak_mib), "outcome": outcome}))
"""


def measure(kind: str, path: Path, arg: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, kind, str(path), str(arg)],
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=13000, help="side of the huge PNG")
    args = parser.parse_args()
    from lensforge.formats.images import DEFAULT_MAX_IMAGE_PIXELS

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        huge, png, jpeg = folder / "huge.png", folder / "big.png", folder / "photo.jpg"
        write_png(huge, args.big, args.big)
        write_png(png, 8000, 8000)
        write_jpeg(jpeg, 6000, 4000)
        baseline = measure("describe", png.with_name("missing.png"), 1)  # interpreter + imports
        rows = [
            ("interpreter and imports only", baseline),
            (f"describe {args.big}² PNG ({huge.stat().st_size // 1024} KB), default limit",
             measure("describe", huge, DEFAULT_MAX_IMAGE_PIXELS)),
            (f"describe {args.big}² PNG, limit raised (full decode, as before)",
             measure("describe", huge, args.big * args.big)),
            ("describe 6000x4000 JPEG, 1/8-scale decode (now)",
             measure("describe", jpeg, DEFAULT_MAX_IMAGE_PIXELS)),
            ("describe 6000x4000 JPEG, full decode (before)", measure("describe-full", jpeg, 0)),
            ("thumbnail 256 of 8000² PNG (now)", measure("thumbnail", png, 256)),
            ("thumbnail 256 of 8000² PNG (before)", measure("thumbnail-before", png, 256)),
            ("thumbnail 256 of 6000x4000 JPEG (now)", measure("thumbnail", jpeg, 256)),
        ]  # fmt: skip
    width = max(len(name) for name, _ in rows)
    for name, result in rows:
        print(f"{name:<{width}}  {result['peak_mib']:>6} MiB  {result['outcome']}")


if __name__ == "__main__":
    main()
