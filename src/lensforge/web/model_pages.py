"""Pages of trained models at work: test inference (a quick predict on dropped images, batch
runs over a dataset split, the results browser) and exports (create, follow, verification
report, download)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lensforge.kit.pagination import Offset
from lensforge.web.backend import Api
from lensforge.web.forms import schema_fields
from lensforge.web.rendering import Viewer, page

router = APIRouter(include_in_schema=False)

# A job may have checkpoints to use once it has started training.
_USABLE = ("running", "completed", "failed", "cancelled")
RESULTS_PER_PAGE = 24


async def _usable_jobs(api: Api, project_id: str) -> list[dict[str, Any]]:
    found = await api.get("/training/jobs", project_id=project_id, limit=200)
    return [j for j in found["items"] if j["status"] in _USABLE]


@router.get("/projects/{project_id}/inference")
async def inference(request: Request, project_id: str, job: str | None = None) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        project = await api.get(f"/projects/{project_id}")
        jobs = await _usable_jobs(api, project_id)
        exports = await api.get("/exports", project_id=project_id, limit=200)
        runs = await api.get("/inference", project_id=project_id, limit=50)
        names = {j["id"]: j["name"] for j in jobs}
        return {
            "project": project,
            "jobs": jobs,
            "selected_job": job,
            "exports": [e for e in exports["items"] if e["status"] == "completed"],
            "runs": runs,
            "job_names": names,
            "nav": "inference",
        }

    return await page(request, "inference.html", build)


@router.get("/inference/{run_id}")
async def inference_run(request: Request, run_id: str, offset: Offset = 0) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        run = await api.get(f"/inference/{run_id}")
        project = await api.get(f"/projects/{run['project_id']}")
        source = await api.optional(f"/training/jobs/{run['source_job_id']}")
        results = None
        if run["status"] == "completed":
            start = max(0, offset)
            results = await api.get(
                f"/inference/{run_id}/results", offset=start, limit=RESULTS_PER_PAGE
            )
        return {
            "project": project,
            "run": run,
            "source": source,
            "results": results,
            "per_page": RESULTS_PER_PAGE,
            "nav": "inference",
        }

    return await page(request, "inference_run.html", build)


@router.get("/projects/{project_id}/exports")
async def exports(request: Request, project_id: str, job: str | None = None) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        project = await api.get(f"/projects/{project_id}")
        jobs = await _usable_jobs(api, project_id)
        capabilities = await api.get("/models/capabilities")
        found = await api.get("/exports", project_id=project_id, limit=200)
        formats: dict[str, list[dict[str, Any]]] = {}
        for trainer in capabilities["trainers"]:
            entries = []
            for entry in trainer["export_formats"]:
                fields = schema_fields(entry.get("options_schema") or {}, "options", {})
                for field in fields:  # `options.<name>`, not the trainer config's path
                    field["name"] = field["name"].removeprefix("config.")
                    field["id"] = f"{trainer['name']}-{entry['format']}-{field['key']}"
                entries.append({**entry, "fields": fields})
            formats[trainer["name"]] = entries
        return {
            "project": project,
            "jobs": jobs,
            "selected_job": job,
            "formats": formats,
            "exports": found,
            "job_names": {j["id"]: j["name"] for j in jobs},
            "nav": "exports",
        }

    return await page(request, "exports.html", build)


@router.get("/exports/{export_id}")
async def export_detail(request: Request, export_id: str) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        export = await api.get(f"/exports/{export_id}")
        project = await api.get(f"/projects/{export['project_id']}")
        source = await api.optional(f"/training/jobs/{export['source_job_id']}")
        return {"project": project, "export": export, "source": source, "nav": "exports"}

    return await page(request, "export.html", build)


@router.get("/inference/{run_id}/fragment")
async def inference_results_fragment(request: Request, run_id: str) -> Response:
    """The results alone, swapped into the inference page by HTMX after a quick predict."""

    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        run = await api.get(f"/inference/{run_id}")
        results = None
        if run["status"] == "completed":
            results = await api.get(f"/inference/{run_id}/results", limit=RESULTS_PER_PAGE)
        return {"run": run, "results": results, "per_page": RESULTS_PER_PAGE}

    return await page(request, "partials/inference_results.html", build)
