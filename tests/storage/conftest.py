"""Stores under test: the same contract runs against the local backend and a real S3 server."""

from __future__ import annotations

import secrets
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI

from lensforge.config import Settings
from lensforge.storage.base import ObjectStore
from lensforge.storage.local import LocalObjectStore
from lensforge.storage.s3 import S3ObjectStore
from tests.fixtures.live_server import ThreadedServer


@dataclass(frozen=True)
class AppServer:
    app: FastAPI
    url: str


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """The real application behind a real socket, so presigned links are real URLs."""
    from lensforge.app import create_app  # here: a broken domain elsewhere fails only these tests

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    data_dir = tmp_path_factory.mktemp("app")
    settings = Settings.model_validate(
        {
            "env": "test",
            "data_dir": str(data_dir),
            "security": {"secret_key": secrets.token_urlsafe(48)},
            "storage": {"backend": "local", "local": {"root": str(data_dir / "objects")}},
            "server": {"public_url": url},
        }
    )
    app = create_app(settings)  # migrations too: startup work may read the (SQLite) database
    running = ThreadedServer.start(app, sock)
    try:
        yield AppServer(app, url)
    finally:
        running.stop()


@pytest.fixture
def local_store(tmp_path: Path, app_server: AppServer) -> LocalObjectStore:
    """A fresh local store, installed as the app's store so its links resolve."""
    served: LocalObjectStore = app_server.app.state.object_store
    store = LocalObjectStore(
        tmp_path / "objects", signer=served.signer, public_url=served.public_url
    )
    app_server.app.state.object_store = store
    return store


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest) -> ObjectStore:
    if request.param == "local":
        local: LocalObjectStore = request.getfixturevalue("local_store")
        return local
    return S3ObjectStore(request.getfixturevalue("s3_settings"))
