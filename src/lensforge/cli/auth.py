"""`lensforge login`, `lensforge logout`, `lensforge whoami`."""

from __future__ import annotations

import contextlib
import os
import sys
import uuid
from typing import Annotated

import typer
from rich.markup import escape

from lensforge.cli._client import client_errors, current_config, open_client, print_json
from lensforge.cli.output import console, err_console, fail
from lensforge.client import LensforgeClient, LensforgeError
from lensforge.client.config import ENV_URL, ClientConfig, load_config, save_config

ENV_PASSWORD = "LENSFORGE_PASSWORD"  # noqa: S105  (the variable's name, not a secret)


def _stored() -> ClientConfig | None:
    try:
        return load_config()
    except LensforgeError as exc:
        fail(escape(exc.message))


def login(
    url: Annotated[
        str | None,
        typer.Option(help="Server to log in to (default: $LENSFORGE_URL, then the last one)."),
    ] = None,
    email: Annotated[str | None, typer.Option(help="Your e-mail; prompted for if needed.")] = None,
    api_key: Annotated[
        str | None,
        typer.Option(help="Log in with an API key (lfk_...) instead; '-' reads it from stdin."),
    ] = None,
    organization: Annotated[
        str | None, typer.Option(help="Organization id to act in (default: your first).")
    ] = None,
) -> None:
    """Log in and remember the credentials for later commands.

    The password is prompted for (hidden), or read from $LENSFORGE_PASSWORD.
    """
    stored = _stored()
    url = url or os.environ.get(ENV_URL) or (stored.url if stored else None) or ClientConfig().url
    if api_key == "-":
        api_key = sys.stdin.readline().strip()
    if organization is not None:
        try:
            uuid.UUID(organization)
        except ValueError:
            fail(f"--organization must be an organization id, not {escape(repr(organization))}")
    with client_errors(url), LensforgeClient(url, api_key=api_key or None) as client:
        if api_key:
            me = client.auth.me()
            config = ClientConfig(url=client.base_url, api_key=api_key)
        else:
            email = email or typer.prompt("E-mail")
            password = os.environ.get(ENV_PASSWORD) or typer.prompt("Password", hide_input=True)
            pair = client.auth.login(email, password, organization_id=organization)
            me = client.auth.me()
            config = ClientConfig(
                url=client.base_url,
                access_token=pair.access_token,
                refresh_token=pair.refresh_token,
            )
        config = config.model_copy(
            update={"organization_id": str(me.organization.id), "email": me.user.email}
        )
        if stored is not None and stored.refresh_token and stored.url == client.base_url:
            # The session being replaced would otherwise stay valid until it expires.
            with contextlib.suppress(LensforgeError):
                client.auth.logout(stored.refresh_token)
    path = save_config(config)
    console.print(
        f"logged in to [bold]{config.url}[/] as [bold]{me.user.email}[/] in organization "
        f"[bold]{escape(me.organization.name)}[/] (role {me.role})"
        + (" with an API key" if api_key else "")
    )
    console.print(f"credentials saved in {path}", style="dim")


def logout() -> None:
    """End the login session on the server and forget the stored credentials."""
    stored = _stored()
    if stored is None or not stored.has_credentials:
        console.print("not logged in")
        return
    if stored.refresh_token:
        try:
            with LensforgeClient(stored.url) as client:
                client.auth.logout(stored.refresh_token)
        except LensforgeError as exc:
            err_console.print(
                f"[yellow]warning:[/] could not end the session on {escape(stored.url)} "
                f"({escape(str(exc))}); "
                "the local credentials are removed anyway"
            )
    save_config(stored.without_credentials())
    console.print(f"logged out of {stored.url}")
    if stored.api_key:
        console.print(
            "the API key itself still works; revoke it with `lensforge api-keys revoke`",
            style="dim",
        )


def whoami(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Show who you are logged in as, where, and with which role."""
    config = current_config()
    with open_client() as client:
        me = client.auth.me()
    if as_json:
        print_json({"url": client.base_url, **me.model_dump(mode="json")})
        return
    console.print(f"[bold]{escape(me.user.display_name)}[/] <{me.user.email}>")
    console.print(f"  server:       {client.base_url}")
    console.print(f"  organization: {escape(me.organization.name)} ({me.organization.id})")
    console.print(f"  role:         {me.role}")
    if me.via_api_key:
        console.print(f"  via API key, scopes: {', '.join(me.scopes or [])}")
    if config.credentials_from_env:
        console.print("  credentials from the environment", style="dim")
    others = [m for m in me.memberships if m.organization.id != me.organization.id]
    if others:
        names = ", ".join(m.organization.name for m in others)
        console.print(f"  also member of: {escape(names)}")
