"""Turning what people type into API values for jobs: a job's id, id prefix or name, and the
pieces of a trainer config (`--set basic.epochs=3`, a config file)."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml

from lensforge.cli.output import fail
from lensforge.client import Job, LensforgeClient

JobArgument = Annotated[
    str, typer.Argument(help="Job id, a unique id prefix (6+ characters) or name.")
]
MIN_PREFIX = 6
SECTIONS = ("basic", "advanced")
_HEX_PREFIX = re.compile(r"^[0-9a-f-]+$")
_MAX_LISTED = 10


def find_job(client: LensforgeClient, ref: str) -> Job:
    """The job with id `ref`, else the only one whose id starts with `ref` (6 characters at
    least) or whose name is `ref`. Several matches are refused with the candidates listed."""
    ref = ref.strip()
    try:
        job_id = uuid.UUID(ref)
    except ValueError:
        pass
    else:
        return client.jobs.get(job_id)
    prefix = ref.lower() if len(ref) >= MIN_PREFIX and _HEX_PREFIX.match(ref.lower()) else None
    matches = [
        job
        for job in client.jobs.iter()
        if job.name == ref or (prefix is not None and str(job.id).startswith(prefix))
    ]
    if not matches:
        hint = "" if prefix or len(ref) >= MIN_PREFIX else f" (id prefixes need {MIN_PREFIX}+)"
        fail(f"no job with id, id prefix or name {ref!r}{hint}; see `lensforge jobs list`")
    if len(matches) > 1:
        listed = "; ".join(
            f"{job.id} ({job.name!r}, {job.status})" for job in matches[:_MAX_LISTED]
        )
        more = f" and {len(matches) - _MAX_LISTED} more" if len(matches) > _MAX_LISTED else ""
        fail(f"{len(matches)} jobs match {ref!r}: {listed}{more}. Pass more of the id")
    return matches[0]


# --- config ------------------------------------------------------------------------------------


def parse_value(text: str) -> Any:
    """`3` → 3, `0.01` → 0.01, `true` → True, `[1, 2]` → a list, anything else a string
    (quote it, `'"3"'`, to pass a number as a string)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def apply_set(config: dict[str, Any], assignment: str) -> None:
    """Apply `section.key=value` (or `section.a.b=value` for nested objects) to `config`."""
    key, sep, raw = assignment.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) < 2 or parts[0] not in SECTIONS or not all(parts):
        raise typer.BadParameter(
            f"{assignment!r} is not SECTION.KEY=VALUE with SECTION basic or advanced "
            "(e.g. basic.epochs=10)",
            param_hint="--set",
        )
    target = config.setdefault(parts[0], {})
    for part in parts[1:-1]:
        child = target.setdefault(part, {})
        if not isinstance(child, dict):
            raise typer.BadParameter(f"{'.'.join(parts[:-1])} is not an object", param_hint="--set")
        target = child
    target[parts[-1]] = parse_value(raw.strip())


def read_config_file(path: Path) -> dict[str, Any]:
    """A config file: JSON, or YAML for `.yaml`/`.yml`, holding `{basic: ..., advanced: ...}`."""
    try:
        text = path.read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")
    is_yaml = path.suffix.lower() in (".yaml", ".yml")
    try:
        loaded = yaml.safe_load(text) if is_yaml else json.loads(text)
    except (ValueError, yaml.YAMLError) as exc:
        fail(f"{path} is not valid {'YAML' if is_yaml else 'JSON'}: {exc}")
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        fail(f"{path} must hold an object with 'basic' and/or 'advanced' sections")
    return loaded


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """`override` laid over `base`, objects merged key by key."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged
