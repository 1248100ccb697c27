"""The renderer, checked on pixels: what is drawn where, in which colour, and what is not."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from lensforge.inference.render import (
    FILL_ALPHA,
    PALETTE,
    class_colour,
    render,
    render_png,
    text_colour,
)
from lensforge.inference.results import ImageResult, validate_result

CLASSES = ["raccoon", "cat", "dog"]
GREY = (128, 128, 128)


def make(task: str, width: int, height: int, **items: Any) -> ImageResult:
    data = {"image": "x.jpg", "width": width, "height": height, "task": task, **items}
    return validate_result(data, task=task, classes=CLASSES)


def det(class_id: int, box: list[float], score: float = 0.9, **extra: Any) -> dict[str, Any]:
    return {
        "class_id": class_id,
        "class_name": CLASSES[class_id],
        "score": score,
        "box": box,
        **extra,
    }


def grey(width: int = 640, height: int = 480) -> Image.Image:
    return Image.new("RGB", (width, height), GREY)


def colours_in(image: Image.Image, box: tuple[int, int, int, int]) -> set[tuple[int, int, int]]:
    return {image.getpixel((x, y)) for x in range(box[0], box[2]) for y in range(box[1], box[3])}  # type: ignore[misc]


def test_class_colours_are_deterministic_distinct_and_readable() -> None:
    first = [class_colour(i) for i in range(200)]
    assert first == [class_colour(i) for i in range(200)]
    assert first[: len(PALETTE)] == list(PALETTE)
    assert len(set(first[: len(PALETTE)])) == len(PALETTE)
    assert len(set(first)) > 150  # ids beyond the palette still mostly differ
    for red, green, blue in first:
        assert all(0 <= c <= 255 for c in (red, green, blue))
    for i in range(len(PALETTE) - 1):  # neighbours differ clearly
        a, b = PALETTE[i], PALETTE[i + 1]
        assert sum(abs(x - y) for x, y in zip(a, b, strict=True)) > 60
    assert class_colour(-3) == class_colour(-3)
    assert text_colour((255, 255, 255)) == (0, 0, 0)
    assert text_colour((0, 0, 0)) == (255, 255, 255)


def test_a_box_is_outlined_in_its_class_colour_with_a_label_and_the_size_is_kept() -> None:
    image = grey()
    drawn = render(image, make("detection", 640, 480, detections=[det(1, [100, 150, 300, 400])]))
    colour = class_colour(1)
    assert drawn.size == (640, 480)
    assert drawn.mode == "RGB"
    for point in [(100, 250), (300, 250), (200, 400), (101, 300), (299, 300)]:
        assert drawn.getpixel(point) == colour, point
    assert drawn.getpixel((200, 250)) == GREY  # inside: not filled
    assert drawn.getpixel((50, 50)) == GREY
    # the label sits above the box, in the class colour with text in it
    above = colours_in(drawn, (100, 125, 160, 149))
    assert colour in above
    assert text_colour(colour) in above
    assert image.getpixel((100, 250)) == GREY  # the input is left as it was


def test_an_empty_result_draws_nothing() -> None:
    image = grey(320, 200)
    drawn = render(image, make("detection", 320, 200, detections=[]))
    assert drawn.tobytes() == image.tobytes()
    drawn = render(image, make("classification", 320, 200, classifications=[]))
    assert drawn.tobytes() == image.tobytes()


def test_classes_get_their_own_colours() -> None:
    result = make(
        "detection",
        640,
        480,
        detections=[det(0, [10, 100, 200, 300]), det(2, [300, 100, 600, 300])],
    )
    drawn = render(grey(), result)
    assert drawn.getpixel((10, 200)) == class_colour(0)
    assert drawn.getpixel((600, 200)) == class_colour(2)


def test_a_polygon_is_filled_semi_transparently_and_outlined() -> None:
    polygon = [[100, 100], [400, 100], [400, 400], [100, 400]]
    drawn = render(
        grey(),
        make("segmentation", 640, 480, detections=[det(0, [100, 100, 400, 400], polygon=polygon)]),
    )
    colour = class_colour(0)
    inside = drawn.getpixel((250, 250))
    expected = tuple(
        round((c * FILL_ALPHA + g * (255 - FILL_ALPHA)) / 255)
        for c, g in zip(colour, GREY, strict=True)
    )
    assert all(abs(a - b) <= 2 for a, b in zip(inside, expected, strict=True)), (inside, expected)  # type: ignore[arg-type]
    assert drawn.getpixel((100, 250)) == colour
    assert drawn.getpixel((500, 250)) == GREY


def test_keypoints_are_dots_and_hidden_ones_are_not_drawn() -> None:
    keypoints = [[200, 200, 0.9], [300, 300, 0.1]]
    drawn = render(
        grey(),
        make("pose", 640, 480, detections=[det(2, [100, 100, 400, 400], keypoints=keypoints)]),
    )
    assert drawn.getpixel((200, 200)) == class_colour(2)
    assert drawn.getpixel((300, 300)) == GREY


def test_an_oriented_box_draws_its_corners_not_its_hull() -> None:
    corners = [[200, 100], [300, 200], [200, 300], [100, 200]]  # a diamond
    result = make(
        "obb", 640, 480, detections=[det(0, [100, 100, 300, 300], polygon=corners, angle=0.785)]
    )
    drawn = render(grey(), result)
    assert drawn.getpixel((150, 150)) == class_colour(0)  # on the diamond's edge
    assert drawn.getpixel((100, 300)) == GREY  # the hull's corner is not drawn


def test_classifications_are_a_legend_at_the_top_left() -> None:
    items = [
        {"class_id": 1, "class_name": "cat", "score": 0.8},
        {"class_id": 2, "class_name": "dog", "score": 0.15},
    ]
    drawn = render(grey(), make("classification", 640, 480, classifications=items))
    corner = colours_in(drawn, (0, 0, 200, 80))
    assert {class_colour(1), class_colour(2), (0, 0, 0), (255, 255, 255)} <= corner
    assert colours_in(drawn, (320, 240, 640, 480)) == {GREY}


def test_line_width_and_labels_grow_with_the_image() -> None:
    small = render(
        grey(320, 240), make("detection", 320, 240, detections=[det(0, [50, 50, 200, 200])])
    )
    large = render(
        grey(2560, 1920), make("detection", 2560, 1920, detections=[det(0, [400, 400, 1600, 1600])])
    )
    colour = class_colour(0)

    def thickness(image: Image.Image, x: int, y: int) -> int:
        return sum(1 for dx in range(-20, 20) if image.getpixel((x + dx, y)) == colour)

    assert thickness(small, 50, 150) <= 2
    assert thickness(large, 400, 1000) >= 6

    def label_height(image: Image.Image, x: int, top: int) -> int:
        return sum(1 for y in range(0, top) if image.getpixel((x + 2, y)) == colour)

    assert label_height(large, 400, 400) > 3 * label_height(small, 50, 50)


def test_labels_stay_inside_the_image() -> None:
    drawn = render(grey(), make("detection", 640, 480, detections=[det(1, [600, 0, 640, 30])]))
    colour = class_colour(1)
    assert colour in colours_in(drawn, (560, 0, 640, 30))  # moved left and inside the box's top


def test_a_non_rgb_image_comes_out_rgb() -> None:
    for mode in ("L", "RGBA", "P"):
        image = grey().convert(mode)
        assert render(image, make("detection", 640, 480, detections=[])).mode == "RGB"


def exif_rotated_jpeg(path: Path) -> Path:
    """A 200×100 JPEG stored sideways: orientation 6 says turn it 90° clockwise (100×200)."""
    image = Image.new("RGB", (200, 100), GREY)
    exif = Image.Exif()
    exif[0x0112] = 6
    image.save(path, format="JPEG", exif=exif.tobytes(), quality=95)
    return path


def test_render_png_applies_the_exif_orientation(tmp_path: Path) -> None:
    path = exif_rotated_jpeg(tmp_path / "side.jpg")
    result = make("detection", 100, 200, detections=[det(0, [20, 120, 80, 190])])
    for source in (path, io.BytesIO(path.read_bytes())):
        png = render_png(source, result)
        assert png.startswith(b"\x89PNG")
        with Image.open(io.BytesIO(png)) as drawn:
            assert (drawn.size, drawn.mode) == ((100, 200), "RGB")
            assert drawn.getpixel((20, 160)) == class_colour(0)


@pytest.mark.parametrize("mode", ["RGBA", "L"])
def test_render_png_writes_rgb_for_any_input(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "in.png"
    grey(64, 48).convert(mode).save(path)
    with Image.open(io.BytesIO(render_png(path, make("detection", 64, 48, detections=[])))) as out:
        assert (out.mode, out.size) == ("RGB", (64, 48))
