"""Routing and naming of the Temporal backend, and its settings (no server needed)."""

from __future__ import annotations

import uuid

import pytest

from lensforge.config import Settings, TemporalSettings
from lensforge.errors import ConfigurationError
from lensforge.orchestration.base import LocalOrchestrator, create_orchestrator
from lensforge.orchestration.temporal.connection import tls_config
from lensforge.orchestration.temporal.names import (
    host_queue,
    task_queue_for,
    worker_queues,
    workflow_id_for,
    workflow_link,
    workflow_type_for,
)


def _settings(**temporal: object) -> Settings:
    return Settings.model_validate({"env": "test", "temporal": temporal})


def test_a_named_queue_is_the_task_queue_and_default_goes_by_resources() -> None:
    settings = _settings(task_queue="training-tasks", gpu_task_queue="gpu-pool")
    assert task_queue_for(settings, "gpu-a100", {"gpu": 1}) == "gpu-a100"
    assert task_queue_for(settings, "default", {"cpu": 2, "gpu": 0}) == "training-tasks"
    assert task_queue_for(settings, "default", {"cpu": 1, "gpu": 2}) == "gpu-pool"
    assert task_queue_for(settings, "default", {"gpu": None}) == "training-tasks"
    without_gpu_pool = _settings(task_queue="training-tasks")
    assert task_queue_for(without_gpu_pool, "default", {"gpu": 1}) == "training-tasks"


def test_a_worker_polls_the_configured_queue_for_default_once() -> None:
    settings = _settings(task_queue="training-tasks")
    assert worker_queues(settings, []) == ["training-tasks"]
    assert worker_queues(settings, ["default", "gpu-a100", "training-tasks"]) == [
        "training-tasks",
        "gpu-a100",
    ]
    assert host_queue("node-7") == "lensforge-host-node-7"


def test_workflow_ids_types_and_links() -> None:
    job_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert workflow_id_for(job_id) == f"lensforge-job-{job_id}"
    assert workflow_type_for("training") == "TrainingWorkflow"
    assert workflow_type_for("export") == "ExportWorkflow"
    assert workflow_type_for("inference") == "InferenceWorkflow"
    assert workflow_link(_settings(), "lensforge-job-x") is None
    linked = _settings(ui_url="https://temporal.example/", namespace="lab ns")
    assert workflow_link(linked, "lensforge-job-x") == (
        "https://temporal.example/namespaces/lab%20ns/workflows/lensforge-job-x"
    )


def test_plain_temporal_variables_are_read_and_lensforge_ones_win(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TEMPORAL_HOST", "temporal.lab:7233")
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "vision")
    monkeypatch.setenv("TEMPORAL_TASK_QUEUE", "gpu-a100")
    monkeypatch.setenv("TEMPORAL_API_KEY", "k" * 40)
    monkeypatch.setenv("LENSFORGE_TEMPORAL__NAMESPACE", "vision-prod")
    temporal = Settings().temporal
    assert (temporal.host, temporal.namespace, temporal.task_queue) == (
        "temporal.lab:7233",
        "vision-prod",
        "gpu-a100",
    )
    assert temporal.api_key is not None
    assert temporal.api_key.get_secret_value() == "k" * 40


def test_tls_settings_are_checked_and_read(tmp_path: object) -> None:
    assert tls_config(Settings.model_validate({"temporal": TemporalSettings()})) is False
    half = Settings.model_validate({"temporal": {"tls_cert_path": "/x/cert.pem"}})
    with pytest.raises(ConfigurationError, match="both"):
        tls_config(half)
    missing = Settings.model_validate(
        {"temporal": {"tls_cert_path": "/nope/c.pem", "tls_key_path": "/nope/k.pem"}}
    )
    with pytest.raises(ConfigurationError, match="cannot read"):
        tls_config(missing)
    cloud = tls_config(Settings.model_validate({"temporal": {"api_key": "secret-key"}}))
    assert cloud is not False  # an API key implies TLS (Temporal Cloud)


def test_the_server_uses_the_configured_backend() -> None:
    assert isinstance(create_orchestrator(_settings(), None), LocalOrchestrator)  # type: ignore[arg-type]
    temporal = create_orchestrator(Settings.model_validate({"orchestrator": "temporal"}), None)  # type: ignore[arg-type]
    assert temporal.name == "temporal"
    assert temporal.workflow_id(uuid.UUID(int=1)) == f"lensforge-job-{uuid.UUID(int=1)}"
