"""The API reference pages (`/api/v1/docs`, Swagger UI; `/api/v1/redoc`, ReDoc), offline.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so the page that holds a user's token
would run whatever that CDN serves, and an offline installation has no docs. Here the assets come
from the `fastapi-offline` package (Swagger UI and ReDoc distributions, MIT/Apache-2.0), served
from our own origin, and each page carries a Content-Security-Policy that allows nothing else:
its one inline script runs by nonce.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"


def _policy(nonce: str) -> str:
    return (
        "default-src 'none'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        # Both UIs set inline style attributes; ReDoc runs its search in a blob: worker.
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "font-src 'self' data:; "
        "connect-src 'self'; "
        "worker-src 'self' blob:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    )


def _secured(page: HTMLResponse, nonce: str) -> HTMLResponse:
    html = bytes(page.body).decode()
    # The pages' only inline <script> (the bare tag; external ones have a src).
    html = html.replace("<script>", f'<script nonce="{nonce}">')
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": _policy(nonce),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
        },
    )


def mount_api_docs(app: FastAPI, prefix: str) -> None:
    """Serve the docs pages and their assets under `prefix` (the app must not serve FastAPI's
    CDN-backed pages: create it with `docs_url=None, redoc_url=None`)."""
    assets = f"{prefix}/docs-assets"
    openapi_url = app.openapi_url or f"{prefix}/openapi.json"
    app.mount(assets, StaticFiles(directory=ASSETS_DIR), name="api-docs-assets")

    @app.get(f"{prefix}/docs", include_in_schema=False)
    def swagger_ui() -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        page = get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )
        return _secured(page, nonce)

    @app.get(f"{prefix}/redoc", include_in_schema=False)
    def redoc() -> HTMLResponse:
        nonce = secrets.token_urlsafe(16)
        page = get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{assets}/redoc.standalone.js",
            redoc_favicon_url=f"{assets}/favicon.png",
            with_google_fonts=False,
        )
        return _secured(page, nonce)
