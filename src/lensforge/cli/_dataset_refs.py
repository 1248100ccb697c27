"""Turning what people type (a dataset's name, a version, `0.8,0.1,0.1`) into API values."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from lensforge.cli.output import fail
from lensforge.cli.projects import resolve as resolve_project
from lensforge.client import Dataset, LensforgeClient, NotFoundError, Project, SplitConfig

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
DatasetArgument = Annotated[str, typer.Argument(help="Dataset id or exact name.")]
ProjectOption = Annotated[
    str | None,
    typer.Option(
        "--project", "-p", help="Project id or name (to tell apart datasets of the same name)."
    ),
]
_TOLERANCE = 1e-6


def find_dataset(client: LensforgeClient, ref: str, project_ref: str | None = None) -> Dataset:
    """The dataset with id `ref`, else the one named `ref` (in `project_ref`, if given).

    Names are unique within a project only: a name found in several projects is refused with
    the candidates listed, rather than picking one.
    """
    try:
        dataset_id = uuid.UUID(ref)
    except ValueError:
        pass
    else:
        return client.datasets.get(dataset_id)
    project = resolve_project(client, project_ref) if project_ref is not None else None
    matches = [
        d for d in client.datasets.iter(project_id=project.id if project else None) if d.name == ref
    ]
    where = f" in project {project.name!r}" if project is not None else ""
    if not matches:
        fail(f"no dataset named {ref!r}{where}; see `lensforge datasets list`")
    if len(matches) > 1:
        names = project_names(client)
        listed = "; ".join(
            f"{d.id} (project {names.get(d.project_id, str(d.project_id))!r})" for d in matches
        )
        fail(
            f"{len(matches)} datasets are named {ref!r}: {listed}. "
            "Pass the dataset's id, or --project to choose"
        )
    return matches[0]


def find_in_project(client: LensforgeClient, project: Project, ref: str) -> Dataset | None:
    """The project's dataset with id or name `ref`; None when no dataset has that name (an
    unknown id is an error: it cannot name a dataset to create)."""
    try:
        dataset_id = uuid.UUID(ref)
    except ValueError:
        return next((d for d in client.datasets.iter(project_id=project.id) if d.name == ref), None)
    try:
        dataset = client.datasets.get(dataset_id)
    except NotFoundError:
        fail(f"no dataset with id {ref}; see `lensforge datasets list`")
    if dataset.project_id != project.id:
        fail(f"dataset {ref} belongs to another project than {project.name!r}")
    return dataset


def project_names(client: LensforgeClient) -> dict[uuid.UUID, str]:
    return {project.id: project.name for project in client.projects.iter()}


def version_or_latest(dataset: Dataset, number: int | None) -> int:
    """`number`, or the dataset's latest version; a dataset without versions is an error."""
    if number is not None:
        return number
    if dataset.latest_version_number < 1:
        fail(
            f"dataset {dataset.name!r} has no versions yet; import data with "
            "`lensforge datasets import`"
        )
    return dataset.latest_version_number


def parse_ratio(text: str, option: str) -> tuple[float, float, float]:
    """`train,val,test` as fractions (`0.8,0.1,0.1`) or percentages (`80,10,10`)."""
    parts = [part.strip() for part in text.split(",")]
    try:
        values = [float(part) for part in parts]
    except ValueError:
        values = []
    if len(values) != 3 or any(v < 0 for v in values):
        raise typer.BadParameter(
            f"{text!r} is not three numbers train,val,test such as 0.8,0.1,0.1",
            param_hint=option,
        )
    if abs(sum(values) - 100) < _TOLERANCE:
        values = [v / 100 for v in values]
    if abs(sum(values) - 1) > _TOLERANCE:
        raise typer.BadParameter(f"{text!r} must add up to 1 (or 100)", param_hint=option)
    if values[0] <= 0:
        raise typer.BadParameter("the train share must be more than 0", param_hint=option)
    return values[0], values[1], values[2]


def split_config(
    ratio: str | None, seed: int | None, *, stratify: bool = True, option: str = "--ratio"
) -> SplitConfig | None:
    """A ratio split config from the options, or None when neither ratio nor seed was given
    (the server then keeps the latest version's config)."""
    if ratio is None and seed is None:
        return None
    config = SplitConfig(seed=seed or 0, stratify=stratify)
    if ratio is None:
        return config  # keep source splits; the seed places items that have none
    train, val, test = parse_ratio(ratio, option)
    return SplitConfig(
        mode="ratio", train=train, val=val, test=test, seed=seed or 0, stratify=stratify
    )
