"""Drawing a result onto its image: one renderer for every trainer, because every trainer emits
the same result schema (`lensforge.inference.results`).

Boxes carry a label `name 0.91`; polygons (segmentation masks, oriented boxes) are filled
semi-transparently with an outline; keypoints are dots; a classification's top-k is a legend at
the top-left. Line width and font size follow the image size, so a label reads the same on a
thumbnail and on a 4K frame. One image is held at a time (plus, for fills, one overlay of its
size): callers rendering many results do it one by one.
"""

from __future__ import annotations

import base64
import colorsys
import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from PIL import Image, ImageDraw, ImageFont, ImageOps

from lensforge.inference.results import Classification, Detection, ImageResult

RGB = tuple[int, int, int]
# Readable on photos and distinct from each other (Tableau 10 and its light half, reordered so
# neighbouring class ids differ most); ids beyond it get golden-ratio hues.
PALETTE: tuple[RGB, ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)  # fmt: skip
FILL_ALPHA = 96
# Below this score a keypoint is drawn as not visible (not at all): trainers report hidden
# keypoints with a low score at (0, 0) or a guessed place.
KEYPOINT_MIN_SCORE = 0.5
# The size that line width and font size are scaled from (a 640 px side: width 2, font 14).
_REFERENCE_SIDE = 640
_GOLDEN_RATIO = 0.618033988749895


def class_colour(class_id: int) -> RGB:
    """The colour of a class, the same in every image and every run."""
    if 0 <= class_id < len(PALETTE):
        return PALETTE[class_id]
    hue = (abs(class_id) * _GOLDEN_RATIO) % 1.0
    red, green, blue = colorsys.hsv_to_rgb(hue, 0.75, 0.9)
    return round(red * 255), round(green * 255), round(blue * 255)


def text_colour(background: RGB) -> RGB:
    """Black or white, whichever reads better on `background` (by its luminance)."""
    red, green, blue = background
    return (0, 0, 0) if 0.299 * red + 0.587 * green + 0.114 * blue > 150 else (255, 255, 255)


def label(item: Detection | Classification) -> str:
    return f"{item.class_name} {item.score:.2f}"


class _Style:
    """Line width, font and marker size for one image size."""

    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)
        scale = max(width, height) / _REFERENCE_SIDE
        self.line = max(1, round(2 * scale))
        self.font = ImageFont.load_default(size=max(10, round(14 * scale)))
        self.pad = max(1, round(3 * scale))
        self.dot = max(2, round(4 * scale))

    def text_size(self, draw: ImageDraw.ImageDraw, text: str) -> tuple[int, int]:
        left, _top, right, bottom = draw.textbbox((0, 0), text, font=self.font)
        return int(right - left), int(bottom)


def render(image: Image.Image, result: ImageResult) -> Image.Image:
    """A copy of `image` (RGB) with `result` drawn on it; `image` is left as it was."""
    canvas = image.convert("RGB") if image.mode != "RGB" else image.copy()
    style = _Style(*canvas.size)
    detections = result.detections or []
    polygons = [d for d in detections if d.polygon]
    if polygons:
        canvas = _fill_polygons(canvas, polygons)
    draw = ImageDraw.Draw(canvas)
    for detection in detections:
        _draw_detection(draw, detection, result.task, style)
    # Labels last, so no outline crosses a label.
    for detection in detections:
        _draw_label(draw, detection, _label_anchor(detection, result.task), style)
    if result.classifications:
        _draw_legend(draw, result.classifications, style)
    return canvas


def render_png(source: BinaryIO | Path, result: ImageResult) -> bytes:
    """The image file `source` (any format Pillow reads), turned upright by its EXIF
    orientation, with `result` drawn on it, as PNG bytes (RGB)."""
    with Image.open(source) as opened:
        upright = ImageOps.exif_transpose(opened)
        drawn = render(upright, result)
    buffer = io.BytesIO()
    drawn.save(buffer, format="PNG")
    return buffer.getvalue()


def render_jpeg_base64(image: Image.Image, result: ImageResult, quality: int = 85) -> str:
    """`render` as a base64 JPEG: what the serving APIs put in their JSON answers."""
    buffer = io.BytesIO()
    render(image, result).convert("RGB").save(buffer, format="JPEG", quality=quality)
    return base64.b64encode(buffer.getvalue()).decode()


