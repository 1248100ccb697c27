"""The `lensforge` command starts without importing what it does not need: `--version` and
`--help` load no command module, and a client command never the server (timings are measured
by benchmarks/cli_startup.py, never asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from lensforge.cli import _lazy
from lensforge.cli.main import app

HEAVY = ("fastapi", "sqlalchemy", "alembic", "uvicorn", "lensforge.app", "lensforge.config")

_PROBE = """
import json, sys
sys.argv = ["lensforge", *json.loads(sys.argv[1])]
from lensforge.cli.main import run
try:
    run()
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def imported_by(*args: str) -> set[str]:
    """The modules a real `lensforge ARGS` process has imported when it ends."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(args))],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stderr.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_no_command_module(args: list[str]) -> None:
    modules = imported_by(*args)
    assert not [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY]
    assert not [m for m in modules if m.startswith("lensforge.client")]
    commands = {spec.module for spec in _lazy.COMMANDS.values()}
    assert not commands & modules


def test_a_client_command_imports_only_what_it_uses() -> None:
    modules = imported_by("projects", "--help")
    assert "lensforge.cli.projects" in modules
    assert not [m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY]
    # The client's other groups of calls, and httpx's own command line, stay out.
    unused = ("lensforge.client.job_models", "lensforge.client.dataset_models", "websockets")
    assert not [m for m in modules if m.startswith(unused)]
    assert not [m for m in modules if m.split(".")[0] == "click"]  # httpx._main


def test_the_command_table_matches_the_modules() -> None:
    """Every name loads to a command of that name with its own help; the root's help lists
    each with the table's line."""
    for name in _lazy.COMMANDS:
        command = _lazy.load(name)
        assert command.name == name
        assert command.help, name
    listing = CliRunner().invoke(app, ["--help"]).output
    for name, spec in _lazy.COMMANDS.items():
        assert f"{name} " in listing
        assert spec.help in " ".join(listing.split()), name


def test_every_name_of_the_client_package_resolves() -> None:
    """`lensforge.client` imports its names on first use: each listed one must be in the table
    (a name added to `__all__` only, or to the table only, fails here) and import."""
    import lensforge.client as package

    assert set(package.__all__) == set(package._EXPORTS)
    for name in package.__all__:
        assert getattr(package, name) is not None
