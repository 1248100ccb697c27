"""The deployment page's try-it route: the current version answers in the API server itself,
with the serving code, metered as route `ui`; refusals are specific and metered too."""

from __future__ import annotations

import base64
import io
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import select
from tests.client.deployment_setup import verified_onnx_export
from tests.deployments.helpers import API
from tests.fixtures.app import member_with_role, sign_up
from tests.jobs.helpers import sessions

from lensforge.kit.db import transaction
from lensforge.models import UsageRecord


def _jpeg(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (90, 120, 150)).save(buffer, format="JPEG")
    return buffer.getvalue()


def test_try_it_answers_with_the_current_version_and_meters_every_call(
    client: TestClient, tmp_path: Path
) -> None:
    account = sign_up(client)
    model = verified_onnx_export(client, account, tmp_path)
    created = client.post(
        f"{API}/deployments",
        json={"name": "pets", "export_id": model.export_id},
        headers=account.headers,
    )
    assert created.status_code == 201, created.text
    deployment_id = created.json()["id"]
    url = f"{API}/deployments/{deployment_id}/predict"

    answer = client.post(
        f"{url}?render=true",
        files=[("images", ("cat.jpg", _jpeg(), "image/jpeg"))],
        headers=account.headers,
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["deployment"], body["version"]) == ("pets", 1)
    (result,) = body["results"]
    assert (result["image"], result["width"], result["height"]) == ("cat.jpg", 64, 64)
    # the tiny detector's two boxes: class 0 at 0.9, class 1 at 0.6 (conf 0.25 keeps both)
    assert sorted(round(d["score"], 2) for d in result["detections"]) == [0.6, 0.9]
    (rendered,) = body["rendered"]
    assert Image.open(io.BytesIO(base64.b64decode(rendered))).size == (64, 64)

    strict = client.post(
        url, files=[("images", ("cat.jpg", _jpeg(), "image/jpeg"))], data={"conf": "0.7"},
        headers=account.headers,
    )  # fmt: skip
    assert [round(d["score"], 2) for d in strict.json()["results"][0]["detections"]] == [0.9]
    assert strict.json()["rendered"] == []

    not_an_image = client.post(
        url, files=[("images", ("x.jpg", b"no picture here", "image/jpeg"))],
        headers=account.headers,
    )  # fmt: skip
    assert not_an_image.status_code == 400, not_an_image.text
    assert not_an_image.json()["error"]["code"] == "invalid_image"

    too_many = client.post(
        url, files=[("images", (f"{i}.jpg", _jpeg(), "image/jpeg")) for i in range(5)],
        headers=account.headers,
    )  # fmt: skip
    assert too_many.status_code == 422
    assert too_many.json()["error"]["code"] == "too_many_images"

    guest = member_with_role(client, account, "guest")
    refused = client.post(
        url, files=[("images", ("cat.jpg", _jpeg(), "image/jpeg"))], headers=guest.headers
    )
    assert refused.status_code == 403
    stranger = sign_up(client)
    hidden = client.post(
        url, files=[("images", ("cat.jpg", _jpeg(), "image/jpeg"))], headers=stranger.headers
    )
    assert hidden.status_code == 404

    client.post(f"{API}/deployments/{deployment_id}/deactivate", headers=account.headers)
    inactive = client.post(
        url, files=[("images", ("cat.jpg", _jpeg(), "image/jpeg"))], headers=account.headers
    )
    assert inactive.status_code == 409
    assert inactive.json()["error"]["code"] == "deployment_inactive"

    with transaction(sessions(client)) as session:
        rows = session.scalars(
            select(UsageRecord).where(UsageRecord.route == "ui").order_by(UsageRecord.created_at)
        ).all()
        metered = [(r.status, r.error_code, r.images, r.version) for r in rows]
    assert metered == [(200, None, 1, 1), (200, None, 1, 1), (400, "invalid_image", 1, 1)]