# --- pieces -----------------------------------------------------------------------------------


def _points(points: Sequence[Sequence[float]]) -> list[tuple[float, float]]:
    return [(float(p[0]), float(p[1])) for p in points]


def _fill_polygons(canvas: Image.Image, detections: list[Detection]) -> Image.Image:
    """Blend each polygon's colour in at `FILL_ALPHA`, through a mask the size of its bounding
    box (never a full-size overlay: a 12 MP photo would need three more full-size images)."""
    width, height = canvas.size
    for detection in detections:
        points = _points(detection.polygon or [])
        left = max(0, math.floor(min(x for x, _ in points)))
        top = max(0, math.floor(min(y for _, y in points)))
        right = min(width, math.ceil(max(x for x, _ in points)) + 1)
        bottom = min(height, math.ceil(max(y for _, y in points)) + 1)
        if right <= left or bottom <= top:
            continue
        mask = Image.new("L", (right - left, bottom - top), 0)
        ImageDraw.Draw(mask).polygon([(x - left, y - top) for x, y in points], fill=FILL_ALPHA)
        canvas.paste(class_colour(detection.class_id), (left, top, right, bottom), mask)
    return canvas


def _draw_detection(
    draw: ImageDraw.ImageDraw, detection: Detection, task: str, style: _Style
) -> None:
    colour = class_colour(detection.class_id)
    if detection.polygon:
        draw.polygon(_points(detection.polygon), outline=colour, width=style.line)
    if task != "obb":  # an oriented box is its polygon; its axis-aligned hull would only clutter
        x1, y1, x2, y2 = detection.box
        draw.rectangle((x1, y1, x2, y2), outline=colour, width=style.line)
    for x, y, score in detection.keypoints or []:
        if score >= KEYPOINT_MIN_SCORE:
            radius = style.dot
            draw.ellipse(
                (x - radius, y - radius, x + radius, y + radius),
                fill=colour,
                outline=(255, 255, 255),
                width=max(1, style.line // 2),
            )


def _label_anchor(detection: Detection, task: str) -> tuple[float, float]:
    """Where a label sits: the box's top-left, or an oriented box's topmost corner."""
    if task == "obb" and detection.polygon:
        x, y = min(_points(detection.polygon), key=lambda point: (point[1], point[0]))
        return x, y
    return detection.box[0], detection.box[1]


def _draw_label(
    draw: ImageDraw.ImageDraw, detection: Detection, anchor: tuple[float, float], style: _Style
) -> None:
    colour = class_colour(detection.class_id)
    text = label(detection)
    width, height = style.text_size(draw, text)
    box_width, box_height = width + 2 * style.pad, height + 2 * style.pad
    image_width, image_height = style.size
    x = min(max(0.0, anchor[0]), max(0.0, image_width - box_width))
    # Above the box when there is room, else just inside its top edge.
    y = anchor[1] - box_height if anchor[1] - box_height >= 0 else max(0.0, anchor[1])
    y = min(y, max(0.0, image_height - box_height))
    draw.rectangle((x, y, x + box_width - 1, y + box_height - 1), fill=colour)
    draw.text((x + style.pad, y + style.pad), text, fill=text_colour(colour), font=style.font)


def _draw_legend(draw: ImageDraw.ImageDraw, items: Sequence[Classification], style: _Style) -> None:
    texts = [label(item) for item in items]
    sizes = [style.text_size(draw, text) for text in texts]
    line_height = max(height for _, height in sizes) + style.pad
    swatch = line_height - style.pad
    width = max(w for w, _ in sizes) + swatch + 4 * style.pad
    height = line_height * len(items) + 2 * style.pad
    margin = style.pad * 2
    draw.rectangle((margin, margin, margin + width, margin + height), fill=(0, 0, 0))
    for index, (item, text) in enumerate(zip(items, texts, strict=True)):
        top = margin + style.pad + index * line_height
        left = margin + style.pad
        draw.rectangle((left, top, left + swatch, top + swatch), fill=class_colour(item.class_id))
        draw.text((left + swatch + style.pad * 2, top), text, fill=(255, 255, 255), font=style.font)
