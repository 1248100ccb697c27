"""Pages of the organization: projects, a project's overview, members, API keys."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lensforge.web import home_view
from lensforge.web.backend import Api
from lensforge.web.rendering import Viewer, page

router = APIRouter(include_in_schema=False)


@router.get("/")
async def home(request: Request) -> Response:
    """Where a login lands: recent jobs with their state and best metric, datasets,
    deployments, and the next step while the organization is still empty."""

    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        jobs = await api.get("/training/jobs", limit=8)
        datasets = await api.get("/datasets", limit=8)
        deployments = await api.optional("/deployments", limit=8)
        return {
            "jobs": jobs,
            "datasets": datasets,
            "deployments": deployments["items"] if deployments else [],
            "project_names": {p["id"]: p["name"] for p in viewer.projects},
            "steps": home_view.next_steps(viewer, datasets, jobs),
            "nav": "home",
        }

    return await page(request, "home.html", build)


@router.get("/projects")
async def projects(request: Request, welcome: int = 0) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        return {"welcome": bool(welcome), "nav": "projects"}

    return await page(request, "projects.html", build)


@router.get("/projects/{project_id}")
async def project_overview(request: Request, project_id: str) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        project = await api.get(f"/projects/{project_id}")
        datasets = await api.get("/datasets", project_id=project_id, limit=100)
        jobs = await api.get("/training/jobs", project_id=project_id, limit=10)
        members = await api.get(f"/projects/{project_id}/members")
        candidates: list[dict[str, Any]] = []
        if viewer.can("project_member:manage"):
            inside = {m["user_id"] for m in members}
            everyone = await api.get("/organizations/current/members")
            candidates = [m for m in everyone if m["user_id"] not in inside]
        return {
            "project": project,
            "datasets": datasets,
            "jobs": jobs,
            "members": members,
            "candidates": candidates,
            "nav": "overview",
        }

    return await page(request, "project.html", build)


@router.get("/organization/members")
async def members(request: Request) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        organization = await api.get("/organizations/current")
        people = await api.get("/organizations/current/members")
        invitations = (
            await api.get("/organizations/current/invitations")
            if viewer.can("member:manage")
            else []
        )
        return {
            "organization": organization,
            "members": people,
            "invitations": invitations,
            "nav": "members",
        }

    return await page(request, "members.html", build)


@router.get("/invitations")
async def invitations(request: Request) -> Response:
    """Invitations addressed to the signed-in person, to accept or decline."""

    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        return {"invitations": await api.get("/organizations/invitations"), "nav": "invitations"}

    return await page(request, "invitations.html", build)


@router.get("/organization/api-keys")
async def api_keys(request: Request) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        keys = await api.get("/api-keys")
        return {"keys": keys, "nav": "api-keys"}

    return await page(request, "api_keys.html", build)
