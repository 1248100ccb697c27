"""`lensforge projects list|create|show|delete`."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from lensforge.cli._client import open_client, print_json, when
from lensforge.cli.output import console, fail
from lensforge.client import LensforgeClient, Project

app = typer.Typer(help="Projects of your organization.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
ProjectArgument = Annotated[str, typer.Argument(help="Project id or exact name.")]


def resolve(client: LensforgeClient, ref: str) -> Project:
    """The project with id `ref`, or else the one named `ref`."""
    try:
        project_id = uuid.UUID(ref)
    except ValueError:
        matches = [p for p in client.projects.iter() if p.name == ref]
        if not matches:
            fail(f"no project named {escape(repr(ref))}; see `lensforge projects list`")
        return matches[0]
    return client.projects.get(project_id)


@app.command("list")
def list_projects(
    limit: Annotated[int, typer.Option(min=1, max=500, help="Projects per page.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Projects to skip.")] = 0,
    all_: Annotated[bool, typer.Option("--all", help="Every project, not one page.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List the projects you can see."""
    with open_client() as client:
        if all_:
            items = list(client.projects.iter())
            total, offset = len(items), 0
        else:
            page = client.projects.list(limit=limit, offset=offset)
            items, total = page.items, page.total
    if as_json:
        print_json({"items": items, "total": total, "offset": offset})
        return
    if not items:
        console.print("no projects yet; create one with `lensforge projects create NAME`")
        return
    table = Table("ID", "Name", "Description", "Created")
    for project in items:
        description = project.description.splitlines()[0] if project.description else ""
        table.add_row(
            str(project.id), escape(project.name), escape(description), when(project.created_at)
        )
    console.print(table)
    if len(items) < total:
        console.print(
            f"showing {offset + 1}-{offset + len(items)} of {total}; use --offset or --all",
            style="dim",
        )


@app.command()
def create(
    name: Annotated[str, typer.Argument(help="Unique name within the organization.")],
    description: Annotated[str, typer.Option(help="What the project is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create a project."""
    with open_client() as client:
        project = client.projects.create(name, description=description)
    if as_json:
        print_json(project)
        return
    console.print(f"created project [bold]{escape(project.name)}[/] ({project.id})")


@app.command()
def show(project: ProjectArgument, as_json: JsonOption = False) -> None:
    """Show a project and its members."""
    with open_client() as client:
        found = resolve(client, project)
        members = client.projects.list_members(found.id)
    if as_json:
        print_json({**found.model_dump(mode="json"), "members": members})
        return
    console.print(f"[bold]{escape(found.name)}[/] ({found.id})")
    if found.description:
        console.print(found.description, markup=False, highlight=False)
    console.print(f"  created: {when(found.created_at)}   updated: {when(found.updated_at)}")
    if members:
        names = ", ".join(f"{m.display_name} <{m.email}>" for m in members)
        console.print(f"  members: {escape(names)}")


@app.command()
def delete(
    project: ProjectArgument,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a project."""
    with open_client() as client:
        found = resolve(client, project)
        if not yes:
            typer.confirm(f"Delete project {found.name!r} ({found.id})?", abort=True)
        client.projects.delete(found.id)
    console.print(f"deleted project [bold]{escape(found.name)}[/]")
