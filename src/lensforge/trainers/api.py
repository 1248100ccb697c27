"""Routes: /trainers (the registry, with config schemas) and config validation."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.jobs.api import RegistryDep
from lensforge.kit.schemas import Schema
from lensforge.trainers.config import field_errors, with_defaults
from lensforge.trainers.manifest import TrainerManifest

router = APIRouter(prefix="/trainers", tags=["trainers"])


class TrainerRead(Schema):
    manifest: TrainerManifest
    source: str


class ConfigValidation(Schema):
    valid: bool
    errors: list[dict[str, str]]
    config: dict[str, Any] | None = None


@router.get("", response_model=list[TrainerRead])
def list_trainers(
    registry: RegistryDep, principal: Principal = requires(Action.TRAINER_READ)
) -> list[TrainerRead]:
    return [TrainerRead(manifest=t.manifest, source=t.source) for t in registry.list()]


@router.get("/{name}", response_model=TrainerRead)
def get_trainer(
    name: str, registry: RegistryDep, principal: Principal = requires(Action.TRAINER_READ)
) -> TrainerRead:
    trainer = registry.get(name)
    return TrainerRead(manifest=trainer.manifest, source=trainer.source)


@router.post("/{name}/config/validate", response_model=ConfigValidation)
def validate_config(
    name: str,
    body: dict[str, Any],
    registry: RegistryDep,
    principal: Principal = requires(Action.TRAINER_READ),
) -> ConfigValidation:
    """Check a config against the trainer's schemas: every problem with its field path, and the
    config with defaults filled in when valid. (The answer is 200 either way.)"""
    manifest = registry.get(name).manifest
    errors = field_errors(manifest, body)
    return ConfigValidation(
        valid=not errors, errors=errors, config=None if errors else with_defaults(manifest, body)
    )
