"""`lensforge trainers list|show|install`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Column, Table

from lensforge.cli._client import open_client, print_json
from lensforge.cli.output import console, fail
from lensforge.client import Trainer, TrainerManifest

app = typer.Typer(
    help="Trainers: what they train, their config, their environments.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
NameArgument = Annotated[str, typer.Argument(help="Trainer name, e.g. reference.")]
_RANGE_KEYS = (
    ("minimum", "≥"),
    ("exclusiveMinimum", ">"),
    ("maximum", "≤"),
    ("exclusiveMaximum", "<"),
    ("minLength", "length ≥"),
    ("maxLength", "length ≤"),
)


@app.command("list")
def list_trainers(as_json: JsonOption = False) -> None:
    """List the trainers the server knows."""
    with open_client() as client:
        trainers = client.trainers.list()
    if as_json:
        print_json(trainers)
        return
    if not trainers:
        console.print("no trainers registered on the server")
        return
    table = Table(
        Column("Name", no_wrap=True),
        Column("Version", no_wrap=True),
        Column("Tasks", overflow="fold"),
        Column("Models", overflow="fold"),
        Column("Source", overflow="fold"),
    )
    for trainer in trainers:
        manifest = trainer.manifest
        table.add_row(
            escape(manifest.name),
            escape(manifest.version),
            escape(", ".join(manifest.tasks)),
            escape(", ".join(m.name for m in manifest.models)),
            escape(trainer.source),
        )
    console.print(table)


@app.command()
def show(name: NameArgument, as_json: JsonOption = False) -> None:
    """Show a trainer: tasks, models, capabilities, requirements and its config fields."""
    with open_client() as client:
        trainer = client.trainers.get(name)
    if as_json:
        print_json(trainer)
        return
    print_trainer(trainer)


@app.command()
def install(
    name: NameArgument,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="The server's data directory (default: the running server's, or ./.lensforge "
            "found from the current directory; see docs/configuration.md)."
        ),
    ] = None,
) -> None:
    """Build a trainer's Python environment now (on the server machine, like `lensforge db
    upgrade`), instead of at its first job, where the server's workers will find it; prints
    the installer's output."""
    from lensforge.cli._data_dir import server_settings
    from lensforge.errors import NotFound
    from lensforge.trainers.environments import (
        EnvironmentBuildFailed,
        EnvironmentManager,
        envs_dir,
    )
    from lensforge.trainers.registry import load_registry

    settings = server_settings(data_dir, needs_database=True)
    try:
        trainer = load_registry(settings.trainers.plugin_dirs).get(name)
    except NotFound as exc:
        fail(f"{exc}; see `lensforge trainers list`")
    manifest = trainer.manifest
    if settings.trainers.environment == "current":
        needs = ", ".join(manifest.requirements) or "nothing beyond Lensforge"
        console.print(
            f"trainers run with this interpreter (LENSFORGE_TRAINERS__ENVIRONMENT=current): "
            f"nothing needs installing. {escape(manifest.name)} needs: {escape(needs)}"
        )
        return
    console.print(
        f"environments of {escape(str(settings.data_dir))} ({escape(str(envs_dir(settings)))}); "
        "a trainer with PyTorch downloads a few GB once (ultralytics: about 3 GB, 6 GB on disk; "
        "LENSFORGE_TRAINERS__EXTRA_INDEX_URLS can point at PyTorch's smaller CPU-only wheels, "
        "see docs/trainers/ultralytics.md)",
        soft_wrap=True,
    )
    try:
        python = EnvironmentManager(settings).python_for(
            manifest, lambda line: console.print(line, markup=False, highlight=False)
        )
    except EnvironmentBuildFailed as exc:
        fail(exc.message)
    console.print(
        f"[green]ready:[/] {escape(manifest.name)} runs with {escape(str(python))}", soft_wrap=True
    )


# --- rendering ---------------------------------------------------------------------------------


def print_trainer(trainer: Trainer) -> None:
    manifest = trainer.manifest
    console.print(f"[bold]{escape(manifest.name)}[/] {escape(manifest.version)}")
    if manifest.description:
        console.print(manifest.description, markup=False, highlight=False)
    caps = manifest.capabilities
    console.print(f"  source: {escape(trainer.source)}")
    console.print(f"  tasks: {escape(', '.join(manifest.tasks))}")
    console.print(
        f"  capabilities: resume {'yes' if caps.resume else 'no'}, "
        f"predict {'yes' if caps.predict else 'no'}, "
        f"export {escape(', '.join(caps.export_formats) or '-')}"
    )
    console.print(f"  requirements: {escape(', '.join(manifest.requirements) or '-')}")
    models = Table(
        "Model", "Tasks", Column("Description", overflow="fold", ratio=1), title="Models"
    )
    for model in manifest.models:
        models.add_row(
            escape(model.name), escape(", ".join(model.tasks)), escape(model.description)
        )
    console.print(models)
    console.print(config_table(manifest))


def config_table(manifest: TrainerManifest) -> Table:
    """Every config field (`--set SECTION.NAME=VALUE`) with its type, default and limits."""
    table = Table(
        Column("Field", no_wrap=True),
        Column("Type", no_wrap=True),
        Column("Default", overflow="fold"),
        Column("Range/Enum", overflow="fold"),
        Column("Description", overflow="fold", ratio=1),
        title="Config (--set FIELD=VALUE)",
    )
    for section in ("basic", "advanced"):
        schema = manifest.config_schema.section(section)
        for field, prop, required in schema_fields(schema, section):
            table.add_row(
                escape(field) + (" [red]*[/]" if required else ""),
                escape(type_name(prop)),
                escape(_json(prop["default"])) if "default" in prop else "-",
                escape(limits(prop)),
                escape(describe(prop)),
            )
    return table


def schema_fields(schema: dict[str, Any], prefix: str) -> list[tuple[str, dict[str, Any], bool]]:
    """(dotted name, property schema, required) for each property; objects with their own
    properties are listed field by field."""
    required = set(schema.get("required", []))
    fields: list[tuple[str, dict[str, Any], bool]] = []
    for name, prop in schema.get("properties", {}).items():
        if not isinstance(prop, dict):
            continue
        dotted = f"{prefix}.{name}"
        if prop.get("type") == "object" and prop.get("properties"):
            fields += schema_fields(prop, dotted)
        else:
            fields.append((dotted, prop, name in required))
    return fields


def type_name(prop: dict[str, Any]) -> str:
    kind = prop.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(prop.get("items"), dict):
        return f"array of {type_name(prop['items'])}"
    if kind is None and "enum" in prop:
        return "enum"
    return str(kind or "any")


def limits(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " | ".join(_json(value) for value in prop["enum"])
    return ", ".join(f"{sign} {_json(prop[key])}" for key, sign in _RANGE_KEYS if key in prop)


def describe(prop: dict[str, Any]) -> str:
    title, text = str(prop.get("title", "")), str(prop.get("description", ""))
    return f"{title}: {text}" if title and text else title or text


def _json(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)
