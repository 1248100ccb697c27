"""`POST /v1/infer/{deployment}`: images in, the platform's results out.

Images come as multipart files (`images`, repeatable), or as JSON
`{"images": [{"base64": ...} | {"url": ...}], "conf"?, "iou"?, "max_det"?, "imgsz"?}`.
Parameters may also be query parameters (and form fields); the deployment's `parameters` give
the defaults. `render=true` adds each image with its predictions drawn, as base64 JPEG.
Each image joins the deployment's batching queue on its own, so the images of one request
and those of concurrent requests batch together.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from fastapi import APIRouter, Request, Response
from starlette.datastructures import UploadFile

from lensforge.auth.policy import Action
from lensforge.inference.results import ImageResult
from lensforge.serve.context import (
    Serving,
    metered,
    read_body,
    serving_of,
    unless_disconnected,
)
from lensforge.serve.directory import ServedVersion
from lensforge.serving.errors import (
    InvalidParameter,
    ServingError,
    TooManyImages,
)
from lensforge.serving.images import decode_image
from lensforge.serving.pipeline import ModelCard, postprocess, preprocess

router = APIRouter()
Array = np.ndarray[Any, Any]
DEFAULTS: dict[str, Any] = {"conf": 0.25, "iou": 0.7, "max_det": 300, "imgsz": None}
MAX_DET = 1000
MAX_IMGSZ = 4096


class InvalidRequest(ServingError):
    code = "invalid_request"


class UnsupportedMediaType(ServingError):
    status_code = 415
    code = "unsupported_media_type"


@dataclass(frozen=True)
class Options:
    conf: float
    iou: float
    max_det: int
    imgsz: tuple[int, int] | None
    render: bool


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes


@router.post("/v1/infer/{deployment}")
async def infer_images(request: Request, deployment: str) -> Response:
    parts = serving_of(request)
    async with metered(
        request, route="image", reference=deployment, action=Action.DEPLOYMENT_INFER
    ) as (caller, state, usage):
        limit_headers = await parts.limits.check(
            caller,
            organization_id=state.organization_id,
            deployment_id=state.id,
            per_second=state.rate_limit_per_second,
            burst=state.rate_limit_burst,
        )
        body = await read_body(request, parts.settings.serving.max_request_bytes)
        usage.bytes_in = len(body)
        uploads, fields = await _images_and_fields(request, body, parts)
        usage.images = len(uploads)
        options = _options({**state.parameters}, fields, request.query_params)
        served = await parts.directory.serving(state)
        usage.version = served.number
        served.card.check_served()
        results, rendered, timing = await _predict(
            request, parts, served, uploads, options, state.name
        )
        usage.queue_ms, usage.compute_ms, usage.batch_size = timing
        document: dict[str, Any] = {
            "deployment": state.name,
            "version": served.number,
            "request_id": str(usage.request_id),
            "results": [result.model_dump(mode="json") for result in results],
        }
        if options.render:
            document["rendered"] = rendered
        answer = json.dumps(document, separators=(",", ":")).encode()
        usage.bytes_out = len(answer)
        return Response(answer, headers=limit_headers, media_type="application/json")


async def _images_and_fields(
    request: Request, body: bytes, parts: Serving
) -> tuple[list[Upload], dict[str, Any]]:
    limit = parts.settings.serving.max_images_per_request
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        uploads, fields = await _multipart(request, limit)
    elif content_type == "application/json":
        uploads, fields = await _json_images(body, parts, limit)
    else:
        raise UnsupportedMediaType(
            "send images as multipart/form-data (field `images`) or as application/json "
            '({"images": [{"base64": ...}]})'
        )
    if not uploads:
        raise InvalidRequest("no images: send at least one in `images`")
    return uploads, fields


async def _multipart(request: Request, limit: int) -> tuple[list[Upload], dict[str, Any]]:
    try:
        form = await request.form(max_files=limit + 1, max_fields=32)
    except Exception as exc:  # Starlette's multipart errors: a malformed body
        raise InvalidRequest(f"the multipart body cannot be read: {exc}") from None
    try:
        files = form.getlist("images")
        if len(files) > limit:
            raise TooManyImages(f"at most {limit} images per request")
        uploads: list[Upload] = []
        for index, item in enumerate(files):
            if not isinstance(item, UploadFile):
                raise InvalidRequest("`images` must be files")
            uploads.append(Upload(item.filename or f"image-{index}", await item.read()))
        fields = {key: value for key, value in form.items() if isinstance(value, str)}
        return uploads, fields
    finally:
        await form.close()


async def _json_images(
    body: bytes, parts: Serving, limit: int
) -> tuple[list[Upload], dict[str, Any]]:
    try:
        # Megabytes of base64 parse off the event loop.
        document = await asyncio.to_thread(json.loads, body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequest("the body is not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("images"), list):
        raise InvalidRequest('the body must be {"images": [{"base64": ...} | {"url": ...}]}')
    images = document["images"]
    if len(images) > limit:
        raise TooManyImages(f"at most {limit} images per request")
    uploads: list[Upload] = []
    for index, item in enumerate(images):
        if not isinstance(item, dict):
            raise InvalidRequest(f"images.{index} must be an object with base64 or url")
        name = item.get("name") if isinstance(item.get("name"), str) else f"image-{index}"
        if isinstance(item.get("base64"), str):
            data = await asyncio.to_thread(_base64, item["base64"], index)
            uploads.append(Upload(str(name), data))
        elif isinstance(item.get("url"), str):
            uploads.append(Upload(str(name), await parts.url_images.fetch(item["url"])))
        else:
            raise InvalidRequest(f"images.{index} needs a `base64` or a `url` string")
    fields = {key: value for key, value in document.items() if key != "images"}
    return uploads, fields


def _base64(text: str, index: int) -> bytes:
    if text.startswith("data:"):  # a data URL: data:image/jpeg;base64,....
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"images.{index}.base64 is not valid base64") from None


def _options(
    defaults: Mapping[str, Any], fields: Mapping[str, Any], query: Mapping[str, str]
) -> Options:
    def pick(name: str) -> Any:
        for source in (query, fields, defaults):
            if name in source and source[name] is not None:
                return source[name]
        return DEFAULTS.get(name)

    conf = _number(pick("conf"), "conf", 0.0, 1.0)
    iou = _number(pick("iou"), "iou", 0.0, 1.0)
    max_det = int(_number(pick("max_det"), "max_det", 1, MAX_DET, integer=True))
    return Options(conf, iou, max_det, _imgsz(pick("imgsz")), _flag(pick("render")))


def _number(value: Any, name: str, low: float, high: float, *, integer: bool = False) -> float:
    if isinstance(value, str):
        try:
            value = int(value) if integer else float(value)
        except ValueError:
            raise InvalidParameter(f"{name} must be a number, not {value!r}") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameter(f"{name} must be a number")
    if integer and not float(value).is_integer():
        raise InvalidParameter(f"{name} must be a whole number")
    if not low <= value <= high:
        raise InvalidParameter(f"{name} must be between {low:g} and {high:g}, got {value}")
    return float(value)


def _imgsz(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().strip("[]")
        try:
            value = [int(part) for part in text.replace("x", ",").split(",")]
        except ValueError:
            raise InvalidParameter(
                f"imgsz must be a size or [height, width], not {value!r}"
            ) from None
        if len(value) == 1:
            value = value[0]
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        or not all(32 <= v <= MAX_IMGSZ for v in value)
    ):
        raise InvalidParameter(
            f"imgsz must be a size or [height, width] between 32 and {MAX_IMGSZ}"
        )
    return (value[0], value[1])


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise InvalidParameter(f"render must be true or false, not {value!r}")


async def _predict(
    request: Request,
    parts: Serving,
    served: ServedVersion,
    uploads: list[Upload],
    options: Options,
    name: str,
) -> tuple[list[ImageResult], list[str], tuple[float, float, int]]:
    card = served.card
    max_pixels = parts.settings.serving.max_image_pixels
    prepared = await asyncio.to_thread(_prepare, uploads, card, options, max_pixels)
    parts.metrics.queue_depth(name, served.batcher.depth)
    outcomes = await unless_disconnected(
        request,
        asyncio.gather(
            *(served.batcher.submit({card.input_name: tensor}) for _, tensor, _ in prepared)
        ),
    )
    names = [spec.name for spec in served.signature.outputs]

    def finish() -> tuple[list[ImageResult], list[str]]:
        results: list[ImageResult] = []
        rendered: list[str] = []
        for (image, _, contexts), outcome in zip(prepared, outcomes, strict=True):
            outputs = [outcome.outputs[name] for name in names]
            (result,) = postprocess(
                outputs,
                contexts,
                card,
                conf=options.conf,
                iou=options.iou,
                max_det=options.max_det,
                inference_ms=outcome.compute_ms,
            )
            results.append(result)
            if options.render:
                rendered.append(_render(image, result))
        return results, rendered

    results, rendered = await asyncio.to_thread(finish)
    timing = (
        max(outcome.queue_ms for outcome in outcomes),
        sum(outcome.compute_ms for outcome in outcomes),
        max(outcome.batch_size for outcome in outcomes),
    )
    return results, rendered, timing


def _prepare(
    uploads: list[Upload], card: ModelCard, options: Options, max_pixels: int
) -> list[tuple[Array, Array, list[Any]]]:
    prepared: list[tuple[Array, Array, list[Any]]] = []
    for upload in uploads:
        image = decode_image(upload.data, max_pixels=max_pixels)
        tensor, contexts = preprocess([image], card, options.imgsz, names=[upload.name])
        prepared.append((image, tensor, contexts))
    return prepared


def _render(image: Array, result: ImageResult) -> str:
    from PIL import Image

    from lensforge.inference.render import render_jpeg_base64

    return render_jpeg_base64(Image.fromarray(image), result)
