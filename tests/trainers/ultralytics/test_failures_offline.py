"""Failures mapped to the SDK's error types with the real message; the offline setup."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from lensforge.sdk import DatasetError, ErrorType
from lensforge.trainers.ultralytics import failures, offline


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError (torch is not installed here)."""


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"), ErrorType.RESOURCE),
        (RuntimeError("CUDA error: out of memory"), ErrorType.RESOURCE),
        (MemoryError(), ErrorType.RESOURCE),
        (OSError(errno.ENOSPC, "No space left on device"), ErrorType.RESOURCE),
        (ModuleNotFoundError("No module named 'onnxslim'"), ErrorType.DEPENDENCY),
        (RuntimeError("Training failed: NaN persisted for 4 epochs"), ErrorType.TRAINING),
        (failures.Diverged("loss is inf"), ErrorType.TRAINING),
        (FileNotFoundError("Dataset 'data.yaml' images not found"), ErrorType.DATASET),
        (DatasetError("bad"), ErrorType.DATASET),
        (SyntaxError("'lr00' is not a valid YOLO argument"), ErrorType.CONFIG),
        (ValueError("something else"), ErrorType.INTERNAL),
    ],
)
def test_error_types(exc: BaseException, expected: ErrorType) -> None:
    assert failures.classify(exc) is expected


def test_the_message_is_the_real_one() -> None:
    assert failures.message(RuntimeError("CUDA out of memory")) == (
        "RuntimeError: CUDA out of memory"
    )


def test_prepare_sets_the_variables_keeps_the_operators_and_places_the_fonts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [*offline.OFFLINE_VARIABLES, "YOLO_CONFIG_DIR", "MPLCONFIGDIR"]:
        monkeypatch.setenv(name, "")  # recorded, so the test leaves the environment as it was
        monkeypatch.delenv(name)
    monkeypatch.setenv("CI", "false")  # the operator's value wins
    font = tmp_path / "DejaVuSans.ttf"
    font.write_bytes(b"a font")
    folder = offline.prepare(tmp_path / "config", font)
    assert folder == tmp_path / "config" / "Ultralytics"
    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    assert os.environ["CI"] == "false"
    assert os.environ["YOLO_CONFIG_DIR"] == str(tmp_path / "config")
    assert (folder / "Arial.ttf").read_bytes() == b"a font"
    assert (folder / "Arial.Unicode.ttf").read_bytes() == b"a font"
