"""A trained model deployed through the CLI and asked through both ways in: the image API and
the inference protocol with an unmodified `tritonclient` (binary and JSON tensors). The answers
are compared with the job's own `predict` (PyTorch, in the trainer's environment)."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import tritonclient.http as triton
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from lensforge.cli.main import app
from lensforge.serve.app import create_serve_app
from lensforge.serving.images import decode_image
from lensforge.serving.vision import decode_detections, detection_result, letterbox, to_tensor
from tests.fixtures.app import Account
from tests.fixtures.live_server import LiveServer, ThreadedServer

CONF = 0.001  # as the job's predict was asked
# Boxes this close to the threshold may fall either side of it between PyTorch and ONNX Runtime
# (their outputs differ by up to the export's verified 1e-3): compared above this score only.
COMPARED_ABOVE = 0.005


@dataclass(frozen=True)
class Served:
    image_api: dict[str, Any]
    protocol_binary: dict[str, Any]
    protocol_json: dict[str, Any]


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def deploy_and_predict(
    client: TestClient, account: Account, api: LiveServer, export_id: str, image: Path
) -> Served:
    key = client.post("/api/v1/api-keys", json={"name": "cli"}, headers=account.headers)
    assert key.status_code == 201, key.text
    _cli("login", "--url", api.url, "--api-key", key.json()["secret"])
    _cli("deploy", export_id, "--name", "raccoon", "--json")
    serving_key = _cli("deployments", "keys", "create", "raccoon", "--name", "tests", "--json")
    secret = _json_field(serving_key, "secret")
    headers = {"Authorization": f"Bearer {secret}"}

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()[:2]
    running = ThreadedServer.start(create_serve_app(api.settings), sock)
    try:
        answer = httpx.post(
            f"http://{host}:{port}/v1/infer/raccoon",
            files=[("images", (image.name, image.read_bytes(), "image/jpeg"))],
            data={"conf": str(CONF)},
            headers=headers,
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        (image_result,) = answer.json()["results"]
        binary, as_json = _through_the_protocol(f"{host}:{port}", headers, image)
    finally:
        running.stop()
    return Served(image_result, binary, as_json)


def _json_field(output: str, name: str) -> str:
    value: str = json.loads(output)[name]
    return value


def _through_the_protocol(
    url: str, headers: dict[str, str], image: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    tritons = triton.InferenceServerClient(url)
    assert tritons.is_server_live()
    assert tritons.is_model_ready("raccoon", headers=dict(headers))
    metadata = tritons.get_model_metadata("raccoon", headers=dict(headers))
    (spec,) = metadata["inputs"]
    size = (int(spec["shape"][2]), int(spec["shape"][3]))
    assert tritons.get_model_config("raccoon", headers=dict(headers))["name"] == "raccoon"
    pixels = decode_image(image.read_bytes())
    boxed = letterbox(pixels, size)
    tensor = to_tensor([boxed.image])
    results = []
    for binary in (True, False):
        sent = triton.InferInput(spec["name"], list(tensor.shape), "FP32")
        sent.set_data_from_numpy(tensor, binary_data=binary)
        wanted = triton.InferRequestedOutput(metadata["outputs"][0]["name"], binary_data=binary)
        # a fresh dict each call: tritonclient adds its length header to the one it is given
        reply = tritons.infer("raccoon", [sent], outputs=[wanted], headers=dict(headers))
        output = reply.as_numpy(metadata["outputs"][0]["name"])
        assert output is not None
        assert output.dtype == np.float32
        found = decode_detections(output[0], num_classes=1, conf=CONF)
        result = detection_result(found, boxed, ["raccoon"], image=image.name)
        results.append(result.model_dump(mode="json", exclude={"inference_ms"}))
    return results[0], results[1]


def _iou(a: list[float], b: list[float]) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def assert_same_detections(expected: dict[str, Any], served: dict[str, Any]) -> None:
    """Every detection scored above `COMPARED_ABOVE` on either side has its twin on the other:
    the same class, the box within a pixel-level IoU of 0.9, the score within 0.01."""
    assert (served["width"], served["height"]) == (expected["width"], expected["height"])
    confident = [d for d in expected["detections"] if d["score"] > COMPARED_ABOVE]
    assert confident, f"the job's predict found nothing to compare: {expected['detections']}"
    for ours, theirs, side in (
        (confident, served["detections"], "served"),
        ([d for d in served["detections"] if d["score"] > COMPARED_ABOVE],
         expected["detections"], "predict"),
    ):  # fmt: skip
        for detection in ours:
            twins = [
                other
                for other in theirs
                if other["class_name"] == detection["class_name"]
                and _iou(other["box"], detection["box"]) >= 0.9
                and abs(other["score"] - detection["score"]) <= 0.01
            ]
            assert twins, f"{detection} has no twin in the {side} detections: {theirs}"
