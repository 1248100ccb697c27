"""`lensforge api-keys list|create|revoke`: keys for scripts, CI and trainers."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from lensforge.cli._client import open_client, print_json, when
from lensforge.cli.output import console, fail
from lensforge.client import ApiKey

app = typer.Typer(help="API keys for scripts and CI.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def key_status(key: ApiKey) -> str:
    if key.revoked_at is not None:
        return "[red]revoked[/]"
    if key.expires_at is not None and key.expires_at <= datetime.now(UTC):
        return "[yellow]expired[/]"
    return "[green]active[/]"


def keys_table(keys: Sequence[ApiKey]) -> Table:
    """Keys as the CLI lists them: never the secret, its public prefix only."""
    table = Table("ID", "Name", "Key", "Scopes", "Expires", "Last used", "Status")
    for key in keys:
        table.add_row(
            str(key.id),
            escape(key.name),
            f"lfk_{key.prefix}_…",
            escape(", ".join(key.scopes)),
            when(key.expires_at),
            when(key.last_used_at),
            key_status(key),
        )
    return table


@app.command("list")
def list_keys(as_json: JsonOption = False) -> None:
    """List your API keys (an admin sees the whole organization's)."""
    with open_client() as client:
        keys = client.api_keys.list()
    if as_json:
        print_json(keys)
        return
    if not keys:
        console.print("no API keys; create one with `lensforge api-keys create`")
        return
    console.print(keys_table(keys))


@app.command()
def create(
    name: Annotated[
        str | None, typer.Option(help="What the key is for (default: cli@<this host>).")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            help="Allow only these actions, e.g. '*:read' or 'dataset:*'; repeatable "
            "(default '*': everything your role allows).",
        ),
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(min=1, help="Expire after this many days (default: never).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Create an API key. Its secret is printed once: store it now."""
    expires_at = datetime.now(UTC) + timedelta(days=expires_in_days) if expires_in_days else None
    with open_client() as client:
        created = client.api_keys.create(
            name or f"cli@{socket.gethostname()}", scopes=scope or None, expires_at=expires_at
        )
    if as_json:
        print_json(created)
        return
    console.print(
        Panel(
            f"[bold]{escape(created.name)}[/] ({created.id})\n"
            f"scopes: {escape(', '.join(created.scopes))}   expires: {when(created.expires_at)}\n\n"
            "[bold yellow]Copy the key now: it will not be shown again.[/]",
            title="API key created",
            expand=False,
        )
    )
    # On its own line, unstyled and unwrapped, so it can be selected or piped as is.
    console.print(created.secret, markup=False, highlight=False, soft_wrap=True)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see `list`).")]) -> None:
    """Revoke an API key; it stops working at once."""
    try:
        parsed = uuid.UUID(key_id)
    except ValueError:
        fail(f"{escape(repr(key_id))} is not an API key id; see `lensforge api-keys list`")
    with open_client() as client:
        key = client.api_keys.revoke(parsed)
    console.print(f"revoked API key [bold]{escape(key.name)}[/] (lfk_{key.prefix}_…)")
