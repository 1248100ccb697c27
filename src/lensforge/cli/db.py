"""`lensforge db upgrade|current`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from lensforge.cli._data_dir import describe_database, server_settings
from lensforge.cli.output import console
from lensforge.kit import migrate
from lensforge.kit.db import create_db_engine

app = typer.Typer(help="Database migrations.", no_args_is_help=True)

DataDirOption = Annotated[
    Path | None,
    typer.Option(
        help="The server's data directory (default: the running server's, or ./.lensforge "
        "found from the current directory; see docs/configuration.md)."
    ),
]


@app.command()
def upgrade(
    revision: str = typer.Argument("head", help="Target revision."),
    data_dir: DataDirOption = None,
) -> None:
    """Apply migrations up to REVISION (default: the latest). A new embedded database is created
    only where --data-dir or LENSFORGE_DATA_DIR says."""
    settings = server_settings(data_dir, needs_database=True)
    console.print(f"database: {describe_database(settings)}", soft_wrap=True)
    engine = create_db_engine(settings.database_url)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, revision)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    console.print(f"database at revision [bold]{after}[/] (was {before or 'empty'})")


@app.command()
def current(data_dir: DataDirOption = None) -> None:
    """Show the database's revision and the latest one shipped."""
    settings = server_settings(data_dir, needs_database=True)
    console.print(f"database: {describe_database(settings)}", soft_wrap=True)
    engine = create_db_engine(settings.database_url)
    try:
        console.print(f"current: {migrate.current_revision(engine) or 'empty'}")
        console.print(f"latest:  {migrate.head_revision(engine)}")
    finally:
        engine.dispose()
