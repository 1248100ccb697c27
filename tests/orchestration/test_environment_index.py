"""Trainer environments from another package index: `trainers.index_url`, `extra_index_urls`
and `index_strategy` reach uv's command line (a real uv against a PEP 503 simple index served
by a local HTTP server standing in for a mirror), and are part of the environment key."""

from __future__ import annotations

import functools
import html
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name, parse_wheel_filename

from lensforge.config import Settings
from lensforge.trainers.environments import (
    SDK_REQUIREMENTS,
    EnvironmentManager,
    environment_key,
    index_arguments,
)
from lensforge.trainers.manifest import TrainerManifest
from tests.orchestration.wheels import wheelhouse

pytestmark = pytest.mark.xdist_group("uv-environments")


def simple_index(wheels: Path, root: Path) -> None:
    """`root/simple/<project>/index.html` linking each wheel of `wheels` (PEP 503), and an
    `root/empty/` index that has no project at all."""
    (root / "empty").mkdir(parents=True)
    (root / "empty" / "index.html").write_text("<html><body></body></html>")
    (root / "files").mkdir()
    projects: dict[str, list[str]] = {}
    for wheel in sorted(wheels.glob("*.whl")):
        (root / "files" / wheel.name).write_bytes(wheel.read_bytes())
        project = str(canonicalize_name(parse_wheel_filename(wheel.name)[0]))
        projects.setdefault(project, []).append(wheel.name)
    for project, files in projects.items():
        folder = root / "simple" / project
        folder.mkdir(parents=True)
        links = "".join(
            f'<a href="../../files/{html.escape(f)}">{html.escape(f)}</a>\n' for f in files
        )
        (folder / "index.html").write_text(f"<html><body>\n{links}</body></html>")


class Mirror:
    """A local HTTP server over a folder, remembering the paths asked for."""

    def __init__(self, root: Path) -> None:
        self.requested: list[str] = []
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                mirror.requested.append(self.path)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root))
        )
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    wheels = wheelhouse([*SDK_REQUIREMENTS, "idna"], tmp_path_factory.mktemp("wheels"))
    root = tmp_path_factory.mktemp("mirror")
    simple_index(wheels, root)
    served = Mirror(root)
    yield served
    served.close()


def _settings(tmp_path: Path, **trainers: Any) -> Settings:
    return Settings.model_validate(
        {"data_dir": str(tmp_path / "data"), "trainers": {"environment": "isolated", **trainers}}
    )


def _manifest() -> TrainerManifest:
    return TrainerManifest.model_validate(
        {
            "name": "indexed",
            "version": "1.0.0",
            "tasks": ["classification"],
            "models": [{"name": "m", "tasks": ["classification"]}],
            "entrypoints": {"train": ["-c", "pass"]},
            "requirements": ["idna"],
            "config_schema": {"basic": {"type": "object"}},
        }
    )


def test_the_index_url_replaces_pypi(mirror: Mirror, tmp_path: Path) -> None:
    settings = _settings(tmp_path, index_url=f"{mirror.url}/simple")
    mirror.requested.clear()
    python = EnvironmentManager(settings).python_for(_manifest(), lambda _line: None)
    assert python.exists()
    asked = set(mirror.requested)
    assert {"/simple/idna/", "/simple/httpx/"} <= asked, asked
    assert any(path.startswith("/files/idna-") for path in asked)


def test_extra_indexes_are_searched_with_the_strategy(mirror: Mirror, tmp_path: Path) -> None:
    # The main index has nothing: the environment can only come from the extra one.
    settings = _settings(
        tmp_path,
        index_url=f"{mirror.url}/empty/",
        extra_index_urls=[f"{mirror.url}/simple"],
        index_strategy="unsafe-best-match",
    )
    mirror.requested.clear()
    python = EnvironmentManager(settings).python_for(_manifest(), lambda _line: None)
    assert python.exists()
    assert "/simple/idna/" in mirror.requested
    assert any(path.startswith("/empty/") for path in mirror.requested)


def test_the_index_settings_are_part_of_the_environment_key(tmp_path: Path) -> None:
    manifest = _manifest()
    default = _settings(tmp_path).trainers
    cpu = _settings(tmp_path, extra_index_urls=["https://download.pytorch.org/whl/cpu"]).trainers
    best = cpu.model_copy(update={"index_strategy": "unsafe-best-match"})
    keys = {environment_key(manifest, t) for t in (default, cpu, best)}
    assert len(keys) == 3
    # The defaults keep the key environments built before these settings existed had.
    assert environment_key(manifest, default) == environment_key(manifest)
    assert index_arguments(best) == [
        "--extra-index-url",
        "https://download.pytorch.org/whl/cpu",
        "--index-strategy",
        "unsafe-best-match",
    ]
    # Environment variables reach the settings (a list is JSON).
    monkeypatch = pytest.MonkeyPatch()
    with monkeypatch.context() as env:
        env.setenv("LENSFORGE_TRAINERS__INDEX_URL", "https://mirror.example/simple")
        env.setenv(
            "LENSFORGE_TRAINERS__EXTRA_INDEX_URLS", '["https://download.pytorch.org/whl/cpu"]'
        )
        read = Settings().trainers
    assert read.index_url == "https://mirror.example/simple"
    assert read.extra_index_urls == ["https://download.pytorch.org/whl/cpu"]
