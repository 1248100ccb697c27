"""Entry point of the `lensforge` command.

The commands are registered by name in `lensforge.cli._lazy.COMMANDS` and their modules imported
only when run, so that `lensforge --version` and `--help` start at once (no server, database or
HTTP client import); `benchmarks/cli_startup.py` measures it.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lensforge import __version__
from lensforge.cli._lazy import LazyGroup

app = typer.Typer(
    name="lensforge",
    cls=LazyGroup,
    rich_markup_mode=None,
    help="Lensforge: train, test, export and serve vision models on your own machines.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"lensforge {__version__}")
        raise typer.Exit


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Lensforge command line."""


def run() -> None:
    """The `lensforge` executable. httpx imports its own command line (click, pygments and
    rich.syntax: a fifth of a second) whenever click is installed, which this process never
    uses: a None entry in sys.modules makes that import fail, and httpx then defines its stub
    `httpx.main` instead (its documented behaviour without the `httpx[cli]` extra)."""
    sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
    app()
