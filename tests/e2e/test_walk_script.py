"""The README's walk, for real (issue 13, "done when"): `scripts/walk` on a clean data
directory, every command from `users create-admin` to a verified ONNX file succeeding, and
`predict` finding a raccoon in images the training never saw. Slow (minutes): the slow tier.

It reuses the Ultralytics environment the trainer tests build under `.cache/trainer-envs`
(`ultralytics_python`), so `lensforge trainers install ultralytics` finds it ready."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.shared_data import RACCOON, REPOSITORY
from tests.trainers.ultralytics.conftest import ENVS, UV_CACHE, ultralytics_python

__all__ = ["ultralytics_python"]  # the fixture, imported to be used here

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("subprocess-server")]


def test_the_readme_walk_ends_with_a_model_that_finds_raccoons(
    ultralytics_python: Path, tmp_path: Path
) -> None:
    work = tmp_path / "walk"
    done = subprocess.run(
        [
            sys.executable,
            str(REPOSITORY / "scripts" / "walk.py"),
            "--dataset",
            str(RACCOON),
            "--work-dir",
            str(work),
            "--envs-dir",
            str(ENVS),
            "--uv-cache-dir",
            str(UV_CACHE),
        ],
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    summary = json.loads((work / "walk.json").read_text())
    assert summary["images_with_boxes"] >= 1
    assert summary["onnx_bytes"] > 0
    commands = " ".join(step["command"] for step in summary["steps"])
    for step in ("users create-admin", "login", "datasets import", "train", "predict", "export"):
        assert f"lensforge {step}" in commands
