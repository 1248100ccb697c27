"""The Trainer with no server to talk to: reporting never blocks, nothing is lost, and the
numbering goes on in the next process. (Delivery itself is tested against a real server in
test_live.py.)"""

from __future__ import annotations

import json
import os
import signal
import socket
from pathlib import Path

import pytest

from lensforge.sdk import ErrorType, SDKError, Trainer, TrainerConfig, error_type_of
from lensforge.sdk.errors import DatasetError, NetworkError


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def config(tmp_path: Path) -> TrainerConfig:
    return TrainerConfig(
        api_url=f"http://127.0.0.1:{closed_port()}",
        job_id="job-1",
        token="lfj_offline",
        attempt=1,
        work_dir=tmp_path,
        spool_dir=tmp_path / "spool",
        heartbeat_interval=0.2,
        retry_timeout=1.0,
        drain_timeout=0.5,  # close() would wait 10 minutes by default
    )


def spooled(config: TrainerConfig) -> list[dict[str, object]]:
    path = config.spool_path / "attempt-1" / "reports.jsonl"
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def test_reports_are_spooled_while_the_server_is_unreachable(config: TrainerConfig) -> None:
    trainer = Trainer(config)
    assert trainer.report_started() == 1
    assert trainer.report_progress(1, 3, {"train/loss": 0.5, "bad": float("nan")}) == 2
    trainer.log("hello", level="debug", step=3, path=Path("/x"))
    trainer.error("boom")
    assert trainer.flush(timeout=0.3) is False
    assert trainer.close(timeout=0.5) is False  # left for the next process / the worker

    reports = spooled(config)
    assert [r["kind"] for r in reports] == ["started", "progress", "log", "log", "log"]
    assert reports[1]["data"] == {
        "epoch": 1,
        "total_epochs": 3,
        "metrics": {"train/loss": 0.5, "bad": None},
    }
    assert reports[2]["data"]["message"] == "non-finite metrics at epoch 1: bad"
    assert reports[3]["data"] == {
        "level": "DEBUG",
        "message": "hello",
        "metadata": {"step": 3, "path": "/x"},
    }

    again = Trainer(config)
    assert again.info("next process") == 6
    again.close(timeout=0)


def test_sigterm_turns_into_should_stop(config: TrainerConfig) -> None:
    trainer = Trainer(config)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        trainer.install_signal_handlers()
        assert trainer.should_stop() is False
        os.kill(os.getpid(), signal.SIGTERM)
        assert trainer.should_stop() is True
        with pytest.raises(SystemExit) as second:
            os.kill(os.getpid(), signal.SIGTERM)
        assert second.value.code == 128 + signal.SIGTERM
    finally:
        signal.signal(signal.SIGTERM, previous)
        trainer.close(timeout=0)


def test_arguments_are_checked_before_anything_is_spooled(config: TrainerConfig) -> None:
    trainer = Trainer(config)
    with pytest.raises(ValueError, match="oops"):
        trainer.report_failed("oops", "message")
    with pytest.raises(ValueError, match="log level"):
        trainer.log("x", level="LOUD")
    with pytest.raises(TypeError, match="acc"):
        trainer.report_progress(1, 1, {"acc": "high"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="relative"):
        trainer.upload_file(__file__, "../x")
    assert trainer.spool.next_sequence == 1
    trainer.close(timeout=0)


def test_control_calls_give_up_with_a_network_error(config: TrainerConfig) -> None:
    trainer = Trainer(config)
    with pytest.raises(NetworkError, match="failed"):
        trainer.spec()
    trainer.close(timeout=0)


def test_an_escaping_exception_is_reported_as_failed(config: TrainerConfig) -> None:
    def run() -> None:
        with Trainer(config) as trainer:
            trainer.report_started()
            raise DatasetError("no images")

    with pytest.raises(DatasetError):
        run()
    failed = spooled(config)[-1]
    assert failed["kind"] == "failed"
    data = failed["data"]
    assert isinstance(data, dict)
    assert data["error_type"] == "dataset"
    assert data["message"] == "DatasetError: no images"
    assert "Traceback" in data["traceback"]


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (DatasetError("x"), ErrorType.DATASET),
        (MemoryError(), ErrorType.RESOURCE),
        (ImportError("torch"), ErrorType.DEPENDENCY),
        (RuntimeError("x"), ErrorType.INTERNAL),
        (NetworkError("x"), ErrorType.NETWORK),
    ],
)
def test_error_types_of_exceptions(exc: BaseException, expected: ErrorType) -> None:
    assert error_type_of(exc) is expected
    if isinstance(exc, SDKError):
        assert exc.error_type is expected


def test_module_level_functions_use_the_default_trainer(config: TrainerConfig) -> None:
    from lensforge import sdk

    sdk.set_trainer(Trainer(config))
    try:
        assert sdk.report_started() == 1
        assert sdk.report_progress(1, 2, {"loss": 0.1}) == 2
        assert sdk.info("via the module", epoch=1) == 3
        assert sdk.should_stop() is False
        assert sdk.get_trainer().epoch == 1
    finally:
        sdk.close(timeout=0)
        sdk.set_trainer(None)
    assert [r["kind"] for r in spooled(config)] == ["started", "progress", "log"]


def test_the_default_trainer_comes_from_the_environment(
    config: TrainerConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lensforge import sdk

    monkeypatch.setenv("LENSFORGE_API_URL", config.api_url)
    monkeypatch.setenv("LENSFORGE_JOB_ID", "from-env")
    monkeypatch.setenv("LENSFORGE_JOB_TOKEN", "lfj_env")
    monkeypatch.setenv("LENSFORGE_SPOOL_DIR", str(config.spool_path))
    monkeypatch.setenv("LENSFORGE_SPOOL_DRAIN_TIMEOUT", "0")
    sdk.set_trainer(None)
    try:
        assert sdk.get_trainer().config.job_id == "from-env"
        assert sdk.get_trainer() is sdk.get_trainer()
    finally:
        sdk.close()
        sdk.set_trainer(None)
