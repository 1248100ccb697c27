"""Usage and live statistics from `usage_records` (the meter the serving replicas write).

Counts and sums are grouped by the database. Latency percentiles are PostgreSQL's
`percentile_cont` there; SQLite (the embedded, single-machine case) has no such aggregate, so
they are computed in Python with the same linear interpolation, and both agree.
"""

from __future__ import annotations

import csv
import io
import math
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from lensforge.deployments.schemas import (
    DeploymentStats,
    StatsPoint,
    UsageGroup,
    UsageReport,
    UsageRow,
)
from lensforge.errors import ValidationFailed
from lensforge.kit.types import utcnow
from lensforge.models import UsageRecord

Unit = Literal["minute", "hour", "day"]
_SQLITE_FORMATS = {
    "minute": "%Y-%m-%d %H:%M:00",
    "hour": "%Y-%m-%d %H:00:00",
    "day": "%Y-%m-%d 00:00:00",
}
# The window asked for when none is given, and the longest one answered (a row per hour of a
# year would be a report nobody reads, and a query nobody should wait for).
DEFAULT_WINDOW = {"day": timedelta(days=30), "hour": timedelta(hours=24)}
MAX_WINDOW = {"day": timedelta(days=366), "hour": timedelta(days=31)}
MAX_STATS_MINUTES = 1440
USAGE_QUANTILES = (0.5, 0.95)
STATS_QUANTILES = (0.5, 0.95, 0.99)
CSV_COLUMNS = (
    "period",
    "deployment_id",
    "deployment_name",
    "requests",
    "errors",
    "images",
    "bytes_in",
    "bytes_out",
    "compute_ms",
    "p50_total_ms",
    "p95_total_ms",
)


@dataclass
class Bucket:
    period: datetime
    deployment_id: uuid.UUID | None
    deployment_name: str
    requests: int
    errors: int
    images: int
    bytes_in: int
    bytes_out: int
    compute_ms: float
    quantiles: list[float | None] = field(default_factory=list)


def usage_window(
    start: datetime | None, end: datetime | None, group: UsageGroup
) -> tuple[datetime, datetime]:
    try:
        end = (end or utcnow()).astimezone(UTC)
        start = (start or end - DEFAULT_WINDOW[group]).astimezone(UTC)
    except OverflowError as exc:  # e.g. 0001-01-01 minus the default window
        raise ValidationFailed(
            "start and end must lie between the years 1 and 9999 in UTC",
            code="invalid_range",
            details={"fields": [{"field": "start", "message": "out of range"}]},
        ) from exc
    if start >= end:
        raise ValidationFailed(
            "start must be before end",
            code="invalid_range",
            details={"fields": [{"field": "start", "message": "not before end"}]},
        )
    if end - start > MAX_WINDOW[group]:
        days = MAX_WINDOW[group].days
        raise ValidationFailed(
            f"at most {days} days grouped by {group}",
            code="range_too_long",
            details={"fields": [{"field": "start", "message": f"more than {days} days"}]},
        )
    return start, end


def _period(session: Session, unit: Unit) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc(unit, func.timezone("UTC", UsageRecord.created_at))
    return func.strftime(_SQLITE_FORMATS[unit], UsageRecord.created_at)


