"""`lensforge datasets import`: a local archive or folder (zipped first) uploaded resumably, or a
folder on the server, imported into a new version, with progress and the validation report."""

from __future__ import annotations

import hashlib
import json
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from platformdirs import user_cache_dir
from rich.markup import escape

from lensforge.cli import projects
from lensforge.cli._client import open_client, print_json
from lensforge.cli._dataset_refs import JsonOption, find_in_project, split_config
from lensforge.cli._dataset_render import (
    ImportProgressBar,
    print_import,
    resumable_upload,
    transfer_progress,
)
from lensforge.cli.output import EXIT_INTERRUPTED, err_console, fail
from lensforge.client import (
    Dataset,
    DatasetImport,
    FolderSource,
    ImportSource,
    LensforgeClient,
    Project,
    UploadSource,
)

TASKS = ("detection", "segmentation", "classification", "pose")
FORMATS = ("yolo", "coco", "voc", "imagefolder", "native")
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
# Already-compressed files are stored as they are: deflating them costs time and saves nothing.
_STORED = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".zip", ".gz"})
_CHUNK = 1024 * 1024
# One string per paragraph: Typer keeps a docstring's line breaks, which wrap badly.
IMPORT_HELP = (
    "Import data into a new version of a dataset.\n\n"
    "A folder is zipped to a temporary file first (with its own progress bar), then uploaded. "
    "Uploads are resumable: after an interruption, run the same command again and only what "
    "the server is missing is sent.\n\n"
    "Prints the validation report (each issue with its file and line) and the new version; "
    "exits with 1 when the import fails."
)


