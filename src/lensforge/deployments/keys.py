"""API keys made for one deployment: they reach that deployment only, and can only predict
(`deployment:infer`) and/or read its metadata (`deployment:read`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lensforge.auth.api_keys import CreatedApiKey, create_api_key
from lensforge.auth.policy import Action, normalize_scope
from lensforge.auth.principal import Principal
from lensforge.auth.repository import ApiKeyRepository
from lensforge.errors import ValidationFailed
from lensforge.models import ApiKey, Deployment

DEPLOYMENT_KEY_SCOPES = (Action.DEPLOYMENT_INFER.value, Action.DEPLOYMENT_READ.value)


def create_deployment_key(
    session: Session,
    principal: Principal,
    deployment: Deployment,
    *,
    name: str,
    scopes: list[str],
    expires_at: datetime | None,
) -> CreatedApiKey:
    wanted = [normalize_scope(scope) for scope in scopes]
    other = [scope for scope in wanted if scope not in DEPLOYMENT_KEY_SCOPES]
    if other:
        raise ValidationFailed(
            f"a deployment's key takes only {' and '.join(DEPLOYMENT_KEY_SCOPES)}; "
            f"not: {', '.join(other)}",
            code="invalid_scope",
            details={
                "fields": [
                    {"field": "body.scopes", "message": f"not allowed: {scope!r}"}
                    for scope in other
                ]
            },
        )
    creator = (
        ApiKeyRepository(session).get(principal.api_key_id)
        if principal.api_key_id is not None
        else None
    )
    created = create_api_key(
        session,
        organization_id=principal.organization_id,
        user_id=principal.user_id,
        name=name,
        scopes=wanted,
        expires_at=expires_at,
        created_by_key=creator,
    )
    created.key.deployment_ids = [str(deployment.id)]
    session.flush()
    return created


def deployment_keys(session: Session, deployment: Deployment) -> Sequence[ApiKey]:
    """Keys restricted to this deployment (revoked and expired ones too), oldest first."""
    target = str(deployment.id)
    # JSON containment differs between the databases; an organization's keys are few.
    keys = session.scalars(
        select(ApiKey)
        .where(ApiKey.organization_id == deployment.organization_id)
        .order_by(ApiKey.created_at, ApiKey.id)
    ).all()
    return [key for key in keys if key.deployment_ids and target in key.deployment_ids]
