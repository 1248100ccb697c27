"""The inference protocol as an unmodified `tritonclient.http` client sees it, and every refusal
with its status and code."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from sqlalchemy import select, update
from tritonclient.utils import InferenceServerException

from lensforge.auth.api_keys import create_api_key, revoke_api_key
from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import ApiKey
from lensforge.models.deployment import Deployment, UsageRecord
from lensforge.serving.protocol import encode_infer_request
from tests.serve.conftest import World, anchors, running_world, store_model
from tests.serving.onnx_models import yolo_detector


def _inputs(batch: int, *, binary: bool) -> list[triton.InferInput]:
    tensor = triton.InferInput("images", [batch, 3, 64, 64], "FP32")
    tensor.set_data_from_numpy(np.zeros((batch, 3, 64, 64), np.float32), binary_data=binary)
    return [tensor]


def test_an_unmodified_tritonclient_works_end_to_end(world: World) -> None:
    client = triton.InferenceServerClient(world.host)
    # A fresh dict per call: tritonclient writes Inference-Header-Content-Length into it.
    headers = world.headers
    try:
        assert client.is_server_live()
        assert client.is_server_ready()
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        assert client.is_model_ready("detector", headers=headers())  # the name, any case
        metadata = client.get_model_metadata("Detector", headers=headers())
        assert metadata["versions"] == ["1"]
        assert metadata["inputs"] == [
            {"name": "images", "datatype": "FP32", "shape": [-1, 3, -1, -1]}
        ]
        config = client.get_model_config("Detector", headers=headers())
        assert config["max_batch_size"] == 8
        assert config["input"][0]["dims"] == [3, -1, -1]

        binary = client.infer("Detector", _inputs(2, binary=True), headers=headers())
        assert np.array_equal(binary.as_numpy("output0"), np.stack([anchors(0.9)] * 2))
        as_json = client.infer(
            "Detector",
            _inputs(1, binary=False),
            outputs=[triton.InferRequestedOutput("output0", binary_data=False)],
            headers=headers(),
            request_id="abc",
        )
        assert as_json.get_response()["id"] == "abc"
        assert np.allclose(as_json.as_numpy("output0")[0], anchors(0.9))

        with pytest.raises(InferenceServerException, match="no deployment"):
            client.get_model_metadata("nope", headers=headers())
        wrong = triton.InferInput("images", [1, 3, 64, 64], "INT32")
        wrong.set_data_from_numpy(np.zeros((1, 3, 64, 64), np.int32))
        with pytest.raises(InferenceServerException, match="must be FP32"):
            client.infer("Detector", [wrong], headers=headers())
    finally:
        client.close()


def _post(world: World, body: bytes, length: int | None, **headers: str) -> httpx.Response:
    sent = {**world.headers(), **headers}
    if length is not None:
        sent["Inference-Header-Content-Length"] = str(length)
    return httpx.post(f"{world.url}/v2/models/detector/infer", content=body, headers=sent)


def _expect(response: httpx.Response, status: int, code: str) -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.json()["error"]
    assert response.headers["X-Request-Id"]


def test_every_bad_protocol_request_gets_its_status_and_code(world: World) -> None:
    good, length = encode_infer_request({"images": np.zeros((1, 3, 64, 64), np.float32)})
    ok = _post(world, good, length)
    assert ok.status_code == 200
    assert ok.headers["X-Request-Id"]

    url = f"{world.url}/v2/models/detector"
    _expect(httpx.get(url), 401, "api_key_missing")
    _expect(
        httpx.get(url, headers={"Authorization": "Bearer lfk_nope_nope"}), 401, "api_key_invalid"
    )
    # Another organization's deployment does not exist for its keys.
    _expect(httpx.get(url, headers=world.headers(world.b)), 404, "deployment_not_found")
    _expect(
        httpx.get(f"{world.url}/v2/models/{world.deployment_id}", headers=world.headers(world.b)),
        404,
        "deployment_not_found",
    )
    assert httpx.get(
        f"{world.url}/v2/models/{world.deployment_id}", headers=world.headers()
    ).is_success
    _expect(httpx.get(f"{url}/versions/7", headers=world.headers()), 404, "model_version_not_found")

    wrong_type, n = encode_infer_request({"images": np.zeros((1, 3, 64, 64), np.float64)})
    _expect(_post(world, wrong_type, n), 400, "datatype_mismatch")
    wrong_shape, n = encode_infer_request({"images": np.zeros((1, 64, 64), np.float32)})
    _expect(_post(world, wrong_shape, n), 400, "shape_mismatch")
    wrong_name, n = encode_infer_request({"pixels": np.zeros((1, 3, 64, 64), np.float32)})
    _expect(_post(world, wrong_name, n), 400, "unknown_input")
    _expect(_post(world, good[:-10], length), 400, "binary_size_mismatch")  # sizes that lie
    _expect(_post(world, good + b"xx", length), 400, "binary_size_mismatch")
    _expect(_post(world, good, None), 400, "invalid_inference_request")
    _expect(_post(world, b"{}", 99), 400, "binary_size_mismatch")
    huge = json.dumps(
        {"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": [0] * 10}]}
    )
    _expect(_post(world, huge.encode() + b" " * 3 * 1024**2, None), 413, "request_too_large")

    world.set_deployment(active=False)
    _wait_for(lambda: _post(world, good, length).status_code == 409)
    _expect(_post(world, good, length), 409, "deployment_inactive")
    world.set_deployment(active=True, status="failed", status_reason="export failed")
    _wait_for(lambda: _post(world, good, length).json().get("code") == "deployment_not_ready")
    _expect(_post(world, good, length), 409, "deployment_not_ready")

    metrics = httpx.get(f"{world.url}/metrics").text
    assert 'lensforge_serving_requests_total{deployment="Detector"' in metrics


def test_requests_are_metered_with_their_outcome(world: World) -> None:
    good, length = encode_infer_request({"images": np.zeros((2, 3, 64, 64), np.float32)})
    ok = _post(world, good, length)
    bad = _post(world, good[:-4], length)
    ids = {
        ok.headers["X-Request-Id"]: (200, None),
        bad.headers["X-Request-Id"]: (400, "binary_size_mismatch"),
    }

    def recorded() -> dict[str, tuple[int, str | None, int, int | None]]:
        with transaction(world.sessions) as session:
            rows = session.scalars(select(UsageRecord)).all()
            return {str(r.request_id): (r.status, r.error_code, r.images, r.version) for r in rows}

    _wait_for(lambda: set(ids) <= set(recorded()))
    rows = recorded()
    assert rows[ok.headers["X-Request-Id"]] == (200, None, 2, 1)
    assert rows[bad.headers["X-Request-Id"]][:2] == (400, "binary_size_mismatch")


def _wait_for(condition: object, timeout: float = 10.0) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_model_file_that_fails_its_checksum_is_never_served(world: World) -> None:
    with transaction(world.sessions) as session:
        broken = Deployment(
            organization_id=world.a.id,
            project_id=world.a.project_id,
            name="broken",
            status="ready",
            current_version=1,
        )
        session.add(broken)
        session.flush()
        store_model(world, world.tmp / "v1.onnx", broken.id, 1, session=session, sha256="0" * 64)
    good, length = encode_infer_request({"images": np.zeros((1, 3, 64, 64), np.float32)})
    answer = httpx.post(
        f"{world.url}/v2/models/broken/infer",
        content=good,
        headers={**world.headers(), "Inference-Header-Content-Length": str(length)},
    )
    _expect(answer, 503, "model_unavailable")
    assert "checksum" in answer.json()["error"]


def test_rate_limits_answer_429_with_retry_after_and_headers_on_every_answer(world: World) -> None:
    world.set_deployment(rate_limit_per_second=0.01, rate_limit_burst=2)
    good, length = encode_infer_request({"images": np.zeros((1, 3, 64, 64), np.float32)})
    _wait_for(lambda: "q=2" in _post(world, good, length).headers.get("RateLimit-Policy", ""))
    answers = [_post(world, good, length) for _ in range(3)]  # at most 1 token left of 2
    assert [a.status_code for a in answers].count(429) >= 2
    refused = answers[-1]
    _expect(refused, 429, "rate_limited")
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.headers["RateLimit-Policy"]


def test_keys_out_of_scope_restricted_elsewhere_expired_or_revoked_are_refused(
    world: World,
) -> None:
    """Over HTTP, each key refusal with its own status and code (the key cache is off here, so
    each takes effect at the next request)."""

    def key(scopes: list[str], **columns: object) -> tuple[uuid.UUID, str]:
        with transaction(world.sessions) as session:
            created = create_api_key(
                session, organization_id=world.a.id, user_id=world.a.user_id, name="k",
                scopes=scopes, expires_at=None,
            )  # fmt: skip
            for name, value in columns.items():
                setattr(created.key, name, value)
            return created.key.id, created.secret

    good, length = encode_infer_request({"images": np.zeros((1, 3, 64, 64), np.float32)})
    url = f"{world.url}/v2/models/detector"

    _, reader = key(["deployment:read"])  # a read-only key: metadata yes, predictions no
    assert httpx.get(url, headers={"Authorization": f"Bearer {reader}"}).status_code == 200
    _expect(_post(world, good, length, Authorization=f"Bearer {reader}"), 403, "scope_denied")

    _, elsewhere = key(["deployment:infer"], deployment_ids=[str(uuid.uuid4())])
    _expect(
        _post(world, good, length, Authorization=f"Bearer {elsewhere}"),
        403,
        "deployment_not_allowed",
    )
    _, plural = key(["deployments:infer"], deployment_ids=[str(world.deployment_id)])
    assert _post(world, good, length, Authorization=f"Bearer {plural}").status_code == 200

    expiring_id, expiring = key(["deployment:infer"])
    assert _post(world, good, length, **{"X-API-Key": expiring}).status_code == 200
    with transaction(world.sessions) as session:
        row = session.get(ApiKey, expiring_id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    _expect(_post(world, good, length, Authorization=f"Bearer {expiring}"), 401, "api_key_expired")

    revoked_id, revoked = key(["deployment:infer"])
    assert _post(world, good, length, Authorization=f"Bearer {revoked}").status_code == 200
    with transaction(world.sessions) as session:
        row = session.get(ApiKey, revoked_id)
        assert row is not None
        revoke_api_key(session, row)
    _expect(_post(world, good, length, Authorization=f"Bearer {revoked}"), 401, "api_key_revoked")


def test_a_deployment_ready_in_the_database_is_served_at_once_whatever_the_refresh(
    settings: Settings, tmp_path: Path
) -> None:
    """A replica that saw a deployment refused (still creating) reads it again before refusing
    once more: `lensforge deploy` returns when the API says ready, and the next request must be
    answered, not wait for the replica's next look."""
    good, length = encode_infer_request({"images": np.zeros((1, 3, 64, 64), np.float32)})
    with running_world(settings, tmp_path, refresh_interval_seconds=600.0) as world:
        with transaction(world.sessions) as session:
            later = Deployment(
                organization_id=world.a.id, project_id=world.a.project_id, name="later",
                status="creating", active=True, current_version=None, parameters={},
            )  # fmt: skip
            session.add(later)
        url = f"{world.url}/v2/models/later/infer"
        sent = {**world.headers(), "Inference-Header-Content-Length": str(length)}
        _expect(httpx.post(url, content=good, headers=sent), 409, "deployment_not_ready")
        path = yolo_detector(tmp_path / "later.onnx", anchors(0.5), size=None)
        store_model(world, path, later.id, 1)
        with transaction(world.sessions) as session:
            session.execute(
                update(Deployment)
                .where(Deployment.id == later.id)
                .values(status="ready", current_version=1, updated_at=utcnow())
            )
        assert httpx.post(url, content=good, headers=sent).status_code == 200