def import_dataset(
    path: Annotated[
        str,
        typer.Argument(
            help="An archive (zip, tar, tar.gz, ...) or a folder; a folder is zipped to a "
            "temporary file first. With --server-folder: a folder on the server."
        ),
    ],
    project: Annotated[str, typer.Option("--project", "-p", help="Project id or name.")],
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset id or name in the project (default: the file's name)."),
    ] = None,
    create: Annotated[
        bool, typer.Option("--create", help="Create the dataset if it does not exist.")
    ] = False,
    task: Annotated[
        str | None,
        typer.Option(help=f"Task of a dataset made by --create: {', '.join(TASKS)}."),
    ] = None,
    format: Annotated[
        str | None,
        typer.Option(help=f"Format of the data: {', '.join(FORMATS)} (default: detected)."),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option(
            "--merge", help="Add to the latest version's images instead of replacing them."
        ),
    ] = False,
    split_ratio: Annotated[
        str | None,
        typer.Option(
            help="Assign train,val,test by ratio, e.g. 0.8,0.1,0.1 (default: keep "
            "the data's own splits, or the latest version's config)."
        ),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split assignment.")] = None,
    message: Annotated[str, typer.Option(help="A note kept with the new version.")] = "",
    server_folder: Annotated[
        bool,
        typer.Option(
            "--server-folder",
            help="PATH is a folder on the server (inside its allowed import roots); nothing "
            "is uploaded.",
        ),
    ] = False,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Start the import and return at once.")
    ] = False,
    skip_invalid_images: Annotated[
        bool,
        typer.Option(
            "--skip-invalid-images",
            help="Leave out images that cannot be decoded (or are too large), with their "
            "annotations, each listed in the report, instead of failing the import.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import data into a new version of a dataset (see `IMPORT_HELP`)."""
    if task is not None and task not in TASKS:
        raise typer.BadParameter(f"choose one of {', '.join(TASKS)}", param_hint="--task")
    if format is not None and format not in FORMATS:
        raise typer.BadParameter(f"choose one of {', '.join(FORMATS)}", param_hint="--format")
    split = split_config(split_ratio, seed, option="--split-ratio")
    local = Path(path).expanduser()
    if not server_folder and not local.exists():
        fail(f"{path} does not exist")
    with open_client() as client:
        default = _default_name(path if server_folder else local.resolve().name)
        target = _target_dataset(client, project, dataset or default, create, task)
        source: ImportSource
        if server_folder:
            source = FolderSource(path=path)
        else:
            source = UploadSource(upload_id=_upload(client, target.project_id, local))
        record = client.datasets.start_import(
            target.id,
            source,
            format=format,
            mode="merge" if merge else "replace",
            split=split,
            message=message,
            skip_invalid_images=skip_invalid_images,
        )
        if not no_wait:
            record = _wait(client, record)
        version = (
            client.datasets.get_version(record.dataset_id, record.version_number)
            if record.succeeded and record.version_number is not None
            else None
        )
    if as_json:
        print_json({"import": record, "version": version})
    else:
        print_import(record, version)
    if record.status == "failed":
        raise typer.Exit(1)


def _default_name(path: str) -> str:
    name = Path(path.rstrip("/\\")).name
    for suffix in ARCHIVE_SUFFIXES:
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name or "dataset"


def _target_dataset(
    client: LensforgeClient, project_ref: str, ref: str, create: bool, task: str | None
) -> Dataset:
    project: Project = projects.resolve(client, project_ref)
    found = find_in_project(client, project, ref)
    if found is not None:
        if task is not None and found.task != task:
            fail(f"dataset {found.name!r} is for {found.task}, not {task}")
        return found
    if not create:
        fail(
            f"no dataset {ref!r} in project {project.name!r}; add --create --task TASK to create it"
        )
    if task is None:
        fail(f"--create needs --task ({', '.join(TASKS)}) to create dataset {ref!r}")
    created = client.datasets.create(project.id, ref, task)
    err_console.print(f"created dataset [bold]{escape(created.name)}[/] ({created.id})")
    return created


def _upload(client: LensforgeClient, project_id: uuid.UUID, local: Path) -> str:
    """Upload the archive (a folder is zipped first) and return the completed upload's id."""
    archive = stage_folder(local) if local.is_dir() else local
    upload = resumable_upload(
        local.resolve().name,
        lambda advance: client.uploads.upload_file(project_id, archive, on_progress=advance),
    )
    if archive != local:
        archive.unlink(missing_ok=True)  # uploaded: the staged zip is no longer needed
    return str(upload.id)


def _wait(client: LensforgeClient, record: DatasetImport) -> DatasetImport:
    try:
        with ImportProgressBar() as bar:
            return client.datasets.wait_import(record.id, on_progress=bar)
    except KeyboardInterrupt:
        err_console.print(
            f"stopped waiting; the import goes on on the server: follow it with "
            f"`lensforge datasets report {record.id}`"
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None


# --- folders -----------------------------------------------------------------------------------


def staging_dir() -> Path:
    return Path(user_cache_dir("lensforge")) / "staging"


def stage_folder(folder: Path) -> Path:
    """The folder zipped into the staging directory, with a progress bar.

    The zip's name is derived from the folder's path and the names, sizes and modification
    times of its files, and an existing one is reused as is: an interrupted upload of an
    unchanged folder then finds the very same file (same size and mtime) and resumes.
    """
    folder = folder.resolve()
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    if not files:
        fail(f"{folder} holds no files")
    listing = [
        (p.relative_to(folder).as_posix(), p.stat().st_size, p.stat().st_mtime_ns) for p in files
    ]
    place = hashlib.sha256(str(folder).encode()).hexdigest()[:16]
    content = hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]
    staging = staging_dir()
    staging.mkdir(parents=True, exist_ok=True)
    target = staging / f"{place}-{content}.zip"
    if target.exists():
        return target
    for stale in staging.glob(f"{place}-*.zip"):
        stale.unlink(missing_ok=True)  # an earlier state of this folder: it can never resume
    total = sum(size for _, size, _ in listing)
    with transfer_progress() as progress:
        task = progress.add_task(f"zip {folder.name}", total=total)
        _write_zip(folder, files, target, lambda n: progress.advance(task, n))
    return target


def _write_zip(
    folder: Path, files: list[Path], target: Path, advance: Callable[[int], None]
) -> None:
    """Stream the files into `target` through a temporary name (never half a zip in place)."""
    partial = target.with_suffix(".part")
    try:
        with zipfile.ZipFile(partial, "w", allowZip64=True) as archive:
            for path in files:
                info = zipfile.ZipInfo.from_file(path, path.relative_to(folder).as_posix())
                stored = path.suffix.lower() in _STORED
                info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
                with path.open("rb") as source, archive.open(info, "w") as sink:
                    while chunk := source.read(_CHUNK):
                        sink.write(chunk)
                        advance(len(chunk))
        partial.replace(target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
