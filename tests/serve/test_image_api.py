"""`POST /v1/infer/{deployment}`: multipart, base64 and URL images, rendering, and every bad
input with its status and code."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
from PIL import Image

from lensforge.config import Settings
from tests.serve.conftest import World, running_world
from tests.serving.test_images import _png_claiming


def _png(width: int = 64, height: int = 48, colour: tuple[int, int, int] = (200, 10, 10)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def _expect(response: httpx.Response, status: int, code: str) -> None:
    assert (response.status_code, response.json().get("code")) == (status, code), response.text


def test_multipart_and_base64_images_get_the_platforms_results(world: World) -> None:
    url = f"{world.url}/v1/infer/detector"
    multipart = httpx.post(
        url,
        files=[
            ("images", ("a.png", _png(), "image/png")),
            ("images", ("b.png", _png(), "image/png")),
        ],
        headers=world.headers(),
    )
    assert multipart.status_code == 200, multipart.text
    body = multipart.json()
    assert body["deployment"] == "Detector"
    assert body["version"] == 1
    assert body["request_id"]
    assert multipart.headers["X-Request-Id"] == body["request_id"]
    first = body["results"][0]
    assert (first["image"], first["width"], first["height"], first["task"]) == (
        "a.png",
        64,
        48,
        "detection",
    )
    (found,) = first["detections"]
    # A 64x48 image letterboxed into 64x64: 8 px padding on top, scale 1.
    assert found["class_name"] == "dog"
    assert round(found["score"], 2) == 0.9
    assert [round(v, 1) for v in found["box"]] == [24.0, 16.0, 40.0, 32.0]
    assert "rendered" not in body

    encoded = base64.b64encode(_png()).decode()
    as_json = httpx.post(
        f"{url}?render=true",
        json={"images": [{"base64": encoded, "name": "x.png"}], "conf": 0.95},
        headers=world.headers(),
    )
    assert as_json.status_code == 200, as_json.text
    result = as_json.json()
    assert result["results"][0]["detections"] == []  # conf 0.95 keeps nothing
    rendered = Image.open(io.BytesIO(base64.b64decode(result["rendered"][0])))
    assert rendered.format == "JPEG"
    assert rendered.size == (64, 48)


def test_every_bad_image_request_gets_its_status_and_code(world: World) -> None:
    url = f"{world.url}/v1/infer/detector"
    headers = world.headers()

    def send(*images: bytes) -> httpx.Response:
        files = [("images", (f"{i}.png", data, "image/png")) for i, data in enumerate(images)]
        return httpx.post(url, files=files, headers=headers)

    _expect(send(b"this is not an image"), 400, "invalid_image")
    _expect(send(_png()[:60]), 400, "truncated_image")
    _expect(send(_png(1100, 1000)), 413, "image_too_large")  # 1.1 Mpx over a 1 Mpx limit
    _expect(send(_png_claiming(30000, 30000)), 413, "image_too_large")  # a decompression bomb
    _expect(send(*[_png()] * 5), 413, "too_many_images")
    _expect(httpx.post(url, json={"images": []}, headers=headers), 400, "invalid_request")
    _expect(
        httpx.post(url, json={"images": [{"base64": "###"}]}, headers=headers),
        400,
        "invalid_request",
    )
    _expect(httpx.post(url, content=b"x", headers=headers), 415, "unsupported_media_type")
    _expect(
        httpx.post(
            f"{url}?conf=2", files=[("images", ("a.png", _png(), "image/png"))], headers=headers
        ),
        400,
        "invalid_parameter",
    )
    _expect(
        httpx.post(
            f"{url}?imgsz=abc", files=[("images", ("a.png", _png(), "image/png"))], headers=headers
        ),
        400,
        "invalid_parameter",
    )
    _expect(
        httpx.post(url, json={"images": [{"url": "http://127.0.0.1:9/a.png"}]}, headers=headers),
        403,
        "url_images_disabled",
    )
    too_big = httpx.post(
        url, files=[("images", ("a.bin", b"\0" * (3 * 1024**2), "image/png"))], headers=headers
    )
    _expect(too_big, 413, "request_too_large")
    _expect(
        httpx.post(f"{world.url}/v1/infer/nope", json={"images": []}, headers=headers),
        404,
        "deployment_not_found",
    )
    _expect(
        httpx.post(url, json={"images": []}, headers=world.headers(world.b)),
        404,
        "deployment_not_found",
    )
    _expect(httpx.post(url, json={"images": []}), 401, "api_key_missing")


def test_url_images_never_reach_loopback_unless_allowed(settings: Settings, tmp_path: Path) -> None:
    with running_world(settings, tmp_path, allow_url_images=True) as world:
        url = f"{world.url}/v1/infer/detector"
        # The serving process itself, on loopback: refused before any connection.
        refused = httpx.post(
            url, json={"images": [{"url": f"{world.url}/metrics"}]}, headers=world.headers()
        )
        _expect(refused, 403, "address_not_allowed")
        _expect(
            httpx.post(
                url, json={"images": [{"url": "ftp://example.com/a.png"}]}, headers=world.headers()
            ),
            422,
            "url_fetch_failed",
        )