def _as_utc(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def quantile(ordered: Sequence[float], q: float) -> float | None:
    """The q-quantile of sorted values, interpolated as PostgreSQL's `percentile_cont`."""
    if not ordered:
        return None
    position = q * (len(ordered) - 1)
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def aggregate(
    session: Session,
    *,
    organization_id: uuid.UUID,
    deployment_id: uuid.UUID | None,
    start: datetime,
    end: datetime,
    unit: Unit,
    quantiles: Sequence[float],
) -> list[Bucket]:
    """Usage in [start, end) per period and deployment, oldest first."""
    period = _period(session, unit).label("period")
    where = [
        UsageRecord.organization_id == organization_id,
        UsageRecord.created_at >= start,
        UsageRecord.created_at < end,
    ]
    if deployment_id is not None:
        where.append(UsageRecord.deployment_id == deployment_id)
    postgres = session.get_bind().dialect.name == "postgresql"
    columns: list[Any] = [
        period,
        UsageRecord.deployment_id,
        func.max(UsageRecord.deployment_name),
        func.count(),
        func.sum(case((UsageRecord.status >= 400, 1), else_=0)),
        func.sum(UsageRecord.images),
        func.sum(UsageRecord.bytes_in),
        func.sum(UsageRecord.bytes_out),
        func.sum(UsageRecord.compute_ms),
    ]
    if postgres:
        columns += [func.percentile_cont(q).within_group(UsageRecord.total_ms) for q in quantiles]
    rows = session.execute(
        select(*columns).where(*where).group_by(period, UsageRecord.deployment_id).order_by(period)
    ).all()
    buckets = [
        Bucket(
            period=_as_utc(row[0]),
            deployment_id=row[1],
            deployment_name=str(row[2] or ""),
            requests=int(row[3]),
            errors=int(row[4] or 0),
            images=int(row[5] or 0),
            bytes_in=int(row[6] or 0),
            bytes_out=int(row[7] or 0),
            compute_ms=round(float(row[8] or 0.0), 3),
            quantiles=[_rounded(v) for v in row[9:]] if postgres else [],
        )
        for row in rows
    ]
    if not postgres and buckets:
        latencies: dict[tuple[datetime, uuid.UUID | None], list[float]] = defaultdict(list)
        for moment, deployment, total in session.execute(
            select(period, UsageRecord.deployment_id, UsageRecord.total_ms).where(*where)
        ):
            latencies[(_as_utc(moment), deployment)].append(float(total))
        for bucket in buckets:
            ordered = sorted(latencies[(bucket.period, bucket.deployment_id)])
            bucket.quantiles = [_rounded(quantile(ordered, q)) for q in quantiles]
    buckets.sort(key=lambda b: (b.period, b.deployment_name, str(b.deployment_id)))
    return buckets


def usage_report(
    session: Session,
    *,
    organization_id: uuid.UUID,
    deployment_id: uuid.UUID | None,
    start: datetime | None,
    end: datetime | None,
    group: UsageGroup,
) -> UsageReport:
    start, end = usage_window(start, end, group)
    buckets = aggregate(
        session,
        organization_id=organization_id,
        deployment_id=deployment_id,
        start=start,
        end=end,
        unit=group,
        quantiles=USAGE_QUANTILES,
    )
    return UsageReport(
        start=start,
        end=end,
        group=group,
        rows=[
            UsageRow(
                period=b.period,
                deployment_id=b.deployment_id,
                deployment_name=b.deployment_name,
                requests=b.requests,
                errors=b.errors,
                images=b.images,
                bytes_in=b.bytes_in,
                bytes_out=b.bytes_out,
                compute_ms=b.compute_ms,
                p50_total_ms=b.quantiles[0],
                p95_total_ms=b.quantiles[1],
            )
            for b in buckets
        ],
    )


def usage_csv(report: UsageReport) -> Iterator[str]:
    """The report as CSV text, a header line then a line per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")

    def flush() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow(CSV_COLUMNS)
    yield flush()
    for row in report.rows:
        values = row.model_dump()
        values["period"] = row.period.isoformat().replace("+00:00", "Z")
        writer.writerow(["" if values[c] is None else values[c] for c in CSV_COLUMNS])
        yield flush()


def live_stats(
    session: Session, *, organization_id: uuid.UUID, deployment_id: uuid.UUID, minutes: int
) -> DeploymentStats:
    """A point per minute of the last `minutes` (the current one included), oldest first."""
    now = utcnow()
    this_minute = now.replace(second=0, microsecond=0)
    first = this_minute - timedelta(minutes=minutes - 1)
    buckets = {
        b.period: b
        for b in aggregate(
            session,
            organization_id=organization_id,
            deployment_id=deployment_id,
            start=first,
            end=now + timedelta(seconds=1),
            unit="minute",
            quantiles=STATS_QUANTILES,
        )
    }
    points = []
    for index in range(minutes):
        minute = first + timedelta(minutes=index)
        bucket = buckets.get(minute)
        requests = bucket.requests if bucket else 0
        errors = bucket.errors if bucket else 0
        # The current minute is not over: its rate is over the seconds it has had so far.
        seconds = max(1.0, min(60.0, (now - minute).total_seconds()))
        p50, p95, p99 = bucket.quantiles if bucket else (None, None, None)
        points.append(
            StatsPoint(
                minute=minute,
                requests=requests,
                errors=errors,
                requests_per_second=round(requests / seconds, 3),
                error_rate=round(errors / requests, 4) if requests else 0.0,
                p50_ms=p50,
                p95_ms=p95,
                p99_ms=p99,
            )
        )
    return DeploymentStats(deployment_id=deployment_id, minutes=minutes, points=points)
