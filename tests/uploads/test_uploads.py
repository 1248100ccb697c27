"""Resumable chunked uploads through the real API, database and object store.

Parts are 1 MiB (the smallest the server accepts) and files ~3.5 MiB, generated
deterministically, so every path (out of order, re-sent, resumed, refused) runs in milliseconds.
"""

from __future__ import annotations

import hashlib
import io
import random
import time
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from lensforge.app import create_app
from lensforge.auth.policy import Role
from lensforge.auth.principal import Principal
from lensforge.config import Settings
from lensforge.errors import Conflict
from lensforge.kit.db import transaction
from lensforge.kit.types import utcnow
from lensforge.models import UploadSession
from lensforge.storage.base import ObjectStore
from lensforge.uploads.layout import part_key, parts_prefix
from lensforge.uploads.service import UploadService
from tests.fixtures.app import Account, member_with_role, sign_up

MiB = 1024 * 1024
PART = MiB
SIZE = 3 * MiB + MiB // 2  # four parts, the last one half-sized


def payload(size: int = SIZE, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(size)


def chunk(data: bytes, number: int) -> bytes:
    return data[(number - 1) * PART : number * PART]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store(client: TestClient) -> ObjectStore:
    object_store: ObjectStore = client.app.state.object_store  # type: ignore[attr-defined]
    return object_store


def new_project(client: TestClient, account: Account) -> str:
    response = client.post(
        "/api/v1/projects", json={"name": f"p-{uuid.uuid4().hex[:6]}"}, headers=account.headers
    )
    assert response.status_code == 201, response.text
    project_id: str = response.json()["id"]
    return project_id


def start(
    client: TestClient, account: Account, data: bytes, project_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    response = client.post(
        "/api/v1/uploads",
        json={
            "project_id": project_id or new_project(client, account),
            "filename": "dataset.zip",
            "total_size": len(data),
            "part_size": PART,
            **extra,
        },
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def put(
    client: TestClient, account: Account, upload_id: str, number: int, content: Any, **headers: str
) -> httpx.Response:
    return client.put(
        f"/api/v1/uploads/{upload_id}/parts/{number}",
        content=content,
        headers={**account.headers, "Content-Type": "application/octet-stream", **headers},
    )


def get(client: TestClient, account: Account, upload_id: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/uploads/{upload_id}", headers=account.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def complete(client: TestClient, account: Account, upload_id: str) -> httpx.Response:
    return client.post(f"/api/v1/uploads/{upload_id}/complete", headers=account.headers)


def send_all(client: TestClient, account: Account, upload_id: str, data: bytes) -> None:
    for number in range(1, -(-len(data) // PART) + 1):
        response = put(client, account, upload_id, number, chunk(data, number))
        assert response.status_code == 200, response.text


def error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    assert body["code"] == code, body
    return body


def principal_of(account: Account, role: Role = Role.ADMIN) -> Principal:
    return Principal(uuid.UUID(account.user_id), uuid.UUID(account.organization_id), role)


# --- the happy path, resumed -------------------------------------------------------------------


def test_out_of_order_resent_resumed_and_completed(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    upload = start(client, alice, data)
    uid = upload["id"]
    assert upload["part_count"] == 4
    assert upload["part_size"] == PART
    assert upload["status"] == "open"
    assert (upload["received_parts"], upload["missing_parts"]) == ([], [1, 2, 3, 4])

    # Out of order; part 3 first arrives damaged (right size, wrong bytes), then is re-sent.
    assert put(client, alice, uid, 3, bytes(PART)).status_code == 200
    assert put(client, alice, uid, 1, chunk(data, 1)).json()["sha256"] == sha(chunk(data, 1))
    resent = put(client, alice, uid, 3, chunk(data, 3))
    assert resent.status_code == 200
    assert resent.json() == {**resent.json(), "part_number": 3, "sha256": sha(chunk(data, 3))}
    # Identical bytes again: a no-op that still succeeds.
    assert put(client, alice, uid, 3, chunk(data, 3)).status_code == 200

    # "Interrupted" here: a fresh look tells the client what is left.
    state = get(client, alice, uid)
    assert state["received_parts"] == [1, 3]
    assert state["missing_parts"] == [2, 4]
    assert state["received_bytes"] == 2 * PART

    assert put(client, alice, uid, 4, chunk(data, 4)).status_code == 200  # the short last part
    assert put(client, alice, uid, 2, chunk(data, 2)).status_code == 200
    assert get(client, alice, uid)["missing_parts"] == []

    done = complete(client, alice, uid)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "completed"
    assert result["sha256"] == sha(data)
    assert result["object_key"] == f"uploads/{uid}/dataset.zip"
    with store(client).open(result["object_key"]) as stored:
        assert stored.read() == data
    assert list(store(client).list(parts_prefix(uuid.UUID(uid)))) == []

    # Completing again returns the same upload; no more parts are accepted.
    again = complete(client, alice, uid)
    assert again.status_code == 200
    assert again.json()["sha256"] == result["sha256"]
    error(put(client, alice, uid, 1, chunk(data, 1)), 409, "upload_not_open")

    # What the dataset importer reads.
    with transaction(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        service = UploadService(session, store(client))
        key, size, digest, name = service.completed_object(principal_of(alice), uuid.UUID(uid))
    assert (key, size, digest, name) == (result["object_key"], len(data), sha(data), "dataset.zip")


def test_single_part_upload_with_expected_checksum(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload(1000)
    upload = start(client, alice, data, sha256=sha(data).upper(), part_size=None)
    assert upload["part_count"] == 1
    assert upload["part_size"] == 16 * MiB
    assert put(client, alice, upload["id"], 1, data).status_code == 200
    assert complete(client, alice, upload["id"]).json()["sha256"] == sha(data)


# --- refusals of parts -------------------------------------------------------------------------


def test_wrong_part_sizes_are_refused(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    uid = start(client, alice, data)["id"]
    short = error(put(client, alice, uid, 1, b"x" * 1000), 422, "part_size_mismatch")
    assert short["details"] == {
        "part_number": 1,
        "expected": PART,
        "received": 1000,
        "exceeded": False,
    }
    last = error(put(client, alice, uid, 4, chunk(data, 1)), 422, "part_size_mismatch")
    assert (last["details"]["expected"], last["details"]["received"]) == (PART // 2, PART)
    # Without Content-Length (chunked), the body is cut off as soon as it outgrows the part.
    streamed = put(client, alice, uid, 1, iter([chunk(data, 1), b"extra"]))
    too_long = error(streamed, 422, "part_size_mismatch")
    assert too_long["details"]["exceeded"] is True
    assert too_long["details"]["received"] > PART
    streamed_short = put(client, alice, uid, 2, iter([b"a" * 100, b"b" * 100]))
    assert error(streamed_short, 422, "part_size_mismatch")["details"]["received"] == 200
    error(put(client, alice, uid, 5, b"x"), 422, "invalid_part_number")
    error(put(client, alice, uid, 0, b"x"), 422, "validation_error")
    assert get(client, alice, uid)["received_parts"] == []


def test_part_checksum_header(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    uid = start(client, alice, data)["id"]
    wrong = put(client, alice, uid, 1, chunk(data, 1), **{"Content-SHA256": sha(b"other")})
    details = error(wrong, 422, "part_checksum_mismatch")["details"]
    assert details["received"] == sha(chunk(data, 1))
    error(
        put(client, alice, uid, 1, chunk(data, 1), **{"Content-SHA256": "zz"}),
        422,
        "validation_error",
    )
    assert get(client, alice, uid)["received_parts"] == []
    ok = put(
        client, alice, uid, 1, chunk(data, 1), **{"Content-SHA256": sha(chunk(data, 1)).upper()}
    )
    assert ok.status_code == 200


# --- completion --------------------------------------------------------------------------------


def test_incomplete_upload_cannot_complete(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    uid = start(client, alice, data)["id"]
    put(client, alice, uid, 2, chunk(data, 2))
    details = error(complete(client, alice, uid), 409, "upload_incomplete")["details"]
    assert details["missing_parts"] == [1, 3, 4]
    assert get(client, alice, uid)["status"] == "open"


def test_whole_file_checksum_mismatch_keeps_the_upload_open(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    uid = start(client, alice, data, sha256=sha(data))["id"]
    send_all(client, alice, uid, data)
    put(client, alice, uid, 2, bytes(PART))  # a wrong part the client did not notice
    details = error(complete(client, alice, uid), 422, "checksum_mismatch")["details"]
    assert details["expected"] == sha(data)
    state = get(client, alice, uid)
    assert state["status"] == "open"
    assert state["object_key"] is None
    assert not store(client).exists(f"uploads/{uid}/dataset.zip")
    # The client re-sends the bad part and completes.
    put(client, alice, uid, 2, chunk(data, 2))
    assert complete(client, alice, uid).json()["sha256"] == sha(data)


def test_a_part_changed_in_storage_is_caught_and_asked_for_again(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    uid = start(client, alice, data)["id"]
    send_all(client, alice, uid, data)
    key = part_key(uuid.UUID(uid), 3)
    store(client).put(key, io.BytesIO(bytes(PART)), size=PART)
    details = error(complete(client, alice, uid), 422, "part_checksum_mismatch")["details"]
    assert details["part_number"] == 3
    state = get(client, alice, uid)
    assert (state["status"], state["missing_parts"]) == ("open", [3])
    put(client, alice, uid, 3, chunk(data, 3))
    assert complete(client, alice, uid).json()["sha256"] == sha(data)


# --- abort, expiry, isolation, policy ---------------------------------------------------------


def test_abort_deletes_parts(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    uid = start(client, alice, data)["id"]
    put(client, alice, uid, 1, chunk(data, 1))
    put(client, alice, uid, 2, chunk(data, 2))
    assert len(list(store(client).list(parts_prefix(uuid.UUID(uid))))) == 2
    assert client.delete(f"/api/v1/uploads/{uid}", headers=alice.headers).status_code == 204
    assert list(store(client).list(parts_prefix(uuid.UUID(uid)))) == []
    state = get(client, alice, uid)
    assert (state["status"], state["received_parts"]) == ("aborted", [])
    error(put(client, alice, uid, 3, chunk(data, 3)), 409, "upload_not_open")
    error(complete(client, alice, uid), 409, "upload_not_open")
    assert client.delete(f"/api/v1/uploads/{uid}", headers=alice.headers).status_code == 204


def test_a_completed_upload_cannot_be_aborted(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload(PART)
    uid = start(client, alice, data)["id"]
    send_all(client, alice, uid, data)
    complete(client, alice, uid)
    error(client.delete(f"/api/v1/uploads/{uid}", headers=alice.headers), 409, "upload_completed")


def _expire(client: TestClient, upload_id: str) -> None:
    with transaction(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        session.execute(
            update(UploadSession)
            .where(UploadSession.id == uuid.UUID(upload_id))
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )


def test_expired_upload_refuses_parts_with_410(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    uid = start(client, alice, data)["id"]
    put(client, alice, uid, 1, chunk(data, 1))
    _expire(client, uid)
    error(put(client, alice, uid, 2, chunk(data, 2)), 410, "upload_expired")
    error(complete(client, alice, uid), 410, "upload_expired")
    assert get(client, alice, uid)["status"] == "expired"

    # The sweep frees the parts for good.
    with transaction(client.app.state.session_factory) as session:  # type: ignore[attr-defined]
        assert UploadService(session, store(client)).expire_stale() == 1
    assert list(store(client).list(parts_prefix(uuid.UUID(uid)))) == []
    error(put(client, alice, uid, 2, chunk(data, 2)), 410, "upload_expired")
    assert get(client, alice, uid)["received_parts"] == []


def test_receiving_a_part_extends_the_expiry(client: TestClient) -> None:
    alice = sign_up(client)
    data = payload()
    upload = start(client, alice, data)
    put(client, alice, upload["id"], 1, chunk(data, 1))
    assert get(client, alice, upload["id"])["expires_at"] > upload["expires_at"]


def test_only_the_creator_sees_an_upload(client: TestClient) -> None:
    alice = sign_up(client)
    manager = member_with_role(client, alice, "manager")  # sees every project, not her uploads
    mallory = sign_up(client)  # another organization
    data = payload()
    uid = start(client, alice, data)["id"]
    put(client, alice, uid, 1, chunk(data, 1))
    for other in (manager, mallory):
        for response in (
            client.get(f"/api/v1/uploads/{uid}", headers=other.headers),
            put(client, other, uid, 2, chunk(data, 2)),
            complete(client, other, uid),
            client.delete(f"/api/v1/uploads/{uid}", headers=other.headers),
        ):
            error(response, 404, "upload_not_found")
    assert get(client, alice, uid)["received_parts"] == [1]
    with (
        transaction(client.app.state.session_factory) as session,  # type: ignore[attr-defined]
        pytest.raises(Exception, match="upload not found"),
    ):
        UploadService(session, store(client)).completed_object(
            principal_of(mallory), uuid.UUID(uid)
        )


def test_guest_may_not_upload(client: TestClient) -> None:
    admin = sign_up(client)
    guest = member_with_role(client, admin, "guest")
    project_id = new_project(client, admin)
    response = client.post(
        "/api/v1/uploads",
        json={"project_id": project_id, "filename": "a.zip", "total_size": 10},
        headers=guest.headers,
    )
    error(response, 403, "permission_denied")
    uid = start(client, admin, payload(), project_id)["id"]
    error(put(client, guest, uid, 1, b"x"), 403, "permission_denied")
    error(complete(client, guest, uid), 403, "permission_denied")
    error(client.delete(f"/api/v1/uploads/{uid}", headers=guest.headers), 403, "permission_denied")


def test_project_must_be_visible(client: TestClient) -> None:
    admin = sign_up(client)
    engineer = member_with_role(client, admin, "standard_engineer")
    project_id = new_project(client, admin)  # the engineer is not a member
    response = client.post(
        "/api/v1/uploads",
        json={"project_id": project_id, "filename": "a.zip", "total_size": 10},
        headers=engineer.headers,
    )
    error(response, 404, "project_not_found")


# --- creation rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("C:\\Users\\me\\My Data.zip", "My Data.zip"),
        ("../../etc/passwd", "passwd"),
        ("dir/sub/\x00evil\x1f.tar.gz", "evil.tar.gz"),
        ("  café.zip  ", "café.zip"),
    ],
)
def test_filenames_are_reduced_to_a_safe_base_name(
    client: TestClient, raw: str, stored: str
) -> None:
    alice = sign_up(client)
    upload = start(client, alice, payload(10), filename=raw)
    assert upload["filename"] == stored


@pytest.mark.parametrize(
    ("changes", "status", "code"),
    [
        ({"filename": "../"}, 422, "invalid_filename"),
        ({"filename": "a/.."}, 422, "invalid_filename"),
        ({"filename": "\x01\x02"}, 422, "invalid_filename"),
        ({"filename": "é" * 200}, 422, "invalid_filename"),
        ({"filename": "parts"}, 422, "invalid_filename"),
        ({"total_size": 0}, 422, "validation_error"),
        ({"total_size": 101 * 1024**3}, 413, "upload_too_large"),
        ({"part_size": MiB - 1}, 422, "invalid_part_size"),
        ({"part_size": 513 * MiB}, 422, "invalid_part_size"),
        ({"total_size": 20 * 1024**3, "part_size": MiB}, 422, "too_many_parts"),
        ({"sha256": "abc"}, 422, "validation_error"),
        ({"content_type": "text/html\r\nX-Evil: 1"}, 422, "validation_error"),
        ({"project_id": str(uuid.uuid4())}, 404, "project_not_found"),
    ],
)
def test_creation_is_validated(
    client: TestClient, changes: dict[str, Any], status: int, code: str
) -> None:
    alice = sign_up(client)
    body = {
        "project_id": new_project(client, alice),
        "filename": "a.zip",
        "total_size": 10,
        **changes,
    }
    error(client.post("/api/v1/uploads", json=body, headers=alice.headers), status, code)


def test_completed_object_refuses_an_unfinished_upload(client: TestClient) -> None:
    alice = sign_up(client)
    upload = start(client, alice, payload())
    with (
        transaction(client.app.state.session_factory) as session,  # type: ignore[attr-defined]
        pytest.raises(Conflict) as caught,
    ):
        UploadService(session, store(client)).completed_object(
            principal_of(alice), uuid.UUID(upload["id"])
        )
    assert caught.value.code == "upload_not_completed"


def test_the_server_sweeps_abandoned_uploads_by_itself(settings: Settings) -> None:
    """No call to expire_stale here: the server's maintenance task does it."""
    settings.maintenance_interval_seconds = 0.2
    with TestClient(create_app(settings, run_migrations=False)) as swept:
        alice = sign_up(swept)
        data = payload()
        uid = start(swept, alice, data)["id"]
        put(swept, alice, uid, 1, chunk(data, 1))
        _expire(swept, uid)
        deadline = time.monotonic() + 20
        while list(store(swept).list(parts_prefix(uuid.UUID(uid)))):
            assert time.monotonic() < deadline, "the sweep never freed the parts"
            time.sleep(0.1)
        assert get(swept, alice, uid)["status"] == "expired"
