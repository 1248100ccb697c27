"""Shared console and the error exit used by every command."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2
EXIT_FAILURE = 1


def fail(message: str, *, code: int = EXIT_FAILURE) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)
