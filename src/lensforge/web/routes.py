"""Mounts the UI on the application: pages at `/`, static assets at `/static`."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from lensforge.web import (
    dataset_pages,
    deployment_pages,
    job_pages,
    model_pages,
    org_pages,
    session_pages,
)
from lensforge.web.rendering import error_page

STATIC_DIR = Path(__file__).parent / "static"


def mount_web_ui(app: FastAPI) -> None:
    for module in (
        session_pages,
        org_pages,
        dataset_pages,
        job_pages,
        model_pages,
        deployment_pages,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API, not a script)."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", ""
    )


def html_error(request: Request, status: int, message: str) -> Response:
    return error_page(request, status, message)
