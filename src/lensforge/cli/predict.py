"""`lensforge predict`: run a trained model (or one of its exports) on a few images and show,
or save, what it found."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from lensforge.cli._client import open_client, print_json
from lensforge.cli._job_refs import JobArgument, find_job
from lensforge.cli._job_render import status
from lensforge.cli._model_work_refs import CheckpointOption, find_export, model_source
from lensforge.cli._model_work_render import result_table
from lensforge.cli.output import EXIT_INTERRUPTED, console, err_console, fail
from lensforge.client import ImageResult, InferenceRun, LensforgeClient

MAX_IMAGES = 20
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
PREDICT_HELP = (
    "Run a training job's model (its best or last checkpoint, or one of its exports) on "
    "images and show what it found in each: class, score and box.\n\n"
    "With --save-dir, each image is saved with the predictions drawn (<image>.png) next to "
    "results.json. Exits with 1 when the run fails; Ctrl-C stops waiting (exit 130)."
)


def predict(
    job: JobArgument,
    images: Annotated[
        list[Path],
        typer.Argument(
            help=f"Images (jpg, png, webp; up to {MAX_IMAGES}).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ],
    checkpoint: CheckpointOption = None,
    export: Annotated[
        str | None,
        typer.Option(
            "--export", help="Run this export of the job's model instead (id or id prefix)."
        ),
    ] = None,
    conf: Annotated[float, typer.Option(min=0.0, max=1.0, help="Confidence threshold.")] = 0.25,
    iou: Annotated[float, typer.Option(min=0.0, max=1.0, help="NMS IoU threshold.")] = 0.7,
    save_dir: Annotated[
        Path | None,
        typer.Option(
            file_okay=False,
            help="Write <image>.png with the predictions drawn, and results.json, here.",
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(min=1, help="Seconds to wait for the results before giving up."),
    ] = 300,
    as_json: Annotated[bool, typer.Option("--json", help="Print the run and results.")] = False,
) -> None:
    """Run a model on images (see `PREDICT_HELP`)."""
    if len(images) > MAX_IMAGES:
        raise typer.BadParameter(
            f"{len(images)} images given; the server takes {MAX_IMAGES} at a time",
            param_hint="IMAGES",
        )
    unsupported = [path.name for path in images if path.suffix.lower() not in IMAGE_SUFFIXES]
    if unsupported:
        raise typer.BadParameter(
            f"{', '.join(unsupported)}: only {', '.join(IMAGE_SUFFIXES)} images are accepted",
            param_hint="IMAGES",
        )
    model_source(checkpoint, export)  # refuses both at once before anything is sent
    with open_client() as client:
        found = find_job(client, job)
        export_id = find_export(client, export, found.id).id if export is not None else None
        run, results = _run(client, found.id, images, checkpoint, export_id, conf, iou, wait)
        if run.succeeded and save_dir is not None:
            _save(client, run, results, save_dir)
    if as_json:
        print_json({"run": run, "results": results if run.succeeded else None})
    if not run.succeeded:
        fail(f"the inference run {run.id} {run.status}: {run.status_reason or 'no reason given'}")
    if as_json:
        return
    for result in results:
        console.print(result_table(result))
    if save_dir is not None:
        console.print(
            f"saved {len(results)} rendered image(s) and results.json to {escape(str(save_dir))}"
        )


def _run(
    client: LensforgeClient,
    job_id: uuid.UUID,
    images: list[Path],
    checkpoint: str | None,
    export_id: uuid.UUID | None,
    conf: float,
    iou: float,
    wait: float,
) -> tuple[InferenceRun, list[ImageResult]]:
    """Send the images and wait for the run; the server holds the request for the first
    minute, then the run is polled, with its status on screen."""
    first_wait = min(wait, 60.0)
    try:
        with err_console.status(f"running the model on {len(images)} image(s)…") as spinner:
            answer = client.inference.predict(
                job_id,
                images,
                checkpoint=checkpoint if export_id is None else None,
                export_id=export_id,
                conf=conf,
                iou=iou,
                wait=first_wait,
            )
            run = answer.run
            if answer.results is not None:
                return run, answer.results
            if not run.finished:
                run = client.inference.wait(
                    run.id,
                    timeout=max(1.0, wait - first_wait),
                    poll_interval=1.0,
                    on_update=lambda r: spinner.update(f"inference run {r.id}: {status(r.status)}"),
                )
    except KeyboardInterrupt:
        err_console.print("stopped waiting; the inference run goes on on the server")
        raise typer.Exit(EXIT_INTERRUPTED) from None
    results = list(client.inference.iter_results(run.id)) if run.succeeded else []
    return run, results


def _save(
    client: LensforgeClient, run: InferenceRun, results: list[ImageResult], folder: Path
) -> None:
    """`<image stem>.png` per image (a number added when two stems clash) and results.json."""
    folder.mkdir(parents=True, exist_ok=True)
    used: set[str] = set()
    for index, result in enumerate(results):
        stem = Path(result.image).stem or f"image-{index}"
        name, count = stem, 1
        while name in used:
            count += 1
            name = f"{stem}-{count}"
        used.add(name)
        (folder / f"{name}.png").write_bytes(client.inference.rendered(run.id, index))
    dumped = [result.model_dump(mode="json", exclude_none=True) for result in results]
    (folder / "results.json").write_text(json.dumps(dumped, indent=2) + "\n")
