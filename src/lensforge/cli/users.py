"""`lensforge users create-admin`: the first account, created by the person installing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lensforge.cli._data_dir import describe_database, server_settings
from lensforge.cli.output import console, fail
from lensforge.errors import LensforgeError
from lensforge.kit import migrate
from lensforge.kit.db import create_db_engine, create_session_factory, transaction

app = typer.Typer(help="User accounts.", no_args_is_help=True)


@app.command("create-admin")
def create_admin(
    email: Annotated[str, typer.Option(prompt=True, help="E-mail to log in with.")],
    display_name: Annotated[str, typer.Option(prompt="Display name", help="Your name.")],
    organization: Annotated[
        str | None, typer.Option(help="Organization name (default: '<name>'s organization').")
    ] = None,
    password: Annotated[
        str,
        typer.Option(
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            envvar="LENSFORGE_ADMIN_PASSWORD",
            help="Prompted for when not given.",
        ),
    ] = "",
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="The server's data directory (default: the running server's, or ./.lensforge "
            "found from the current directory; see docs/configuration.md)."
        ),
    ] = None,
) -> None:
    """Create an account that is admin of a new organization, in the database of the server
    (run it on the server's machine)."""
    from pydantic import EmailStr, TypeAdapter, ValidationError

    from lensforge.auth.service import AuthService

    try:
        TypeAdapter(EmailStr).validate_python(email)
    except ValidationError:
        fail(f"{email!r} is not a valid e-mail address")
    settings = server_settings(data_dir, needs_database=True)
    engine = create_db_engine(settings.database_url)
    try:
        migrate.upgrade(engine)
        with transaction(create_session_factory(engine)) as session:
            account = AuthService(session, settings).create_account(
                email=email,
                password=password,
                display_name=display_name,
                organization_name=organization,
            )
            org_name = account.organization.name
    except LensforgeError as exc:
        fail(exc.message)
    finally:
        engine.dispose()
    console.print(f"created admin [bold]{email.lower()}[/] of organization [bold]{org_name}[/]")
    console.print(f"database: {describe_database(settings)}", soft_wrap=True)
