"""The Open Inference Protocol v2 (KServe V2, Triton's HTTP API) with Triton's binary tensors,
so that an unmodified `tritonclient.http.InferenceServerClient` works. `{model}` is a
deployment's name (any case) or id in the caller's organization; the model version is the
deployment's version number. The codec is `lensforge.serving.protocol`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from lensforge import __version__
from lensforge.auth.policy import Action
from lensforge.serve.context import metered, read_body, serving_of, unless_disconnected
from lensforge.serve.directory import DeploymentState, ServedVersion
from lensforge.serving.errors import ModelVersionNotFound, ServiceUnavailable
from lensforge.serving.protocol import (
    HEADER_LENGTH,
    check_inputs,
    encode_infer_response,
    model_config,
    model_metadata,
    parse_infer_request,
    select_outputs,
    server_metadata,
)

router = APIRouter()
SERVER_NAME = "lensforge"


def _json(document: Any, status: int = 200) -> Response:
    return Response(
        json.dumps(document, separators=(",", ":")),
        status_code=status,
        media_type="application/json",
    )


@router.get("/v2/health/live")
async def live() -> Response:
    return _json({"live": True})


@router.get("/v2/health/ready")
async def ready(request: Request) -> Response:
    if not serving_of(request).directory.ready:
        raise ServiceUnavailable("the serving process is still starting")
    return _json({"ready": True})


@router.get("/v2")
async def metadata() -> Response:
    return _json(server_metadata(name=SERVER_NAME, version=__version__))


def _check_version(deployment: DeploymentState, served: ServedVersion, version: str | None) -> None:
    if version is None:
        return
    known = {str(served.number), str(deployment.current_version)}
    if version not in known:
        raise ModelVersionNotFound(
            f"deployment {deployment.name!r} serves version {served.number}, not {version!r}"
        )


@router.get("/v2/models/{model}")
@router.get("/v2/models/{model}/versions/{version}")
async def model(request: Request, model: str, version: str | None = None) -> Response:
    async with metered(request, route="v2", reference=model, action=Action.DEPLOYMENT_READ) as (
        _,
        deployment,
        usage,
    ):
        served = await serving_of(request).directory.serving(deployment)
        _check_version(deployment, served, version)
        usage.version = served.number
        return _json(
            model_metadata(
                name=deployment.name,
                versions=[str(served.number)],
                inputs=served.signature.inputs,
                outputs=served.signature.outputs,
            )
        )


@router.get("/v2/models/{model}/ready")
@router.get("/v2/models/{model}/versions/{version}/ready")
async def model_ready(request: Request, model: str, version: str | None = None) -> Response:
    async with metered(request, route="v2", reference=model, action=Action.DEPLOYMENT_READ) as (
        _,
        deployment,
        usage,
    ):
        served = await serving_of(request).directory.serving(deployment)
        _check_version(deployment, served, version)
        usage.version = served.number
        return _json({"name": deployment.name, "ready": True})


@router.get("/v2/models/{model}/config")
@router.get("/v2/models/{model}/versions/{version}/config")
async def config(request: Request, model: str, version: str | None = None) -> Response:
    async with metered(request, route="v2", reference=model, action=Action.DEPLOYMENT_READ) as (
        _,
        deployment,
        usage,
    ):
        served = await serving_of(request).directory.serving(deployment)
        _check_version(deployment, served, version)
        usage.version = served.number
        document = model_config(
            name=deployment.name,
            inputs=served.signature.inputs,
            outputs=served.signature.outputs,
            max_batch_size=deployment.max_batch_size if served.batching else 0,
        )
        if served.batching:
            document["dynamic_batching"] = {
                "max_queue_delay_microseconds": int(deployment.max_queue_delay_ms * 1000)
            }
        return _json(document)


@router.post("/v2/models/{model}/infer")
@router.post("/v2/models/{model}/versions/{version}/infer")
async def infer(request: Request, model: str, version: str | None = None) -> Response:
    parts = serving_of(request)
    async with metered(request, route="v2", reference=model, action=Action.DEPLOYMENT_INFER) as (
        caller,
        deployment,
        usage,
    ):
        limit_headers = await parts.limits.check(
            caller,
            organization_id=deployment.organization_id,
            deployment_id=deployment.id,
            per_second=deployment.rate_limit_per_second,
            burst=deployment.rate_limit_burst,
        )
        body = await read_body(request, parts.settings.serving.max_request_bytes)
        usage.bytes_in = len(body)
        parsed = parse_infer_request(body, header_length=request.headers.get(HEADER_LENGTH))
        served = await parts.directory.serving(deployment)
        _check_version(deployment, served, version)
        usage.version = served.number
        check_inputs(parsed, served.signature.inputs)
        wanted = select_outputs(parsed, served.signature.outputs)
        usage.images = _rows(parsed.inputs)
        parts.metrics.queue_depth(deployment.name, served.batcher.depth)
        outcome = await unless_disconnected(request, served.batcher.submit(dict(parsed.inputs)))
        usage.queue_ms, usage.compute_ms = outcome.queue_ms, outcome.compute_ms
        usage.batch_size = outcome.batch_size
        answer, length = encode_infer_response(
            model_name=deployment.name,
            model_version=str(served.number),
            outputs=[(out.name, outcome.outputs[out.name], out.binary) for out in wanted],
            request_id=parsed.id,
        )
        usage.bytes_out = len(answer)
        headers = dict(limit_headers)
        if length is not None:
            headers[HEADER_LENGTH] = str(length)
        media = "application/octet-stream" if length is not None else "application/json"
        return Response(answer, headers=headers, media_type=media)


def _rows(inputs: dict[str, Any]) -> int:
    first = next(iter(inputs.values()), None)
    return int(first.shape[0]) if first is not None and first.ndim else 1
