"""`client.api_keys`: keys for scripts and CI; the secret is returned once, at creation."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from lensforge.client.models import ApiKey, CreatedApiKey
from lensforge.client.resources import Resource, path_id


class ApiKeys(Resource):
    def create(
        self,
        name: str,
        *,
        scopes: Sequence[str] | None = None,
        expires_at: datetime | None = None,
    ) -> CreatedApiKey:
        """A new key. `scopes` narrow what it may do (default `["*"]`: all your role allows),
        e.g. `["*:read"]` or `["dataset:*"]`. Keep `.secret`: it cannot be shown again."""
        body: dict[str, Any] = {"name": name}
        if scopes is not None:
            body["scopes"] = list(scopes)
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise ValueError("expires_at must be timezone-aware")
            body["expires_at"] = expires_at.isoformat()
        return self._session.call(CreatedApiKey, "POST", "/api-keys", json=body)

    def list(self) -> builtins.list[ApiKey]:
        """Your keys (an admin sees every key of the organization)."""
        return self._session.call(list[ApiKey], "GET", "/api-keys")

    def revoke(self, key_id: uuid.UUID | str) -> ApiKey:
        """Stop a key working at once; returns it with `revoked_at` set."""
        return self._session.call(ApiKey, "DELETE", f"/api-keys/{path_id(key_id)}")
