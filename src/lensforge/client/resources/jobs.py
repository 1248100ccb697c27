"""`client.jobs`: training jobs (create, list, cancel, restart, resume), their telemetry
(metrics, logs, checkpoints), waiting for the end, and live events."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from lensforge.client._events import EventStream
from lensforge.client._polling import poll_until
from lensforge.client.dataset_models import SplitConfig
from lensforge.client.errors import LensforgeError
from lensforge.client.job_models import (
    Checkpoint,
    Job,
    JobDetail,
    LogLine,
    MetricPoint,
    MetricSeries,
    Resources,
)
from lensforge.client.models import Page, Project
from lensforge.client.resources import Resource, iterate_pages, path_id

JobUpdate = Callable[[JobDetail], None]
_METRICS_PAGE = 1000


class Jobs(Resource):
    # --- jobs --------------------------------------------------------------------------------

    def create(
        self,
        project_id: uuid.UUID | str,
        dataset_id: uuid.UUID | str,
        trainer: str,
        model: str,
        *,
        dataset_version: int | None = None,
        task: str | None = None,
        name: str | None = None,
        config: Mapping[str, Any] | None = None,
        split: SplitConfig | None = None,
        resources: Resources | Mapping[str, int] | None = None,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
        weights_id: uuid.UUID | str | None = None,
        weights: str | None = None,
    ) -> JobDetail:
        """Create a job training `model` with `trainer` on a dataset version (default: the
        latest), queued at once. `config` is `{"basic": {...}, "advanced": {...}}`, completed
        with the trainer's defaults; `split` overrides the version's split config.

        An invalid job raises `ValidationError` whose `fields` name each problem
        (`body.config.basic.epochs`, `body.model`, ...). `weights_id` names a model artifact
        of the project (`client.artifacts`) to start from; `weights` names one by name, or an
        official weights file of the trainer (`yolo11n.pt`) that the server fetches, verified
        (`ValidationError` with code `weights_unavailable` and what to do when it cannot).
        """
        body: dict[str, Any] = {
            "project_id": path_id(project_id),
            "dataset_id": path_id(dataset_id),
            "dataset_version": dataset_version,
            "trainer": trainer,
            "model": model,
            "task": task,
            "name": name,
            "config": dict(config or {}),
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
        }
        if weights_id is not None:
            body["weights_id"] = path_id(weights_id)
        if weights is not None:
            body["weights"] = weights
        if split is not None:
            body["split"] = split.model_dump()
        if resources is not None:
            parsed = resources if isinstance(resources, Resources) else Resources(**resources)
            body["resources"] = parsed.model_dump()
        return self._session.call(JobDetail, "POST", "/training/jobs", json=body)

    def list(
        self,
        *,
        project_id: uuid.UUID | str | None = None,
        status: str | Sequence[str] | None = None,
        trainer: str | None = None,
        dataset_id: uuid.UUID | str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> Page[Job]:
        """One page of the jobs you can see, newest first, filtered by project, status (one or
        several), trainer and dataset."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if project_id is not None:
            params["project_id"] = path_id(project_id)
        if dataset_id is not None:
            params["dataset_id"] = path_id(dataset_id)
        if trainer is not None:
            params["trainer"] = trainer
        if status is not None:
            params["status"] = [status] if isinstance(status, str) else builtins.list(status)
        return self._session.call(Page[Job], "GET", "/training/jobs", params=params)

    def iter(
        self,
        *,
        project_id: uuid.UUID | str | None = None,
        status: str | Sequence[str] | None = None,
        trainer: str | None = None,
        dataset_id: uuid.UUID | str | None = None,
        page_size: int = 100,
    ) -> Iterator[Job]:
        """Every job matching the filters (see `list`), fetching pages as needed."""
        return iterate_pages(
            lambda offset: self.list(
                project_id=project_id,
                status=status,
                trainer=trainer,
                dataset_id=dataset_id,
                limit=page_size,
                offset=offset,
            )
        )

    def get(self, job_id: uuid.UUID | str) -> JobDetail:
        """A job with its attempts and its status transitions (oldest first)."""
        return self._session.call(JobDetail, "GET", _job_path(job_id))

    def cancel(self, job_id: uuid.UUID | str) -> JobDetail:
        """A queued job is cancelled at once; a running one is asked to stop (cooperatively,
        then by signals) and becomes `cancelled` when its trainer has. A finished job raises
        `ConflictError`."""
        return self._session.call(JobDetail, "POST", _job_path(job_id, "/cancel"))

    def restart(self, job_id: uuid.UUID | str) -> JobDetail:
        """Run a finished job again from scratch, as a new attempt."""
        return self._session.call(JobDetail, "POST", _job_path(job_id, "/restart"))

    def resume(self, job_id: uuid.UUID | str) -> JobDetail:
        """Continue a failed or cancelled job from its last checkpoint, as a new attempt
        (`ConflictError` when the trainer cannot resume or there is no checkpoint)."""
        return self._session.call(JobDetail, "POST", _job_path(job_id, "/resume"))

    def wait(
        self,
        job_id: uuid.UUID | str,
        *,
        timeout: float | None = None,
        poll_interval: float = 1.0,
        on_update: JobUpdate | None = None,
    ) -> JobDetail:
        """Poll until the job is completed, failed or cancelled and return it (check
        `.status`: a failed job is returned, not raised). `on_update` sees every poll. After
        `timeout` seconds this raises `LensforgeError` (code `wait_timeout`); the job goes on."""
        return poll_until(
            lambda: self.get(job_id),
            lambda job: job.finished,
            poll_interval=poll_interval,
            timeout=timeout,
            on_poll=on_update,
            timed_out=lambda: LensforgeError(
                f"job {job_id} has not finished after {timeout:g} s; it goes on on the "
                "server (see `get`)",
                code="wait_timeout",
            ),
        )

    # --- telemetry ---------------------------------------------------------------------------

    def metric_series(
        self, job_id: uuid.UUID | str, *, since_step: int | None = None, limit: int = 1000
    ) -> MetricSeries:
        """Up to `limit` metric points after `since_step`, by step (`has_more` if cut)."""
        params: dict[str, Any] = {"limit": limit}
        if since_step is not None:
            params["since_step"] = since_step
        return self._session.call(MetricSeries, "GET", _job_path(job_id, "/metrics"), params=params)

    def metrics(
        self, job_id: uuid.UUID | str, *, since_step: int | None = None
    ) -> builtins.list[MetricPoint]:
        """Every metric point (after `since_step`), by step."""
        points: builtins.list[MetricPoint] = []
        while True:
            series = self.metric_series(job_id, since_step=since_step, limit=_METRICS_PAGE)
            points += series.points
            if not series.has_more or not series.points:
                return points
            since_step = series.points[-1].step

    def logs(
        self,
        job_id: uuid.UUID | str,
        *,
        level: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        search: str | None = None,
        attempt: int | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> Page[LogLine]:
        """One page of log lines, oldest first. `level` is the minimum (`WARNING` includes
        errors), `since` inclusive, `until` exclusive, `search` a case-insensitive substring."""
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if level is not None:
            params["level"] = level.upper()
        if since is not None:
            params["since"] = since.isoformat()
        if until is not None:
            params["until"] = until.isoformat()
        if search:
            params["search"] = search
        if attempt is not None:
            params["attempt"] = attempt
        return self._session.call(Page[LogLine], "GET", _job_path(job_id, "/logs"), params=params)

    def iter_logs(
        self,
        job_id: uuid.UUID | str,
        *,
        level: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        search: str | None = None,
        attempt: int | None = None,
        page_size: int = 500,
    ) -> Iterator[LogLine]:
        """Every log line matching the filters (see `logs`), oldest first, page by page."""
        return iterate_pages(
            lambda offset: self.logs(
                job_id,
                level=level,
                since=since,
                until=until,
                search=search,
                attempt=attempt,
                limit=page_size,
                offset=offset,
            )
        )

    def checkpoints(self, job_id: uuid.UUID | str) -> builtins.list[Checkpoint]:
        """The job's checkpoints, each with a presigned download `url`."""
        return self._session.call(list[Checkpoint], "GET", _job_path(job_id, "/checkpoints"))

    # --- live events -------------------------------------------------------------------------

    def stream_events(
        self,
        job_id: uuid.UUID | str | None = None,
        project_id: uuid.UUID | str | None = None,
        *,
        max_backoff: float = 30.0,
        max_retries: int | None = None,
    ) -> EventStream:
        """Live events of one job (or of every job of a project; with neither, of every job
        in the projects you can see when the stream connects) as they happen: `job_status`,
        `training_progress`, `log`, `checkpoint`.

            with client.jobs.stream_events(job.id) as events:
                for event in events:
                    if event.type == "training_progress":
                        print(event.data["epoch"], event.data["metrics"])

        The stream reconnects after a dropped connection, waiting up to `max_backoff` seconds
        between tries (`max_retries` tries in a row, or forever); it ends when closed. Events
        sent while disconnected are lost: re-read the job, logs and metrics to catch up.
        """
        job = path_id(job_id) if job_id is not None else None
        project = path_id(project_id) if project_id is not None else None

        def prepare() -> builtins.list[dict[str, str]]:
            # Ordinary requests first: they refresh an expired token and fail clearly on an
            # unknown job or project, before the socket is opened.
            if job is not None:
                self.get(job)
                return [{"job_id": job}]
            if project is not None:
                self._session.send("GET", f"/projects/{project}")
                return [{"project_id": project}]
            return [{"project_id": str(p.id)} for p in self._projects()]

        return EventStream(self._session, prepare, max_backoff=max_backoff, max_retries=max_retries)

    def _projects(self) -> Iterator[Project]:
        return iterate_pages(
            lambda offset: self._session.call(
                Page[Project], "GET", "/projects", params={"limit": 500, "offset": offset}
            )
        )


def _job_path(job_id: uuid.UUID | str, rest: str = "") -> str:
    return f"/training/jobs/{path_id(job_id)}{rest}"
