"""`client.auth`: sign-up, login, token refresh, logout, the current identity."""

from __future__ import annotations

import uuid
from typing import Any

from lensforge.client.models import Me, SignupResult, TokenPair
from lensforge.client.resources import Resource, path_id


class Auth(Resource):
    """Login-type calls store the tokens they receive on the client, so it is signed in after."""

    def signup(
        self,
        email: str,
        password: str,
        display_name: str,
        *,
        organization_name: str | None = None,
    ) -> SignupResult:
        """Create an account and its own organization; you become its admin."""
        body: dict[str, Any] = {"email": email, "password": password, "display_name": display_name}
        if organization_name is not None:
            body["organization_name"] = organization_name
        result = self._session.call(
            SignupResult, "POST", "/auth/signup", json=body, authenticated=False
        )
        self._session.set_tokens(result.tokens)
        return result

    def login(
        self, email: str, password: str, *, organization_id: uuid.UUID | str | None = None
    ) -> TokenPair:
        """Log in (acting in `organization_id`, or your first organization)."""
        body: dict[str, Any] = {"email": email, "password": password}
        if organization_id is not None:
            body["organization_id"] = path_id(organization_id)
        pair = self._session.call(TokenPair, "POST", "/auth/login", json=body, authenticated=False)
        self._session.set_tokens(pair)
        return pair

    def refresh(self) -> TokenPair:
        """Exchange the refresh token for a new pair now (this also happens automatically)."""
        refresh_token = self._session.refresh_token
        if refresh_token is None:
            raise ValueError("this client holds no refresh token")
        pair = self._session.call(
            TokenPair,
            "POST",
            "/auth/refresh",
            json={"refresh_token": refresh_token},
            authenticated=False,
        )
        self._session.set_tokens(pair)
        if self._session.on_tokens_refreshed is not None:
            self._session.on_tokens_refreshed(pair)
        return pair

    def logout(self, refresh_token: str | None = None) -> None:
        """End the login session server-side (idempotent) and forget the client's tokens."""
        token = refresh_token or self._session.refresh_token
        if token is not None:
            self._session.send(
                "POST", "/auth/logout", json={"refresh_token": token}, authenticated=False
            )
        if refresh_token is None or refresh_token == self._session.refresh_token:
            self._session.clear_tokens()

    def me(self) -> Me:
        """Who the credentials belong to, the organization acted in, and the role there."""
        return self._session.call(Me, "GET", "/auth/me")

    def switch_organization(self, organization_id: uuid.UUID | str) -> TokenPair:
        """New tokens acting in another organization you belong to (kept on the client)."""
        pair = self._session.call(
            TokenPair,
            "POST",
            "/auth/switch-organization",
            json={"organization_id": path_id(organization_id)},
        )
        self._session.set_tokens(pair)
        return pair
