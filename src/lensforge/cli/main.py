"""Entry point of the `lensforge` command."""

from __future__ import annotations

from typing import Annotated

import typer

from lensforge import __version__
from lensforge.cli import api_keys, auth, db, openapi, projects, server, users
from lensforge.cli import datasets as datasets_cli
from lensforge.cli import jobs as jobs_cli
from lensforge.cli import train as train_cli
from lensforge.cli import trainers as trainers_cli
from lensforge.cli import worker as worker_cli

app = typer.Typer(
    name="lensforge",
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


app.command()(server.server)
app.command()(server.up)
app.add_typer(db.app, name="db")
app.add_typer(users.app, name="users")
app.command()(auth.login)
app.command()(auth.logout)
app.command()(auth.whoami)
app.add_typer(projects.app, name="projects")
app.add_typer(api_keys.app, name="api-keys")
app.add_typer(datasets_cli.app, name="datasets")
app.add_typer(trainers_cli.app, name="trainers")
app.command("train", help=train_cli.TRAIN_HELP)(train_cli.train)
app.add_typer(jobs_cli.app, name="jobs")
app.command()(openapi.openapi)
app.command()(worker_cli.worker)

# Model work: predictions and exports of trained models (docs/inference-and-export.md).
from lensforge.cli import exports as exports_cli  # noqa: E402
from lensforge.cli import models as models_cli  # noqa: E402
from lensforge.cli import predict as predict_cli  # noqa: E402

app.command("predict", help=predict_cli.PREDICT_HELP)(predict_cli.predict)
app.command("export", help=exports_cli.EXPORT_HELP)(exports_cli.export)
app.add_typer(exports_cli.app, name="exports")
app.add_typer(models_cli.app, name="models")
