"""The Ultralytics trainer's environment (torch, ultralytics, onnxruntime, openvino), built once
per machine with the worker's own EnvironmentManager into `.cache/` of the repository (ignored
by git), so later runs start at once. The first build downloads about 1 GB of wheels."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lensforge.config import Settings
from lensforge.trainers.environments import EnvironmentManager
from lensforge.trainers.manifest import TrainerManifest
from tests.fixtures.shared_data import REPOSITORY

CACHE = REPOSITORY / ".cache"
ENVS = CACHE / "trainer-envs"
UV_CACHE = CACHE / "uv-cache"
MANIFEST = REPOSITORY / "src" / "lensforge" / "trainers" / "ultralytics" / "manifest.json"


def trainer_settings(base: Settings) -> Settings:
    """`base` with isolated environments kept in the repository's cache."""
    return base.model_copy(
        update={
            "trainers": base.trainers.model_copy(
                update={
                    "environment": "isolated",
                    "envs_dir": str(ENVS),
                    "uv_cache_dir": str(UV_CACHE),
                }
            )
        }
    )


@pytest.fixture(scope="session")
def ultralytics_python() -> Path:
    manifest = TrainerManifest.model_validate(json.loads(MANIFEST.read_text()))
    settings = trainer_settings(Settings())
    return EnvironmentManager(settings).python_for(manifest, print)
