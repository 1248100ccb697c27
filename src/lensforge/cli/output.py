"""Shared console and the error exit used by every command."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

# The shell's code for a command stopped by Ctrl-C (128 + SIGINT).
EXIT_INTERRUPTED = 130

console = Console()
err_console = Console(stderr=True)

EXIT_USAGE = 2
EXIT_FAILURE = 1


def fail(message: str, *, code: int = EXIT_FAILURE) -> NoReturn:
    # The message is plain text (it may quote user input such as "[/x]"), never Rich markup; not
    # hard-wrapped, so a long path in it stays one piece to copy.
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)
