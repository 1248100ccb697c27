"""Routes: /auth (sign-up, login, refresh, logout, me, switch organization)."""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from lensforge.auth.dependencies import PUBLIC, requires
from lensforge.auth.policy import Action, Role
from lensforge.auth.principal import Principal
from lensforge.auth.repository import MembershipRepository, OrganizationRepository, UserRepository
from lensforge.auth.schemas import (
    LoginRequest,
    Me,
    MembershipRead,
    OrganizationRead,
    RefreshRequest,
    SignupRequest,
    SignupResponse,
    SwitchOrganizationRequest,
    TokenPair,
    UserRead,
)
from lensforge.auth.service import AuthService
from lensforge.dependencies import SessionDep, SettingsDep
from lensforge.errors import NotFound

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post(
    "/signup",
    response_model=SignupResponse,
    status_code=status.HTTP_201_CREATED,
    dependencies=[PUBLIC],
)
def signup(body: SignupRequest, session: SessionDep, settings: SettingsDep) -> SignupResponse:
    """Create an account and its own organization (you become its admin)."""
    account, tokens = AuthService(session, settings).signup(
        email=body.email,
        password=body.password,
        display_name=body.display_name,
        organization_name=body.organization_name,
    )
    return SignupResponse(
        user=UserRead.model_validate(account.user),
        organization=OrganizationRead.model_validate(account.organization),
        tokens=tokens,
    )


@router.post(
    "/login",
    response_model=TokenPair,
    dependencies=[PUBLIC],
    responses={429: {"description": "Too many failed sign-ins (`Retry-After` says how long)"}},
)
def login(
    body: LoginRequest, request: Request, session: SessionDep, settings: SettingsDep
) -> TokenPair:
    return AuthService(session, settings).login(
        email=body.email,
        password=body.password,
        organization_id=body.organization_id,
        client=request.client.host if request.client else "unknown",
    )


@router.post("/refresh", response_model=TokenPair, dependencies=[PUBLIC])
def refresh(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> TokenPair:
    """Exchange a refresh token for a new pair; the old refresh token stops working."""
    return AuthService(session, settings).refresh(body.refresh_token)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, dependencies=[PUBLIC])
def logout(body: RefreshRequest, session: SessionDep, settings: SettingsDep) -> None:
    """End the login session the refresh token belongs to (idempotent)."""
    AuthService(session, settings).logout(body.refresh_token)


@router.get("/me", response_model=Me)
def me(session: SessionDep, principal: Principal = requires(Action.ORGANIZATION_READ)) -> Me:
    user = UserRepository(session).get(principal.user_id)
    organization = OrganizationRepository(session).get(principal.organization_id)
    if user is None or organization is None:
        raise NotFound("account not found")
    memberships = MembershipRepository(session).for_user(principal.user_id)
    return Me(
        user=UserRead.model_validate(user),
        organization=OrganizationRead.model_validate(organization),
        role=principal.role,
        via_api_key=principal.api_key_id is not None,
        scopes=list(principal.scopes) if principal.scopes is not None else None,
        memberships=[
            MembershipRead(organization=OrganizationRead.model_validate(org), role=Role(m.role))
            for m, org in memberships
        ],
    )


@router.post("/switch-organization", response_model=TokenPair)
def switch_organization(
    body: SwitchOrganizationRequest,
    session: SessionDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.SESSION_SWITCH),
) -> TokenPair:
    """New tokens acting in another organization you belong to (interactive logins only: an API
    key gets 403 `api_key_not_allowed`, since the new pair would carry none of its limits)."""
    return AuthService(session, settings).switch_organization(
        principal.user_id, body.organization_id
    )
