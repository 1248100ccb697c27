"""Names the server and the workers must agree on: workflow ids, workflow types, task queues.
Pure functions (no Temporal import), so the API can use them cheaply."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from lensforge.config import Settings

WORKFLOW_ID_PREFIX = "lensforge-job-"
DEFAULT_QUEUE = "default"

# One workflow type per job kind; they share one implementation (a job is "run a trainer
# entry point"), the type name only shows in Temporal's UI and metrics.
WORKFLOW_TYPES = {
    "training": "TrainingWorkflow",
    "export": "ExportWorkflow",
    "inference": "InferenceWorkflow",
}


def workflow_id_for(job_id: uuid.UUID) -> str:
    """Derived from the job alone: a retried "create" (or a second server) cannot start a
    second workflow for the same job."""
    return f"{WORKFLOW_ID_PREFIX}{job_id}"


def workflow_type_for(kind: str) -> str:
    return WORKFLOW_TYPES.get(kind, WORKFLOW_TYPES["training"])


def task_queue_for(settings: Settings, queue: str, resources: Mapping[str, Any]) -> str:
    """A job naming a queue goes to that task queue (`gpu-a100`); a job on `default` goes to
    `temporal.gpu_task_queue` when it asks for GPUs and one is configured, else to
    `temporal.task_queue`."""
    if queue and queue != DEFAULT_QUEUE:
        return queue
    gpus = resources.get("gpu") or 0
    if int(gpus) > 0 and settings.temporal.gpu_task_queue:
        return settings.temporal.gpu_task_queue
    return settings.temporal.task_queue


def worker_queues(settings: Settings, queues: list[str]) -> list[str]:
    """The task queues a worker polls for the `--queue` names it was given (`default` means
    the configured task queue), without duplicates, in order."""
    seen: list[str] = []
    for name in queues or [DEFAULT_QUEUE]:
        resolved = settings.temporal.task_queue if name == DEFAULT_QUEUE else name
        if resolved not in seen:
            seen.append(resolved)
    return seen


def host_queue(worker: str) -> str:
    """A queue only one worker polls: clean-up of a job's folders goes to the machine that
    has them."""
    return f"lensforge-host-{worker}"


def workflow_link(settings: Settings, workflow_id: str | None) -> str | None:
    ui = settings.temporal.ui_url.rstrip("/")
    if not ui or not workflow_id:
        return None
    namespace = quote(settings.temporal.namespace, safe="")
    return f"{ui}/namespaces/{namespace}/workflows/{quote(workflow_id, safe='')}"
