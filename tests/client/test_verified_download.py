"""Downloading an artifact from a presigned link: streamed, checked (size, sha256), never half
in place, and no credentials sent to wherever the link points. The link's server here is a
small real HTTP server standing in for an object store (the edge of the world)."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI, Request, Response

from lensforge.client import ConnectionFailed, InvalidResponse, LensforgeClient, NotFoundError
from lensforge.client._verified_download import download_verified, safe_filename
from tests.fixtures.live_server import ThreadedServer

BODY = bytes(range(256)) * 4096  # 1 MiB, more than one chunk
DIGEST = hashlib.sha256(BODY).hexdigest()


class ObjectServer:
    def __init__(self) -> None:
        self.app = FastAPI()
        self.seen_auth: list[str | None] = []

        @self.app.get("/objects/model.onnx")
        def model(request: Request) -> Response:
            self.seen_auth.append(request.headers.get("authorization"))
            return Response(BODY, media_type="application/octet-stream")

        @self.app.get("/objects/missing")
        def missing() -> Response:
            return Response(
                b'{"error": {"code": "object_not_found", "message": "no such object"}}',
                status_code=404,
                media_type="application/json",
            )


@pytest.fixture(scope="module")
def objects() -> Iterator[tuple[ObjectServer, str]]:
    server = ObjectServer()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    running = ThreadedServer.start(server.app, sock)
    try:
        yield server, url
    finally:
        running.stop()


@pytest.fixture
def client() -> Iterator[LensforgeClient]:
    # The API server is never called: the link is absolute and goes to the object server.
    with LensforgeClient("http://127.0.0.1:9", api_key="lfk_secret") as made:
        yield made


def test_a_verified_download_lands_whole_without_credentials(
    objects: tuple[ObjectServer, str], client: LensforgeClient, tmp_path: Path
) -> None:
    server, url = objects
    seen: list[tuple[int, int | None]] = []
    target = tmp_path / "out" / "model.onnx"
    saved = download_verified(
        client._session,
        f"{url}/objects/model.onnx",
        target,
        size=len(BODY),
        sha256=DIGEST.upper(),
        timeout=30,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert saved == target
    assert target.read_bytes() == BODY
    assert seen[0] == (0, len(BODY))
    assert seen[-1] == (len(BODY), len(BODY))
    assert server.seen_auth[-1] is None
    assert [p.name for p in target.parent.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize(
    ("size", "sha256", "error", "code"),
    [
        (len(BODY), "0" * 64, InvalidResponse, "checksum_mismatch"),
        (len(BODY) + 1, DIGEST, ConnectionFailed, "incomplete_download"),
    ],
)
def test_a_download_that_does_not_check_out_leaves_nothing(
    objects: tuple[ObjectServer, str],
    client: LensforgeClient,
    tmp_path: Path,
    size: int,
    sha256: str,
    error: type[Exception],
    code: str,
) -> None:
    _, url = objects
    target = tmp_path / "model.onnx"
    target.write_bytes(b"the previous model")
    with pytest.raises(error) as caught:
        download_verified(
            client._session,
            f"{url}/objects/model.onnx",
            target,
            size=size,
            sha256=sha256,
            timeout=30,
        )
    assert caught.value.code == code  # type: ignore[attr-defined]
    assert target.read_bytes() == b"the previous model"
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]


def test_an_error_answer_and_an_unreachable_link_raise_clearly(
    objects: tuple[ObjectServer, str], client: LensforgeClient, tmp_path: Path
) -> None:
    _, url = objects
    with pytest.raises(NotFoundError, match="no such object"):
        download_verified(
            client._session,
            f"{url}/objects/missing",
            tmp_path / "x",
            size=None,
            sha256=None,
            timeout=30,
        )
    with pytest.raises(ConnectionFailed, match="broke off"):
        download_verified(
            client._session,
            "http://127.0.0.1:9/x",
            tmp_path / "x",
            size=None,
            sha256=None,
            timeout=5,
        )
    assert list(tmp_path.iterdir()) == []


def test_safe_filename_keeps_a_bare_name_only() -> None:
    assert safe_filename("model.onnx", "x") == "model.onnx"
    assert safe_filename("../../.bashrc", "x") == "x"
    assert safe_filename("a\\b\\model.onnx", "x") == "model.onnx"
    assert safe_filename("", "fallback.bin") == "fallback.bin"
