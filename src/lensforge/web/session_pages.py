"""Sign-up, login, logout, switching organization, and the short-lived token the page's scripts
use for the WebSocket (browsers cannot send cookies' contents as a bearer token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from lensforge.auth.browser_sessions import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    check_csrf,
    cookie_name,
    is_secure,
    new_csrf_token,
    read_cookie,
    resolve_session,
)
from lensforge.auth.tokens import issue_access_token
from lensforge.config import Settings
from lensforge.errors import LensforgeError
from lensforge.kit.db import transaction
from lensforge.web.backend import Api, ApiError
from lensforge.web.rendering import render, set_csrf_cookie

router = APIRouter(include_in_schema=False)

FormText = Annotated[str, Form()]


def _safe_next(target: str | None) -> str:
    """Only paths on this server: an open redirect would let a link log you in elsewhere."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return "/"  # the home page


def _start_session(request: Request, response: Response, refresh_token: str) -> Response:
    settings: Settings = request.app.state.settings
    secure = is_secure(request)
    response.set_cookie(
        cookie_name(SESSION_COOKIE, secure=secure),
        refresh_token,
        max_age=settings.security.refresh_token_ttl_seconds,
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )
    # The CSRF token is bound to the session: the new session needs a new one.
    set_csrf_cookie(request, response, new_csrf_token(settings.secret_key, refresh_token))
    return response


def _check_csrf(request: Request, submitted: str | None) -> None:
    settings: Settings = request.app.state.settings
    check_csrf(
        "POST",
        read_cookie(request, CSRF_COOKIE),
        submitted,
        secret=settings.secret_key,
        session_token=read_cookie(request, SESSION_COOKIE),
    )


def _form_csrf(request: Request, submitted: str | None) -> bool:
    try:
        _check_csrf(request, submitted)
    except LensforgeError:
        return False
    return True


_EXPIRED_FORM = "The form has expired (or cookies are blocked). Please try again."


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": _safe_next(next), "errors": {}, "values": {}})


@router.post("/login")
async def login(
    request: Request,
    email: FormText,
    password: FormText,
    csrf_token: FormText = "",
    next: FormText = "/",
) -> Response:
    values = {"email": email}
    if not _form_csrf(request, csrf_token):
        return render(
            request,
            "login.html",
            {"next": next, "errors": {"form": _EXPIRED_FORM}, "values": values},
            400,
        )
    api = Api(request, may_change=True)
    try:
        tokens = await api.call("POST", "/auth/login", json={"email": email, "password": password})
    except ApiError as exc:
        errors = {"form": exc.message, **exc.fields}
        return render(
            request, "login.html", {"next": next, "errors": errors, "values": values}, exc.status
        )
    finally:
        await api.close()
    response = RedirectResponse(_safe_next(next), status_code=303)
    return _start_session(request, response, tokens["refresh_token"])


@router.get("/signup")
async def signup_page(request: Request) -> Response:
    return render(request, "signup.html", {"errors": {}, "values": {}})


@router.post("/signup")
async def signup(
    request: Request,
    email: FormText,
    password: FormText,
    display_name: FormText,
    organization_name: FormText = "",
    csrf_token: FormText = "",
) -> Response:
    values = {"email": email, "display_name": display_name, "organization_name": organization_name}
    if not _form_csrf(request, csrf_token):
        return render(
            request, "signup.html", {"errors": {"form": _EXPIRED_FORM}, "values": values}, 400
        )
    body: dict[str, Any] = {"email": email, "password": password, "display_name": display_name}
    if organization_name.strip():
        body["organization_name"] = organization_name.strip()
    api = Api(request, may_change=True)
    try:
        created = await api.call("POST", "/auth/signup", json=body)
    except ApiError as exc:
        errors = {"form": exc.message, **exc.fields}
        if exc.code == "weak_password":
            errors["password"] = exc.message
        return render(request, "signup.html", {"errors": errors, "values": values}, exc.status)
    finally:
        await api.close()
    response = RedirectResponse("/projects?welcome=1", status_code=303)
    return _start_session(request, response, created["tokens"]["refresh_token"])


@router.post("/logout")
async def logout(request: Request, csrf_token: FormText = "") -> Response:
    session_token = read_cookie(request, SESSION_COOKIE)
    if session_token and _form_csrf(request, csrf_token):
        api = Api(request, may_change=True)
        try:
            # Revokes the session server-side: a copied cookie stops working too.
            await api.call("POST", "/auth/logout", json={"refresh_token": session_token})
        finally:
            await api.close()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(
        cookie_name(SESSION_COOKIE, secure=is_secure(request)),
        path="/",
        secure=is_secure(request),
    )
    return response


@router.post("/switch-organization")
async def switch_organization(
    request: Request, organization_id: FormText, csrf_token: FormText = ""
) -> Response:
    old = read_cookie(request, SESSION_COOKIE)
    if not old or not _form_csrf(request, csrf_token):
        return RedirectResponse("/login", status_code=303)
    api = Api(request, may_change=True)
    try:
        tokens = await api.call(
            "POST", "/auth/switch-organization", json={"organization_id": organization_id}
        )
        await api.call("POST", "/auth/logout", json={"refresh_token": old})
    except ApiError:
        return RedirectResponse("/projects", status_code=303)
    finally:
        await api.close()
    response = RedirectResponse("/projects", status_code=303)
    return _start_session(request, response, tokens["refresh_token"])


@router.post("/session/token")
async def session_token(request: Request) -> Response:
    """A short-lived access token for the page's WebSocket, to a script of our own origin (the
    CSRF header proves it: other sites can neither read the CSRF cookie nor this answer)."""
    settings: Settings = request.app.state.settings
    cookie = read_cookie(request, SESSION_COOKIE)
    try:
        _check_csrf(request, request.headers.get(CSRF_HEADER))
        if not cookie:
            return JSONResponse({"error": {"code": "not_authenticated"}}, status_code=401)

        def resolve() -> Any:
            with transaction(request.app.state.session_factory) as session:
                return resolve_session(session, cookie)

        principal = await run_in_threadpool(resolve)
    except LensforgeError as exc:
        return JSONResponse(
            {"error": {"code": exc.code, "message": exc.message}}, status_code=exc.status_code
        )
    ttl = min(300, settings.security.access_token_ttl_seconds)
    token, _ = issue_access_token(
        settings.secret_key,
        user_id=principal.user_id,
        organization_id=principal.organization_id,
        ttl_seconds=ttl,
    )
    return JSONResponse({"token": token, "expires_in": ttl}, headers={"Cache-Control": "no-store"})
