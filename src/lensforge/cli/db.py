"""`lensforge db upgrade|current`."""

from __future__ import annotations

import typer

from lensforge.cli.output import console
from lensforge.config import Settings
from lensforge.kit import migrate
from lensforge.kit.db import create_db_engine

app = typer.Typer(help="Database migrations.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: the latest)."""
    settings = Settings()
    engine = create_db_engine(settings.database_url)
    try:
        before = migrate.current_revision(engine)
        migrate.upgrade(engine, revision)
        after = migrate.current_revision(engine)
    finally:
        engine.dispose()
    console.print(f"database at revision [bold]{after}[/] (was {before or 'empty'})")


@app.command()
def current() -> None:
    """Show the database's revision and the latest one shipped."""
    settings = Settings()
    engine = create_db_engine(settings.database_url)
    try:
        console.print(f"current: {migrate.current_revision(engine) or 'empty'}")
        console.print(f"latest:  {migrate.head_revision(engine)}")
    finally:
        engine.dispose()
