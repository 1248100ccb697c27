"""Client tests run against a real server; see tests/fixtures/live_server.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lensforge.client import LensforgeClient
from tests.client.helpers import signed_up
from tests.fixtures.live_server import LiveServer


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Keep every test away from the real ~/.config/lensforge and from the caller's env."""
    directory = tmp_path / "config"
    monkeypatch.setenv("LENSFORGE_CONFIG_DIR", str(directory))
    for name in ("LENSFORGE_URL", "LENSFORGE_API_KEY", "LENSFORGE_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return directory


@pytest.fixture
def admin(live_server: LiveServer) -> Iterator[LensforgeClient]:
    """A client signed in as a new account, admin of its own organization."""
    with signed_up(live_server.url) as client:
        yield client
