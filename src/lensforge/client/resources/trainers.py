"""`client.trainers`: the trainers the server knows, their manifests and config validation."""

from __future__ import annotations

import builtins
from typing import Any
from urllib.parse import quote

from lensforge.client.job_models import ConfigValidation, Trainer
from lensforge.client.resources import Resource


class Trainers(Resource):
    def list(self) -> builtins.list[Trainer]:
        """Every registered trainer, by name."""
        return self._session.call(list[Trainer], "GET", "/trainers")

    def get(self, name: str) -> Trainer:
        """A trainer's manifest: tasks, models, capabilities, requirements, config schemas."""
        return self._session.call(Trainer, "GET", _trainer_path(name))

    def validate_config(self, name: str, config: dict[str, Any]) -> ConfigValidation:
        """Check `{"basic": {...}, "advanced": {...}}` against the trainer's schemas without
        creating anything. An invalid config is an answer (`valid` False, `errors` listing
        each field), not an exception."""
        return self._session.call(
            ConfigValidation, "POST", _trainer_path(name, "/config/validate"), json=config
        )


def _trainer_path(name: str, rest: str = "") -> str:
    # Trainer names are plain, but a typo with '/' or '?' must not reach another route.
    return f"/trainers/{quote(name, safe='')}{rest}"
