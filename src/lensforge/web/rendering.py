"""Templates, the signed-in viewer every page shows, and turning API errors into pages."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from lensforge import __version__
from lensforge.auth.browser_sessions import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    cookie_name,
    csrf_token_valid,
    is_secure,
    new_csrf_token,
    read_cookie,
)
from lensforge.auth.policy import Action, Role, role_allows
from lensforge.web.backend import Api, ApiError

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
CSRF_COOKIE_MAX_AGE = 30 * 24 * 3600

ROLE_LABELS = {
    Role.ADMIN: "Admin",
    Role.MANAGER: "Manager",
    Role.ADVANCED_ENGINEER: "Advanced engineer",
    Role.STANDARD_ENGINEER: "Standard engineer",
    Role.GUEST: "Guest",
}


def _when(value: str | None) -> str:
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M")


def _size(value: int | None) -> str:
    """Decimal units (1 kB = 1000 bytes), as browsers and file managers show the downloaded
    file: the page and the download must agree."""
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


TEMPLATES.env.filters["when"] = _when
TEMPLATES.env.filters["size"] = _size
TEMPLATES.env.filters["num"] = _number
TEMPLATES.env.filters["pretty_json"] = lambda value: json.dumps(value, indent=2, sort_keys=True)
TEMPLATES.env.filters["urlquote"] = lambda value: quote(str(value), safe="")
TEMPLATES.env.globals["version"] = __version__
TEMPLATES.env.globals["role_labels"] = {role.value: label for role, label in ROLE_LABELS.items()}
TEMPLATES.env.globals["roles"] = [role.value for role in Role]


@dataclass(frozen=True)
class Viewer:
    """Who is looking: from the API's `/auth/me`, with the policy answers the page needs."""

    me: dict[str, Any]
    projects: list[dict[str, Any]]

    @property
    def role(self) -> Role:
        return Role(self.me["role"])

    def can(self, action: str) -> bool:
        return role_allows(self.role, Action(action))


def csrf_token(request: Request) -> str:
    """The page's CSRF token: the cookie's while it is valid for this request's session, else a
    new one (sent as a cookie with the page), e.g. after login, logout or a switch."""
    new = getattr(request.state, "new_csrf", None)
    if new:
        return str(new)
    secret: str = request.app.state.settings.secret_key
    session_token = read_cookie(request, SESSION_COOKIE)
    token = read_cookie(request, CSRF_COOKIE)
    if token and csrf_token_valid(secret, session_token, token):
        return token
    new = new_csrf_token(secret, session_token)
    request.state.new_csrf = new
    return str(new)


def set_csrf_cookie(request: Request, response: Response, token: str) -> None:
    secure = is_secure(request)
    response.set_cookie(
        cookie_name(CSRF_COOKIE, secure=secure),
        token,
        max_age=CSRF_COOKIE_MAX_AGE,
        httponly=False,  # the page's scripts read it to send it back as a header
        samesite="lax",
        secure=secure,
        path="/",
    )


def _with_csrf_cookie(request: Request, response: Response) -> Response:
    new = getattr(request.state, "new_csrf", None)
    if new:
        set_csrf_cookie(request, response, new)
    return response


# The browser may load and connect to this server only: no CDN, font or tracker can sneak in,
# and injected markup cannot run scripts. Inline style attributes are used (bar widths, hues).
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; frame-ancestors 'none'; "
        "base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def render(
    request: Request, template: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    context = {"request": request, "csrf": csrf_token(request), **context}
    response = TEMPLATES.TemplateResponse(
        request, template, context, status_code=status_code, headers=SECURITY_HEADERS
    )
    return _with_csrf_cookie(request, response)


def error_page(
    request: Request, status: int, message: str, viewer: Viewer | None = None
) -> Response:
    titles = {
        403: "Not allowed",
        404: "Not found",
        409: "Conflict",
        422: "Not valid",
    }
    title = titles.get(status, "Something went wrong" if status >= 500 else "Request refused")
    return render(
        request,
        "error.html",
        {"viewer": viewer, "status": status, "title": title, "message": message},
        status_code=status,
    )


def login_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


PageBuilder = Callable[[Api, Viewer], Awaitable[dict[str, Any]]]


async def page(request: Request, template: str, build: PageBuilder) -> Response:
    """Render `template` for the signed-in viewer with what `build` fetched: to the login page
    without a session, an error page when the API refuses (404 for another organization's
    ids, exactly as the API answers)."""
    api = Api(request)
    viewer: Viewer | None = None
    try:
        me = await api.get("/auth/me")
        projects = await api.get("/projects", limit=200)
        viewer = Viewer(me=me, projects=projects["items"])
        context = await build(api, viewer)
    except ApiError as exc:
        if exc.status == 401:
            return login_redirect(request)
        # A malformed id in the URL is a page that does not exist.
        status = 404 if exc.status == 422 else exc.status
        message = "There is nothing here, or you may not see it." if status == 404 else exc.message
        return error_page(request, status, message, viewer)
    finally:
        await api.close()
    return render(request, template, {"viewer": viewer, **context})
