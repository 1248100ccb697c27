"""What every command that talks to a server shares: the client built from the stored login,
client errors turned into `error: ...` exits, and JSON output for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import typer
from pydantic import BaseModel
from rich.markup import escape

from lensforge.cli.output import fail
from lensforge.client import AuthenticationError, ConnectionFailed, LensforgeClient, LensforgeError
from lensforge.client.config import ClientConfig, resolve_config


def describe(exc: LensforgeError, url: str) -> str:
    """One line for people: what failed, and what to do about it where that is clear."""
    if isinstance(exc, ConnectionFailed):
        return (
            f"cannot reach the Lensforge server at {url} ({exc.message}). Is it running? "
            "Start one with `lensforge up`, or log in to another with `lensforge login --url`."
        )
    if isinstance(exc, AuthenticationError):
        return f"{exc}; log in again with `lensforge login`"
    return str(exc)


@contextmanager
def client_errors(url: str) -> Iterator[None]:
    """Turn a `LensforgeError` raised inside into `error: <message>` and exit code 1."""
    try:
        yield
    except LensforgeError as exc:
        fail(escape(describe(exc, url)))


def current_config() -> ClientConfig:
    try:
        return resolve_config()
    except LensforgeError as exc:
        fail(escape(exc.message))


@contextmanager
def open_client() -> Iterator[LensforgeClient]:
    """A client logged in with the stored credentials (or the environment's); refreshed tokens
    are saved back to the config file."""
    config = current_config()
    if not config.has_credentials:
        fail(
            f"not logged in to {escape(config.url)}; run `lensforge login` "
            "(or set LENSFORGE_API_KEY for scripts)"
        )
    with client_errors(config.url), LensforgeClient.from_config(config) as client:
        yield client


def print_json(value: Any) -> None:
    """Plain JSON on stdout (no colours, no wrapping) for `--json` flags."""
    typer.echo(json.dumps(_jsonable(value), indent=2))


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_jsonable(item) for item in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def when(value: datetime | None) -> str:
    """A timestamp for tables: local time to the minute, or a dash."""
    return value.astimezone().strftime("%Y-%m-%d %H:%M") if value else "-"
