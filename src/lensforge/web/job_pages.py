"""Pages of training: the job list, the new-job form generated from the trainer's config
schema, a job with live charts and logs, and the comparison of several jobs."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from lensforge.kit.pagination import Offset
from lensforge.web import job_view
from lensforge.web.backend import Api
from lensforge.web.forms import schema_fields
from lensforge.web.rendering import Viewer, page

router = APIRouter(include_in_schema=False)

ACTIVE = ("pending", "queued", "preparing", "running")


JOBS_PER_PAGE = 50


@router.get("/projects/{project_id}/jobs")
async def jobs(request: Request, project_id: str, offset: Offset = 0) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        project = await api.get(f"/projects/{project_id}")
        found = await api.get(
            "/training/jobs", project_id=project_id, limit=JOBS_PER_PAGE, offset=offset
        )
        return {"project": project, "jobs": found, "nav": "jobs"}

    return await page(request, "jobs.html", build)


@router.get("/projects/{project_id}/jobs/new")
async def new_job(
    request: Request,
    project_id: str,
    trainer: str | None = None,
    dataset: str | None = None,
    from_job: str | None = Query(None, alias="from"),
) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        project = await api.get(f"/projects/{project_id}")
        datasets = (await api.get("/datasets", project_id=project_id, limit=200))["items"]
        datasets = [d for d in datasets if d["latest_version_number"] > 0]
        trainers = await api.get("/trainers")
        template = await api.get(f"/training/jobs/{from_job}") if from_job else None
        selected = dataset or (template["dataset_id"] if template else None)
        current = next(
            (d for d in datasets if d["id"] == selected), datasets[0] if datasets else None
        )
        task = current["task"] if current else None
        # The trainer that fits the dataset's task, unless one was asked for (a clone keeps its).
        fitting = job_view.fitting_trainers(trainers, task)
        wanted = trainer or (template["trainer"] if template else None)
        allowed = fitting if (task and not template) else trainers
        chosen = next((t for t in allowed if t["manifest"]["name"] == wanted), None) or next(
            iter(fitting or trainers), None
        )
        config = template["config"] if template else {}
        sections = []
        if chosen is not None:
            schema = chosen["manifest"]["config_schema"]
            for section in ("basic", "advanced"):
                sections.append(
                    {
                        "name": section,
                        "fields": schema_fields(
                            schema.get(section) or {}, section, config.get(section) or {}
                        ),
                    }
                )
        fitting_names = {t["manifest"]["name"] for t in fitting}
        return {
            "project": project,
            "datasets": datasets,
            "selected_dataset": current["id"] if current else None,
            "task": task,
            "trainers": [
                {"name": t["manifest"]["name"], "fits": t["manifest"]["name"] in fitting_names}
                for t in sorted(trainers, key=lambda t: t["manifest"]["name"] not in fitting_names)
            ],
            "trainer": chosen,
            "models": job_view.models_for_task(chosen, task) if chosen else [],
            "sections": sections,
            "template": template,
            "nav": "jobs",
        }

    return await page(request, "job_new.html", build)


async def _job_context(api: Api, job_id: str) -> dict[str, Any]:
    job = await api.get(f"/training/jobs/{job_id}")
    project = await api.get(f"/projects/{job['project_id']}")
    dataset = await api.optional(f"/datasets/{job['dataset_id']}")
    checkpoints = await api.get(f"/training/jobs/{job_id}/checkpoints")
    artifacts = await api.get(f"/training/jobs/{job_id}/artifacts")
    tables = {
        a["name"]: await api.get(f"/training/jobs/{job_id}/artifacts/{a['name']}")
        for a in artifacts
        if a["kind"] == "table"
    }
    return {
        "project": project,
        "job": job,
        "dataset": dataset,
        "checkpoints": checkpoints,
        "metric_columns": job_view.metric_columns(checkpoints),
        "attempts": job_view.attempt_rows(job["attempts"]),
        "evaluation": job_view.artifact_sections(artifacts, tables, job["attempt_count"]),
        "is_number": job_view.is_number,
        "active": job["status"] in ACTIVE,
        "nav": "jobs",
    }


@router.get("/jobs/{job_id}")
async def job(request: Request, job_id: str) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        return await _job_context(api, job_id)

    return await page(request, "job.html", build)


@router.get("/jobs/{job_id}/summary")
async def job_summary(request: Request, job_id: str) -> Response:
    """The job page's header, checkpoints and attempts, re-fetched by HTMX when a WebSocket
    event says they changed."""

    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        return await _job_context(api, job_id)

    return await page(request, "partials/job_summary.html", build)


def _flatten(config: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(config, dict):
        return {prefix: config}
    flat: dict[str, Any] = {}
    for key, value in config.items():
        flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


@router.get("/projects/{project_id}/compare")
async def compare(
    request: Request, project_id: str, job: list[str] = Query(default_factory=list)
) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        project = await api.get(f"/projects/{project_id}")
        listed = (await api.get("/training/jobs", project_id=project_id, limit=200))["items"]
        chosen = []
        for job_id in job[:8]:
            found = await api.get(f"/training/jobs/{job_id}")
            if found["project_id"] != project["id"]:
                continue
            chosen.append(found)
        rows = []
        flats = [
            _flatten(
                {
                    "trainer": j["trainer"],
                    "model": j["model"],
                    "dataset_version": j["dataset_content_hash"][:12],
                    "config": j["config"],
                    "split": j["split_config"],
                }
            )
            for j in chosen
        ]
        for key in sorted({k for flat in flats for k in flat}):
            values = [flat.get(key) for flat in flats]
            shown = [json.dumps(value) if not isinstance(value, str) else value for value in values]
            rows.append({"key": key, "values": shown, "differs": len(set(shown)) > 1})
        return {
            "project": project,
            "listed": listed,
            "chosen": chosen,
            "chosen_ids": [j["id"] for j in chosen],
            "rows": rows,
            "nav": "compare",
        }

    return await page(request, "compare.html", build)
