"""Pages of datasets: the list, a dataset with its versions, import reports, image browser,
stats, splits, diffs and downloads, and the upload page."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from lensforge.formats.api import TASKS_OF
from lensforge.formats.model import Task
from lensforge.formats.validation import CODES
from lensforge.formats.writers import WRITERS
from lensforge.web.backend import Api
from lensforge.web.rendering import Viewer, page

router = APIRouter(include_in_schema=False)

TABS = ("overview", "images", "stats", "splits", "diff", "imports")


def export_formats(task: str) -> list[str]:
    """The download formats that can hold a dataset of `task` (as the export route decides)."""
    return [name for name in WRITERS if Task(task) in TASKS_OF[name]]


@router.get("/projects/{project_id}/datasets")
async def datasets(request: Request, project_id: str) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        project = await api.get(f"/projects/{project_id}")
        found = await api.get("/datasets", project_id=project_id, limit=200)
        return {"project": project, "datasets": found, "nav": "datasets"}

    return await page(request, "datasets.html", build)


async def _dataset_and_project(api: Api, dataset_id: str) -> tuple[dict[str, Any], Any]:
    dataset = await api.get(f"/datasets/{dataset_id}")
    project = await api.get(f"/projects/{dataset['project_id']}")
    return dataset, project


@router.get("/datasets/{dataset_id}")
async def dataset(
    request: Request,
    dataset_id: str,
    tab: str = "overview",
    v: int | None = None,
    against: int | None = None,
    split: str | None = None,
    class_id: int | None = None,
) -> Response:
    tab = tab if tab in TABS else "overview"

    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        found, project = await _dataset_and_project(api, dataset_id)
        versions = await api.get(f"/datasets/{dataset_id}/versions")
        numbers = [entry["number"] for entry in versions]
        number = v if v in numbers else (numbers[0] if numbers else None)
        version = next((entry for entry in versions if entry["number"] == number), None)
        context: dict[str, Any] = {
            "project": project,
            "dataset": found,
            "versions": versions,
            "version": version,
            "tab": tab,
            "nav": "datasets",
            "export_formats": export_formats(found["task"]),
            "split_filter": split,
            "class_filter": class_id,
        }
        base = f"/datasets/{dataset_id}/versions/{number}"
        if tab in ("overview", "imports"):
            context["imports"] = await api.get(f"/datasets/{dataset_id}/imports")
        if version is not None and tab == "stats":
            stats = (await api.get(base + "/stats"))["stats"]
            context["stats"] = stats
            context["class_counts"] = [(c["name"], c["count"]) for c in stats["classes"]]
        if version is not None and tab == "diff":
            older = [n for n in numbers if n != number]
            against_number = against if against in older else (older[0] if older else None)
            context["against"] = against_number
            if against_number is not None:
                context["diff"] = await api.get(base + "/diff", against=against_number, limit=200)
        return context

    return await page(request, "dataset.html", build)


@router.get("/datasets/{dataset_id}/import")
async def dataset_import(request: Request, dataset_id: str) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        found, project = await _dataset_and_project(api, dataset_id)
        return {"project": project, "dataset": found, "nav": "datasets"}

    return await page(request, "dataset_import.html", build)


REPORT_PAGE = 200
"""Issues per page of a report: long reports (up to 1000 per code) are paged, not rendered whole."""


async def _report(api: Api, import_id: str, offset: int) -> dict[str, Any]:
    record = await api.get(f"/datasets/imports/{import_id}")
    issues = await api.get(
        f"/datasets/imports/{import_id}/issues", limit=REPORT_PAGE, offset=max(0, offset)
    )
    counts: dict[str, int] = (record.get("report") or {}).get("counts", {})
    errors = sum(n for code, n in counts.items() if _severity(code) == "error")
    return {
        "record": record,
        "issues_page": issues,
        "error_count": errors,
        "warning_count": sum(counts.values()) - errors,
    }


def _severity(code: str) -> str:
    # Codes outside the format layer's table (hostile_archive, task_mismatch, ...) are errors.
    info = CODES.get(code)
    return info.severity.value if info is not None else "error"


@router.get("/datasets/imports/{import_id}")
async def import_report(request: Request, import_id: str, offset: int = 0) -> Response:
    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        report = await _report(api, import_id, offset)
        found, project = await _dataset_and_project(api, report["record"]["dataset_id"])
        return {"project": project, "dataset": found, "nav": "datasets", **report}

    return await page(request, "import_report.html", build)


@router.get("/datasets/imports/{import_id}/fragment")
async def import_report_fragment(request: Request, import_id: str) -> Response:
    """The report alone, swapped into the upload page by HTMX when the import ends."""

    async def build(api: Api, viewer: Viewer) -> dict[str, Any]:
        return await _report(api, import_id, 0)

    return await page(request, "partials/report.html", build)
