"""TrainerConfig: where each value comes from, and clear errors for what is missing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lensforge.sdk import ConfigurationError, TrainerConfig

BASE = {
    "LENSFORGE_API_URL": "http://server:8000/",
    "LENSFORGE_JOB_ID": "job-1",
    "LENSFORGE_JOB_TOKEN": "lfj_secret",
}


def test_the_contract_variables_are_read() -> None:
    env = {
        **BASE,
        "LENSFORGE_ATTEMPT": "3",
        "LENSFORGE_WORK_DIR": "/work/a3",
        "LENSFORGE_SPOOL_DIR": "/spool",
        "LENSFORGE_CACHE_DIR": "/cache",
        "LENSFORGE_CACHE_MAX_BYTES": "1_000_000",
        "LENSFORGE_TRAINER": "reference",
        "LENSFORGE_MODEL": "linear",
        "LENSFORGE_TASK": "detection",
        "LENSFORGE_RESUME": "1",
        "LENSFORGE_HEARTBEAT_INTERVAL": "2.5",
        "LENSFORGE_SPOOL_DRAIN_TIMEOUT": "60",
        "LENSFORGE_CONFIG": json.dumps({"basic": {"epochs": 7}, "advanced": {"seed": 1}}),
    }
    config = TrainerConfig.from_env(env)
    assert config.api_url == "http://server:8000"
    assert (config.job_id, config.token, config.attempt) == ("job-1", "lfj_secret", 3)
    assert config.work_dir == Path("/work/a3")
    assert config.spool_path == Path("/spool")
    assert config.cache_path == Path("/cache")
    assert config.cache_max_bytes == 1_000_000
    assert (config.trainer, config.model, config.task) == ("reference", "linear", "detection")
    assert config.resume is True
    assert config.heartbeat_interval == 2.5
    assert config.drain_timeout == 60
    assert config.epochs == 7
    assert config.advanced == {"seed": 1}
    assert "lfj_secret" not in repr(config)


def test_priority_kwargs_then_lensforge_then_legacy_then_config_json() -> None:
    env = {
        **BASE,
        "CONFIG": json.dumps(
            {
                "epochs": 1,
                "batch_size": 2,
                "learning_rate": 0.5,
                "imgsz": 8,
                "device": "cpu",
                "advanced_config": {"momentum": 0.9},
            }
        ),
        "LENSFORGE_CONFIG": json.dumps({"basic": {"epochs": 10, "batch_size": 20, "imgsz": 16}}),
        "EPOCHS": "100",
        "BATCH_SIZE": "200",
        "LENSFORGE_EPOCHS": "1000",
    }
    config = TrainerConfig.from_env(env, epochs=5)
    assert config.epochs == 5  # keyword argument
    assert config.batch_size == 200  # legacy variable beats the JSON
    assert config.imgsz == 16  # LENSFORGE_CONFIG beats CONFIG
    assert config.learning_rate == 0.5  # only in CONFIG
    assert config.device == "cpu"
    assert config.advanced == {"momentum": 0.9}  # the plan's advanced_config
    without_kwargs = TrainerConfig.from_env(env)
    assert without_kwargs.epochs == 1000  # LENSFORGE_EPOCHS beats EPOCHS


def test_the_plan_variables_work_alone() -> None:
    env = {
        "JOB_ID": "legacy-job",
        "CALLBACK_URL": "https://lensforge.example/api/v1/training/callback",
        "LENSFORGE_JOB_TOKEN": "lfj_x",
        "EPOCHS": "3",
        "LEARNING_RATE": "0.01",
        "DEVICE": "cuda:0",
    }
    config = TrainerConfig.from_env(env)
    assert config.api_url == "https://lensforge.example"
    assert config.job_id == "legacy-job"
    assert (config.epochs, config.learning_rate, config.device) == (3, 0.01, "cuda:0")
    assert config.attempt == 1


@pytest.mark.parametrize(
    ("missing", "named"),
    [
        ("LENSFORGE_API_URL", "LENSFORGE_API_URL"),
        ("LENSFORGE_JOB_ID", "LENSFORGE_JOB_ID"),
        ("LENSFORGE_JOB_TOKEN", "LENSFORGE_JOB_TOKEN"),
    ],
)
def test_a_missing_variable_is_named(missing: str, named: str) -> None:
    env = {k: v for k, v in BASE.items() if k != missing}
    with pytest.raises(ConfigurationError, match=named):
        TrainerConfig.from_env(env)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("LENSFORGE_ATTEMPT", "two"),
        ("EPOCHS", "ten"),
        ("LENSFORGE_CONFIG", "{not json"),
        ("LENSFORGE_CONFIG", "[1, 2]"),
        ("LENSFORGE_RESUME", "maybe"),
        ("LENSFORGE_HEARTBEAT_INTERVAL", "0"),
        ("LENSFORGE_SPOOL_DRAIN_TIMEOUT", "-1"),
    ],
)
def test_a_malformed_variable_is_named(variable: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=variable):
        TrainerConfig.from_env({**BASE, variable: value})


def test_unknown_keyword_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="unknown"):
        TrainerConfig.from_env(BASE, epoks=3)


def test_defaults_without_optional_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    config = TrainerConfig.from_env(BASE, work_dir=tmp_path)
    assert config.spool_path == tmp_path / ".lensforge" / "spool"
    assert config.cache_path == tmp_path / "xdg" / "lensforge"
    assert config.heartbeat_interval == 5.0
    assert config.drain_timeout == 600.0
    assert config.resume is False
    assert config.epochs is None
