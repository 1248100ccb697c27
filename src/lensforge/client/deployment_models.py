"""Typed shapes of the deployments API: a deployment with its URLs and current model version,
its version history, its usage (per day or hour) and the per-minute series of its live charts,
and the answers of the serving process's image API (docs/serving.md).

Like `lensforge.client.models`, these copy the server's shapes (the client must not import the
server) and ignore fields they do not know; statuses are plain strings.
"""

from __future__ import annotations

import base64
import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from lensforge.client.model_work_models import ImageResult
from lensforge.client.models import Model

# A deployment leaves `creating` for one of these.
SETTLED_DEPLOYMENT_STATUSES = ("ready", "failed")


class DeploymentUrls(Model):
    """Where the serving process answers: `image` (POST images there), `v2` (the Open
    Inference Protocol root, for `tritonclient`) and the `model_name` to use with it."""

    image: str
    v2: str
    model_name: str


class DeploymentVersion(Model):
    """One model version a deployment served or serves: the verified export behind it (from
    `source_job_id`), who deployed it, when it last became current."""

    id: uuid.UUID | None = None
    number: int
    status: str
    status_reason: str = ""
    source_job_id: uuid.UUID | None = None
    export_id: uuid.UUID | None = None
    format: str = "onnx"
    sha256: str | None = None
    size_bytes: int | None = None
    task: str = ""
    class_names: list[str] = Field(default_factory=list)
    model_info: dict[str, Any] = Field(default_factory=dict)
    created_by_id: uuid.UUID | None = None
    created_at: datetime | None = None
    activated_at: datetime | None = None
    current: bool = False


class Deployment(Model):
    """A model served as a live endpoint. `status` is `creating` (an export made and verified
    on the way), `ready` or `failed` (`status_reason` says why); `active` deployments answer
    predictions. `version` is the current model version (None before the first is ready)."""

    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    description: str = ""
    status: str
    status_reason: str = ""
    active: bool = True
    current_version: int | None = None
    max_batch_size: int | None = None
    max_queue_delay_ms: float | None = None
    queue_limit: int | None = None
    rate_limit_per_second: float | None = None
    rate_limit_burst: int | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    created_by_id: uuid.UUID | None = None
    created_at: datetime
    updated_at: datetime | None = None
    urls: DeploymentUrls
    version: DeploymentVersion | None = None

    @property
    def settled(self) -> bool:
        """Ready or failed: no longer creating."""
        return self.status in SETTLED_DEPLOYMENT_STATUSES

    @property
    def ready(self) -> bool:
        return self.status == "ready"


class UsageRow(Model):
    """Usage in one period (a day or an hour, `period` its start), of one deployment or, for
    the organization's usage, of `deployment_name`."""

    period: datetime
    deployment_id: uuid.UUID | None = None
    deployment_name: str | None = None
    requests: int = 0
    errors: int = 0
    images: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    compute_ms: float = 0.0
    p50_total_ms: float | None = None
    p95_total_ms: float | None = None


class Usage(Model):
    rows: list[UsageRow] = Field(default_factory=list)
    group: str | None = None
    start: datetime | None = None
    end: datetime | None = None


class StatsPoint(Model):
    """One minute of traffic: requests per second, the share of errors (0–1) and the total
    latency percentiles in milliseconds (None in a minute without requests)."""

    minute: datetime
    requests: int = 0
    errors: int = 0
    requests_per_second: float = 0.0
    error_rate: float = 0.0
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


class DeploymentStats(Model):
    deployment_id: uuid.UUID | None = None
    minutes: int | None = None
    points: list[StatsPoint] = Field(default_factory=list)


class InferAnswer(Model):
    """The image API's answer: one result per image, in the order sent; with `render=True`
    also each image with its predictions drawn."""

    deployment: str
    version: int | None = None
    request_id: str | None = None
    results: list[ImageResult] = Field(default_factory=list)
    rendered: list[Any] | None = None
    """Each image drawn (base64 JPEG), as a string or an object holding it; see `images`."""

    def rendered_images(self) -> list[bytes]:
        """The rendered JPEG bytes of each image (empty without `render=True`)."""
        return [_decode_rendered(entry) for entry in self.rendered or []]


def _decode_rendered(entry: Any) -> bytes:
    # The serving process sends base64 text, alone or under a key of an object.
    if isinstance(entry, dict):
        entry = next(
            (entry[key] for key in ("base64", "data", "image", "jpeg") if key in entry), ""
        )
    return base64.b64decode(str(entry).split(",", 1)[-1])
