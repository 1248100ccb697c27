"""`lensforge worker` options become worker settings; bad GPU lists are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from lensforge.cli.worker import worker_settings
from lensforge.orchestration.local.paths import worker_name


def test_options_override_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LENSFORGE_WORKER__QUEUES", '["from-env"]')
    monkeypatch.setenv("LENSFORGE_WORKER__CPU_SLOTS", "8")
    settings = worker_settings(["gpu-big", "default"], None, "0, 1", "box-1", tmp_path)
    assert settings.worker.queues == ["gpu-big", "default"]
    assert settings.worker.cpu_slots == 8  # not given: the environment's value stays
    assert settings.worker.gpus == [0, 1]
    assert worker_name(settings) == "box-1"
    assert settings.data_dir == tmp_path


def test_default_name_is_stable_per_host_and_data_directory(tmp_path: Path) -> None:
    one = worker_settings(None, None, None, None, tmp_path / "a")
    again = worker_settings(None, None, None, None, tmp_path / "a")
    other = worker_settings(None, None, None, None, tmp_path / "b")
    assert worker_name(one) == worker_name(again) != worker_name(other)


def test_gpu_list_must_be_indices(tmp_path: Path) -> None:
    with pytest.raises(typer.BadParameter, match="GPU indices"):
        worker_settings(None, None, "0,gpu1", None, tmp_path)
