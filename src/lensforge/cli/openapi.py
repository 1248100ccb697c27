"""`lensforge openapi`: the API reference as OpenAPI JSON (docs/api/openapi.json is made by it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lensforge.cli.output import console


def render_openapi() -> str:
    from lensforge.app import create_app

    # Building the schema needs no database or storage: the lifespan never runs here.
    schema = create_app(run_migrations=False).openapi()
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def openapi(
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write to this file instead of stdout.")
    ] = None,
) -> None:
    """Print the OpenAPI document of the HTTP API."""
    text = render_openapi()
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    console.print(f"wrote {output}")
