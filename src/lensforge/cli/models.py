"""`lensforge models capabilities`: what each trainer can do with the models it trains."""

from __future__ import annotations

from typing import Annotated

import typer

from lensforge.cli._client import open_client, print_json
from lensforge.cli._model_work_render import capabilities_table
from lensforge.cli.output import console

app = typer.Typer(help="What trained models can do: predict, export formats.", no_args_is_help=True)


@app.command()
def capabilities(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")] = False,
) -> None:
    """Trainers × export formats: which are available, and why not where they are not."""
    with open_client() as client:
        found = client.models.capabilities()
    if as_json:
        print_json(found)
        return
    if not found.trainers:
        console.print("no trainers registered; see `lensforge trainers list`")
        return
    console.print(capabilities_table(found))
