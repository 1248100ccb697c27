"""Request bodies are limited per route class: by Content-Length up front, and counted while a
chunked body streams in, so an unauthenticated caller cannot make the server hold megabytes."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from lensforge.app import create_app
from lensforge.body_limits import body_limit
from lensforge.config import HttpSettings, Settings
from tests.fixtures.app import sign_up
from tests.fixtures.live_server import LiveServer, serve
from tests.uploads.test_uploads import MiB, payload, put, start

SMALL = 64 * 1024


@pytest.fixture
def small_limits_server(settings: Settings) -> Iterator[LiveServer]:
    limits = HttpSettings(max_json_body_bytes=SMALL, max_upload_part_body_bytes=2 * MiB)
    with serve(settings.model_copy(update={"http": limits})) as server:
        yield server


def _raw_request(server: LiveServer, head: str, chunks: Iterator[bytes]) -> tuple[str, int]:
    """Send `head` and then `chunks` over a plain socket until the server answers or closes;
    returns the answer and how many body bytes the server let us send."""
    address = urlsplit(server.url)
    sent = 0
    with socket.create_connection((address.hostname, address.port), timeout=30) as connection:
        connection.sendall(head.encode())
        try:
            for piece in chunks:
                connection.sendall(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the rest, as it should
        answer = b""
        try:
            while data := connection.recv(65536):
                answer += data
        except ConnectionResetError:
            pass
    return answer.decode("latin-1"), sent


def _error_code(answer: str) -> str:
    body = answer.split("\r\n\r\n", 1)[1]
    code: str = json.loads(body)["error"]["code"]
    return code


def test_a_declared_oversized_login_is_refused_before_its_body_is_read(
    small_limits_server: LiveServer,
) -> None:
    head = (
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {128 * MiB}\r\n\r\n"
    )
    # Not one body byte is sent: the answer comes from the length alone.
    answer, _ = _raw_request(small_limits_server, head, iter(()))
    assert answer.startswith("HTTP/1.1 413")
    assert _error_code(answer) == "request_body_too_large"


def test_a_chunked_body_is_cut_off_once_it_passes_the_limit(
    small_limits_server: LiveServer,
) -> None:
    head = (
        "POST /api/v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    piece = 16 * 1024

    def chunks() -> Iterator[bytes]:
        for _ in range(128 * MiB // piece):  # 128 MiB if nobody stopped us
            yield f"{piece:x}\r\n".encode() + b" " * piece + b"\r\n"

    answer, sent = _raw_request(small_limits_server, head, chunks())
    assert answer.startswith("HTTP/1.1 413")
    assert _error_code(answer) == "request_body_too_large"
    # The server stopped reading near the limit (socket buffers let a few MiB more through).
    assert sent < 32 * MiB


def test_json_routes_default_to_one_mebibyte(client: TestClient) -> None:
    big = json.dumps({"email": "a@example.com", "password": "x" * (2 * MiB)})
    response = client.post(
        "/api/v1/auth/login", content=big, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_body_too_large"
    assert response.json()["error"]["details"] == {"limit": MiB}


def test_upload_parts_have_their_own_larger_limit(settings: Settings) -> None:
    limits = HttpSettings(max_json_body_bytes=SMALL, max_upload_part_body_bytes=2 * MiB)
    app = create_app(settings.model_copy(update={"http": limits}), run_migrations=False)
    with TestClient(app) as client:
        account = sign_up(client)
        data = payload(3 * MiB)
        upload = start(client, account, data)
        # A 1 MiB part passes, though sixteen times the JSON limit.
        assert put(client, account, upload["id"], 1, data[:MiB]).status_code == 200
        # A body over the part limit is refused like any other.
        refused = put(client, account, upload["id"], 2, data[: 3 * MiB])
        assert refused.status_code == 413
        assert refused.json()["error"]["code"] == "request_body_too_large"


def test_each_route_class_has_its_limit() -> None:
    limits = HttpSettings()
    assert body_limit(limits, "POST", "/api/v1/auth/login") == limits.max_json_body_bytes
    assert body_limit(limits, "PUT", "/api/v1/uploads/u/parts/3") == (
        limits.max_upload_part_body_bytes
    )
    assert body_limit(limits, "PUT", "/api/v1/storage/objects/a/b") == (
        limits.max_signed_upload_body_bytes
    )
    assert body_limit(limits, "POST", "/api/v1/trainer/jobs/j/reports") == (
        limits.max_trainer_body_bytes
    )
    assert body_limit(limits, "POST", "/api/v1/training/jobs/j/predict") == (
        limits.max_predict_body_bytes
    )
    # The class goes with the method too: a GET to an upload path is no upload.
    assert body_limit(limits, "GET", "/api/v1/uploads/u/parts/3") == limits.max_json_body_bytes
