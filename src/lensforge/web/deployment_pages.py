"""Pages of deployments: the list of a project's deployments with the form that creates one,
and a deployment's page (status, URLs with ready-to-copy calls, versions with rollback, keys,
live charts from the stats route, usage per day and the try-it form)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lensforge.serving.snippets import curl_snippet, triton_snippet
from lensforge.web.backend import Api, ApiError
from lensforge.web.rendering import Viewer, page

router = APIRouter(include_in_schema=False)

# The try-it form posts here (the API server answers it with the serving code).
PREDICT_ROUTE = "/api/v1/deployments/{deployment_id}/predict"
USAGE_DAYS = 30


def snippets(deployment: dict[str, Any]) -> dict[str, str]:
    """Ready-to-copy calls of the deployment: curl on the image API, tritonclient on OIP v2
    (the same as `lensforge deployments show` prints)."""
    urls = deployment["urls"]
    curl = curl_snippet(str(urls["image"]), line_break=True)
    version = deployment.get("version") or {}
    imgsz = (version.get("model_info") or {}).get("imgsz")
    triton = triton_snippet(str(urls["v2"]), str(urls["model_name"]), imgsz)
    return {"curl": curl, "tritonclient": triton}


@router.get("/projects/{project_id}/deployments")
async def deployments(request: Request, project_id: str) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        project = await api.get(f"/projects/{project_id}")
        found = await api.get("/deployments", project_id=project_id, limit=200)
        jobs = await api.get("/training/jobs", project_id=project_id, limit=200)
        exports = await api.get("/exports", project_id=project_id, limit=200)
        return {
            "project": project,
            "deployments": found,
            "jobs": [j for j in jobs["items"] if j["status"] == "completed"],
            "exports": [
                e for e in exports["items"] if e["status"] == "completed" and e["format"] == "onnx"
            ],
            "nav": "deployments",
        }

    return await page(request, "deployments.html", build)


async def _optional_list(api: Api, path: str, **params: Any) -> list[dict[str, Any]] | None:
    """A list the viewer may not be allowed to see (keys, usage): None when refused."""
    try:
        found = await api.get(path, **params)
    except ApiError as exc:
        if exc.status in (403, 404):
            return None
        raise
    if isinstance(found, dict):
        rows = found.get("items", found.get("rows"))
        return list(rows) if rows is not None else []
    return list(found)


@router.get("/deployments/{deployment_id}")
async def deployment(request: Request, deployment_id: str) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        found = await api.get(f"/deployments/{deployment_id}")
        project = await api.get(f"/projects/{found['project_id']}")
        versions = await _optional_list(api, f"/deployments/{deployment_id}/versions") or []
        keys = await _optional_list(api, f"/deployments/{deployment_id}/keys")
        usage = await _optional_list(api, f"/deployments/{deployment_id}/usage", group="day")
        return {
            "project": project,
            "deployment": found,
            "versions": versions,
            "keys": keys,
            "usage": usage,
            "snippets": snippets(found),
            "predict_url": PREDICT_ROUTE.format(deployment_id=found["id"]),
            "nav": "deployments",
        }

    return await page(request, "deployment.html", build)
