"""The `lensforge` command tree, loaded one command at a time.

Importing every command module up front cost 2–3 s on each run (the server's FastAPI,
SQLAlchemy and Alembic, the client's pydantic models, httpx), even for `--version`. Here the
root group knows each command by name, module and one-line help only: `lensforge --help` lists
them from that table, and a command's module is imported when that command is run (or its own
`--help` is shown). `tests/client/test_cli_startup.py` checks the table against the modules.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

import typer
import typer.main
from typer.core import TyperCommand, TyperGroup


@dataclass(frozen=True)
class LazyCommand:
    """`module:attribute` holds a Typer app (a command group) or a command function; `help` is
    the line `lensforge --help` shows; `help_attribute` names the module's full help text of a
    function command, when it has one (else its docstring is used)."""

    module: str
    attribute: str
    help: str
    help_attribute: str | None = None


COMMANDS: dict[str, LazyCommand] = {
    "server": LazyCommand(
        "lensforge.cli.server", "server", "Run the API server only (workers run elsewhere)."
    ),
    "up": LazyCommand(
        "lensforge.cli.server",
        "up",
        "Run the server, a worker and serving: all one machine needs.",
    ),
    "serve": LazyCommand(
        "lensforge.cli.serve",
        "serve",
        "Run the serving process only: deployments answer predictions.",
    ),
    "login": LazyCommand("lensforge.cli.auth", "login", "Log in and remember the credentials."),
    "logout": LazyCommand(
        "lensforge.cli.auth", "logout", "Log out and forget the stored credentials."
    ),
    "whoami": LazyCommand(
        "lensforge.cli.auth", "whoami", "Show who you are logged in as, where, with which role."
    ),
    "train": LazyCommand(
        "lensforge.cli.train",
        "train",
        "Train a model on a dataset version.",
        help_attribute="TRAIN_HELP",
    ),
    "openapi": LazyCommand(
        "lensforge.cli.openapi", "openapi", "Print the OpenAPI document of the HTTP API."
    ),
    "worker": LazyCommand(
        "lensforge.cli.worker", "worker", "Run a worker that claims and runs queued jobs."
    ),
    "predict": LazyCommand(
        "lensforge.cli.predict",
        "predict",
        "Run a trained model on images and show what it finds.",
        help_attribute="PREDICT_HELP",
    ),
    "export": LazyCommand(
        "lensforge.cli.exports",
        "export",
        "Export a trained model (ONNX, ...), verified before download.",
        help_attribute="EXPORT_HELP",
    ),
    "deploy": LazyCommand(
        "lensforge.cli.deployments",
        "deploy",
        "Serve a trained model as a live prediction endpoint.",
        help_attribute="DEPLOY_HELP",
    ),
    "infer": LazyCommand(
        "lensforge.cli.deployments",
        "infer",
        "Send images to a deployment and show what it finds.",
        help_attribute="INFER_HELP",
    ),
    "db": LazyCommand("lensforge.cli.db", "app", "Database migrations."),
    "users": LazyCommand("lensforge.cli.users", "app", "User accounts."),
    "projects": LazyCommand("lensforge.cli.projects", "app", "Projects of your organization."),
    "api-keys": LazyCommand("lensforge.cli.api_keys", "app", "API keys for scripts and CI."),
    "datasets": LazyCommand(
        "lensforge.cli.datasets", "app", "Datasets: imports, versions, splits, stats and exports."
    ),
    "trainers": LazyCommand(
        "lensforge.cli.trainers", "app", "Trainers: what they train, their config, their envs."
    ),
    "jobs": LazyCommand(
        "lensforge.cli.jobs", "app", "Training jobs: status, logs, metrics, cancel and restart."
    ),
    "exports": LazyCommand(
        "lensforge.cli.exports", "app", "Exported models: list, show, download."
    ),
    "deployments": LazyCommand(
        "lensforge.cli.deployments",
        "app",
        "Deployments: versions, keys, usage, rollback.",
    ),
    "models": LazyCommand(
        "lensforge.cli.models", "app", "What trained models can do: predict, export formats."
    ),
}


def load(name: str) -> Any:
    """The click command of `name`, its module imported now."""
    spec = COMMANDS[name]
    module = importlib.import_module(spec.module)
    target = getattr(module, spec.attribute)
    command: Any
    if isinstance(target, typer.Typer):
        command = typer.main.get_group(target)
    else:
        # A Typer app with one command and no callback converts to that command itself; the
        # completion options belong to the root only.
        single = typer.Typer(add_completion=False)
        help_text = getattr(module, spec.help_attribute) if spec.help_attribute else None
        single.command(name, help=help_text)(target)
        command = typer.main.get_command(single)
    command.name = name
    return command


class LazyGroup(TyperGroup):
    """The root group: placeholders (name and help line only) until a command is resolved."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        for name, spec in COMMANDS.items():
            self.commands.setdefault(name, _Placeholder(name=name, help=spec.help))
        self._listing = False

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = self.commands.get(cmd_name)
        if isinstance(command, _Placeholder) and not self._listing:
            command = self.commands[cmd_name] = load(cmd_name)
        return command

    def format_help(self, ctx: Any, formatter: Any) -> None:
        # Listing the commands needs their help lines, not their modules.
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False


class _Placeholder(TyperCommand):
    """A command not loaded yet; stands in only while the root's help is formatted."""
