"""The reports a trainer sends (contract §3) and their validation.

A batch is validated whole before anything is applied: one bad report refuses the batch with a
422 naming its sequence, and leaves nothing half-written.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

from lensforge.errors import ValidationFailed
from lensforge.jobs.outputs import OutputName
from lensforge.kit.pagination import INT32_MAX, INT64_MAX
from lensforge.kit.types import utcnow

MAX_REPORTS_PER_BATCH = 1000
MAX_METRICS = 200
MAX_LOG_MESSAGE = 32_000
MAX_METADATA_BYTES = 16_384
MAX_TRACEBACK = 100_000

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LOG_LEVELS: tuple[LogLevel, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Mirrors lensforge.sdk.ErrorType (the SDK may not be imported by the server, nor vice versa).
ErrorTypeName = Literal[
    "dataset",
    "config",
    "resource",
    "dependency",
    "network",
    "storage",
    "training",
    "verification",
    "internal",
]
# Kinds that change a job's or attempt's status; the others only add telemetry.
STATUS_KINDS = frozenset({"started", "completed", "failed"})

MetricName = Annotated[str, StringConstraints(min_length=1, max_length=100)]


def _finite(value: Any) -> Any:
    """NaN and infinities become null: JSON has no such numbers and PostgreSQL refuses them,
    yet a diverging run legitimately reports a NaN loss."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_finite(item) for item in value]
    return value


def _truncate(text: str, limit: int) -> str:
    # A long message is still worth keeping; refusing it would lose the whole batch.
    return text if len(text) <= limit else text[:limit] + f"... [{len(text) - limit} more]"


class ReportData(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StartedData(ReportData):
    pass


class _WithMetrics(ReportData):
    metrics: dict[MetricName, float | None] = Field(default_factory=dict)

    @field_validator("metrics")
    @classmethod
    def _bounded_and_finite(cls, metrics: dict[str, float | None]) -> dict[str, float | None]:
        if len(metrics) > MAX_METRICS:
            raise ValueError(f"at most {MAX_METRICS} metrics per report")
        return {name: _finite(value) for name, value in metrics.items()}


class ProgressData(_WithMetrics):
    epoch: int = Field(ge=0, le=INT32_MAX)
    total_epochs: int | None = Field(default=None, ge=1, le=INT32_MAX)
    step: int | None = Field(default=None, ge=0, le=INT32_MAX, description="Default: the epoch.")


class LogData(ReportData):
    level: LogLevel = "INFO"
    message: str
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, level: Any) -> Any:
        return level.upper() if isinstance(level, str) else level

    @field_validator("message")
    @classmethod
    def _short_enough(cls, message: str) -> str:
        return _truncate(message, MAX_LOG_MESSAGE)

    @field_validator("metadata")
    @classmethod
    def _small_and_finite(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        metadata = _finite(metadata)
        if len(json.dumps(metadata, default=str)) > MAX_METADATA_BYTES:
            raise ValueError(f"must encode to at most {MAX_METADATA_BYTES} bytes of JSON")
        return metadata


class CheckpointData(_WithMetrics):
    kind: Literal["best", "last", "epoch"]
    epoch: int = Field(ge=0, le=INT32_MAX, description="The epoch the checkpoint was taken after.")
    name: OutputName
    size: int = Field(ge=0, le=INT64_MAX)
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")


class CompletedData(_WithMetrics):
    best_epoch: int | None = Field(default=None, ge=0, le=INT32_MAX)
    best_metric_name: MetricName | None = None
    best_metric_value: float | None = None

    @field_validator("best_metric_value")
    @classmethod
    def _finite_value(cls, value: float | None) -> float | None:
        return _finite(value)  # type: ignore[no-any-return]


class FailedData(ReportData):
    error_type: ErrorTypeName = "internal"
    message: str = ""
    traceback: str | None = None

    @field_validator("message")
    @classmethod
    def _short_message(cls, message: str) -> str:
        return _truncate(message, MAX_LOG_MESSAGE)

    @field_validator("traceback")
    @classmethod
    def _short_traceback(cls, traceback: str | None) -> str | None:
        return None if traceback is None else _truncate(traceback, MAX_TRACEBACK)


class PredictionsData(ReportData):
    """An inference job's results: a JSON Lines file (one result per image) already uploaded
    to the job's outputs under `name`."""

    name: OutputName
    count: int = Field(ge=0, le=INT32_MAX)
    size: int = Field(ge=0, le=INT64_MAX)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")


class ExportData(ReportData):
    """An export job's artifact, already uploaded under `name`, with its verification report."""

    name: OutputName
    format: str = Field(min_length=1, max_length=32)
    options: dict[str, Any] = Field(default_factory=dict)
    size: int = Field(ge=0, le=INT64_MAX)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    verification: dict[str, Any]

    @field_validator("verification")
    @classmethod
    def _reported_outcome(cls, verification: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(verification.get("passed"), bool):
            raise ValueError("must say whether it passed: 'passed': true|false")
        verification = _finite(verification)
        if len(json.dumps(verification, default=str)) > MAX_METADATA_BYTES * 4:
            raise ValueError(f"must encode to at most {MAX_METADATA_BYTES * 4} bytes of JSON")
        return verification


DATA_MODELS: dict[str, type[ReportData]] = {
    "started": StartedData,
    "progress": ProgressData,
    "log": LogData,
    "checkpoint": CheckpointData,
    "completed": CompletedData,
    "failed": FailedData,
    "predictions": PredictionsData,
    "export": ExportData,
}


class Report(BaseModel):
    """One report as the SDK sends (and spools) it. `data` is checked per kind later, so that an
    error can name the report's sequence."""

    model_config = ConfigDict(extra="forbid")

    sequence: int = Field(
        ge=0, le=INT64_MAX, description="Increasing per attempt; the idempotency key."
    )
    kind: str = Field(min_length=1, max_length=32)
    at: datetime | None = Field(default=None, description="When it happened (ISO 8601).")
    data: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ValidReport:
    sequence: int
    kind: str
    at: datetime
    data: ReportData


def validate_reports(reports: Sequence[Report]) -> list[ValidReport]:
    """Every report checked, every problem listed; in sequence order, ready to apply."""
    valid: list[ValidReport] = []
    problems: list[dict[str, Any]] = []
    for index, report in enumerate(reports):
        where = f"body.reports.{index}"
        model = DATA_MODELS.get(report.kind)
        if model is None:
            problems.append(
                {
                    "field": f"{where}.kind",
                    "sequence": report.sequence,
                    "message": f"unknown report kind {report.kind!r}; "
                    f"expected one of {', '.join(DATA_MODELS)}",
                }
            )
            continue
        try:
            data = model.model_validate(report.data)
        except ValidationError as exc:
            problems += [
                {
                    "field": ".".join([where, "data", *(str(p) for p in error["loc"])]),
                    "sequence": report.sequence,
                    "message": error["msg"],
                }
                for error in exc.errors()
            ]
            continue
        valid.append(ValidReport(report.sequence, report.kind, _aware(report.at), data))
    if problems:
        sequences = sorted({p["sequence"] for p in problems})
        raise ValidationFailed(
            f"report(s) with sequence {', '.join(map(str, sequences))} are not valid: "
            + "; ".join(f"{p['field']}: {p['message']}" for p in problems[:5]),
            details={"fields": problems, "sequences": sequences},
            code="invalid_report",
        )
    return sorted(valid, key=lambda r: r.sequence)


def _aware(at: datetime | None) -> datetime:
    if at is None:
        return utcnow()
    # A trainer clock without a zone is taken as UTC (what the SDK sends anyway).
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
