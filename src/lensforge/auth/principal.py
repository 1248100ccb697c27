"""Who is calling: the authenticated user, the organization they act in, and their role there."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from lensforge.auth.policy import Action, Role, authorize


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    role: Role
    # Set when the call is made with an API key; its scopes narrow the role.
    api_key_id: uuid.UUID | None = None
    scopes: tuple[str, ...] | None = None

    def can(self, action: Action) -> bool:
        try:
            self.require(action)
        except Exception:
            return False
        return True

    def require(self, action: Action) -> None:
        authorize(self.role, list(self.scopes) if self.scopes is not None else None, action)
