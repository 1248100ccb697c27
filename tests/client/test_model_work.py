"""Predictions and exports of a trained model through the client and the CLI, against a real
server and a real local worker running the reference trainer (its `json` export format)."""

from __future__ import annotations

import hashlib
import io
import json
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner, Result

from lensforge.cli.main import app
from lensforge.client import (
    ConflictError,
    Dataset,
    JobDetail,
    LensforgeClient,
    NotFoundError,
    ValidationError,
)
from lensforge.client.resources.exports import Exports
from lensforge.config import Settings
from lensforge.inference.render import class_colour
from tests.client.dataset_files import yolo_folder, zip_folder
from tests.client.helpers import signed_up
from tests.client.workers import local_worker
from tests.fixtures.live_server import LiveServer, serve

runner = CliRunner()
CLASSES = ["cat", "dog"]


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def usage_error(*args: str) -> str:
    """The message of a refused command line (exit 2), unwrapped from Rich's error panel."""
    output = cli(*args, code=2).output
    return " ".join(output.replace("│", " ").split())


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


@pytest.fixture
def pets(live_server: LiveServer, admin: LensforgeClient, tmp_path: Path) -> tuple[Dataset, Path]:
    """The CLI logged in as `admin`, whose project holds the detection dataset `pets`; and the
    folder of its images (a.jpg … d.jpg, 64–67 × 48 pixels)."""
    cli("login", "--url", live_server.url, "--api-key", admin.api_keys.create("cli").secret)
    project = admin.projects.create("vision")
    dataset = admin.datasets.create(project.id, "pets", "detection")
    folder = yolo_folder(tmp_path / "pets")
    archive = zip_folder(folder, tmp_path / "pets.zip")
    assert admin.datasets.import_file(dataset.id, project.id, archive, poll_interval=0.05).succeeded
    return admin.datasets.get(dataset.id), folder / "images"


def train(admin: LensforgeClient, dataset: Dataset) -> JobDetail:
    job = admin.jobs.create(
        dataset.project_id,
        dataset.id,
        "reference",
        "linear",
        name="pets-model",
        config={"basic": {"epochs": 2, "imgsz": 8}},
    )
    done = admin.jobs.wait(job.id, timeout=120, poll_interval=0.1)
    assert done.status == "completed", done.status_reason
    return done


def png_colours(data: bytes) -> tuple[tuple[int, int], set[Any]]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.mode == "RGB"
        return image.size, {colour for _, colour in image.getcolors(image.width * image.height)}


def test_predict_through_the_client_and_the_cli(
    pets: tuple[Dataset, Path], admin: LensforgeClient, live_server: LiveServer, tmp_path: Path
) -> None:
    dataset, images = pets
    a, b, c = (str(images / f"{name}.jpg") for name in "abc")
    with local_worker(live_server, tmp_path / "jobs"):
        job = train(admin, dataset)

        # what the trainers can do
        reference = admin.models.capabilities().trainer("reference")
        assert reference is not None
        assert reference.predict
        json_format, onnx = reference.export_format("json"), reference.export_format("onnx")
        assert json_format is not None
        assert json_format.available
        assert onnx is not None
        assert not onnx.available
        assert "no graph to export" in (onnx.reason or "")
        table = cli("models", "capabilities").stdout
        for expected in ("reference", "json", "onnx", "yes", "no"):
            assert expected in table
        # what the README promises: what each trainer can train, task by task, with its models
        rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in table.splitlines()]
        assert ["reference 1.0.0", "classification", "linear, centroid"] in rows, table
        assert ["", "detection", "linear, centroid"] in rows, table
        listed = cli_json("models", "capabilities")["trainers"]
        assert "reference" in [t["name"] for t in listed]

        # predict from the client: one result per image, in order
        answer = admin.inference.predict(job.id, [a, b], conf=0.1, wait=60)
        run = answer.run
        assert (run.status, run.image_count, run.result_count) == ("completed", 2, 2)
        assert (run.source, run.params.conf) == ({"checkpoint": "best"}, 0.1)
        assert [i.name for i in run.images] == ["a.jpg", "b.jpg"]
        assert answer.results is not None
        assert [(r.image, r.width, r.height, r.task) for r in answer.results] == [
            ("a.jpg", 64, 48, "detection"), ("b.jpg", 65, 48, "detection"),
        ]  # fmt: skip
        first = (answer.results[0].detections or [])[0]
        assert first.class_name == CLASSES[first.class_id]
        assert first.box == [0.0, 0.0, 64.0, 48.0]  # the reference model answers per image

        # reading the run back
        assert admin.inference.get(run.id) == run
        assert [r.id for r in admin.inference.list(job_id=job.id).items] == [run.id]
        with pytest.raises(
            ValidationError, match="exactly one of dataset_version_id and upload_id"
        ):
            admin.inference.start(job.id)
        page = admin.inference.results(run.id, limit=1, offset=1)
        assert ([r.image for r in page.items], page.total) == (["b.jpg"], 2)
        streamed = list(admin.inference.iter_results(run.id, page_size=1))
        assert streamed == answer.results
        saved = admin.inference.download_results(run.id, tmp_path)
        assert saved.name == f"inference-{run.id}.jsonl"
        lines = [json.loads(line) for line in saved.read_text().splitlines()]
        assert [line["image"] for line in lines] == ["a.jpg", "b.jpg"]
        assert admin.inference.original(run.id, 0) == Path(a).read_bytes()
        size, colours = png_colours(admin.inference.rendered(run.id, 1))
        second = (answer.results[1].detections or [])[0]
        assert size == (65, 48)
        assert class_colour(second.class_id) in colours
        with pytest.raises(NotFoundError, match=r"images 0\.\.1"):
            admin.inference.rendered(run.id, 2)

        # a batch run over the dataset version's images
        version = admin.datasets.list_versions(dataset.id)[-1]
        batch = admin.inference.start(job.id, dataset_version_id=version.id, conf=0.1)
        assert batch.status in ("queued", "preparing", "running")
        batch = admin.inference.wait(batch.id, timeout=60, poll_interval=0.1)
        assert (batch.status, batch.image_count, batch.result_count) == ("completed", 4, 4)
        batch_images = sorted(r.image for r in admin.inference.iter_results(batch.id))
        assert len(batch_images) == 4

        # predict from the CLI: a table per image, rendered images and results.json saved
        out = tmp_path / "out"
        result = cli("predict", "pets-model", a, c, "--save-dir", str(out), "--conf", "0.1")
        assert "a.jpg (64×48" in result.stdout
        assert "c.jpg (66×48" in result.stdout
        assert "0.0, 0.0, 64.0, 48.0" in result.stdout
        assert sorted(p.name for p in out.iterdir()) == ["a.png", "c.png", "results.json"]
        written = json.loads((out / "results.json").read_text())
        assert [r["image"] for r in written] == ["a.jpg", "c.jpg"]
        assert png_colours((out / "c.png").read_bytes())[0] == (66, 48)
        twice = cli_json("predict", str(job.id)[:8], b, b, "--checkpoint", "last")
        assert twice["run"]["source"] == {"checkpoint": "last"}
        assert [r["image"] for r in twice["results"]] == ["b.jpg", "b.jpg"]
        same_names = tmp_path / "same"
        cli("predict", "pets-model", b, b, "--save-dir", str(same_names))
        assert sorted(p.name for p in same_names.iterdir()) == ["b-2.png", "b.png", "results.json"]

    # mistakes are refused before anything is sent
    both = usage_error("predict", "pets-model", a, "--checkpoint", "best", "--export", "abcdef12")
    assert "either --checkpoint or --export" in both
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image")
    assert "only .jpg, .jpeg, .png, .webp" in usage_error("predict", "pets-model", str(notes))
    assert "choose best or last" in usage_error("predict", "pets-model", a, "--checkpoint", "x")
    assert "does not exist" in usage_error("predict", "pets-model", str(tmp_path / "no.jpg"))
    assert "the server takes 20" in usage_error("predict", "pets-model", *[a] * 21)
    assert "no job with id, id prefix or name 'nope'" in cli("predict", "nope", a, code=1).stderr
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a jpeg")
    refused = cli("predict", "pets-model", a, str(broken), code=1).stderr
    assert "broken.jpg" in refused, refused
    assert "error:" in refused
    # no worker any more: the run cannot finish in time, and the CLI says so
    late = cli("predict", "pets-model", a, "--wait", "1", code=1)
    assert "has not finished after" in late.stderr
    assert admin.inference.list(job_id=job.id).items[0].status == "queued"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_export_through_the_cli_and_the_client(
    pets: tuple[Dataset, Path],
    admin: LensforgeClient,
    live_server: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dataset, images = pets
    with local_worker(live_server, tmp_path / "jobs"):
        job = train(admin, dataset)
        artifact = tmp_path / "model.json"
        result = cli("export", "pets-model", "--format", "json", "-o", str(artifact))
        # the size it was exported at, which the trainer reports (none was asked for)
        assert "image size: 8×8 px" in result.stdout, result.stdout
        for expected in (
            "verification passed", "max abs diff", "detection agreement", "100.0%",
            "latency pytorch", "latency exported", "lensforge reference (pure Python)",
        ):  # fmt: skip
            assert expected in result.stdout, result.stdout
        assert "sha256 checked" in result.stderr

        [export] = admin.exports.list(job_id=job.id).items
        assert (export.status, export.format, export.checkpoint) == ("completed", "json", "best")
        assert export.options["imgsz"] == 8
        assert export.verification is not None
        assert export.verification.passed
        assert export.verification.latency_ms["exported"].median is not None
        assert (sha256(artifact), artifact.stat().st_size) == (export.sha256, export.size)
        assert admin.exports.wait(export.id, timeout=5) == export

        # list, show, download
        assert [e["id"] for e in cli_json("exports", "list", "--job", "pets-model")["items"]] == [
            str(export.id)
        ]
        table = cli("exports", "list").stdout
        for expected in (str(export.id)[:8], "pets-model", "(best)", "json", "completed"):
            assert expected in table
        shown = cli("exports", "show", str(export.id)[:8]).stdout
        assert "verification passed" in shown
        assert export.sha256 is not None
        assert export.sha256 in shown
        assert cli_json("exports", "show", str(export.id))["verification"]["passed"] is True
        folder = tmp_path / "downloads"
        folder.mkdir()
        cli("exports", "download", str(export.id)[:8], "-o", str(folder))
        [downloaded] = folder.iterdir()
        assert (downloaded.name, sha256(downloaded)) == ("model.json", export.sha256)

        # the export's model predicts like the checkpoint
        answer = cli_json(
            "predict", "pets-model", str(images / "a.jpg"), "--export", str(export.id)[:8]
        )
        assert answer["run"]["source"] == {"export_id": str(export.id)}
        assert answer["results"][0]["detections"][0]["box"] == [0.0, 0.0, 64.0, 48.0]

        # refused: a format the trainer lacks, options it does not take
        refused = cli("export", "pets-model", "--format", "onnx", code=2)
        assert "cannot export to onnx" in refused.stderr
        assert "no graph to export" in " ".join(refused.stderr.replace("│", " ").split())
        options = cli("export", "pets-model", "--format", "json", "--opset", "12", code=2)
        assert "the export options are not valid" in options.stderr
        assert "'opset' was unexpected" in options.stderr

        # a format's own options
        pretty = tmp_path / "pretty.json"
        cli("export", "pets-model", "--format", "json", "--option", "indent=2", "-o", str(pretty))
        assert pretty.read_text().startswith('{\n  "')
        assert "--option" in usage_error(
            "export", "pets-model", "--format", "json", "--option", "x"
        )

    # no worker from here on: an export that waits in the queue
    queued = cli_json("export", "pets-model", "--format", "json", "--no-wait")
    assert queued["status"] == "queued"
    with pytest.raises(ConflictError) as caught:
        admin.exports.link(queued["id"])
    assert caught.value.code == "export_not_ready"
    blocked = cli("exports", "download", queued["id"], "-o", str(tmp_path / "x.json"), code=1)
    assert "only a completed, verified export can be downloaded" in blocked.stderr
    assert not (tmp_path / "x.json").exists()
    assert "queued" in cli("exports", "show", queued["id"]).stdout
    assert "created export" in cli("export", "pets-model", "--format", "json", "--no-wait").stdout

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the export is followed

    with monkeypatch.context() as patched:
        patched.setattr(Exports, "wait", interrupted)
        assert "goes on" in cli("export", "pets-model", "--format", "json", code=130).stderr

    admin.jobs.cancel(queued["job_id"])
    cancelled = cli("exports", "show", queued["id"][:8], code=1)
    assert "cancelled" in cancelled.stdout, cancelled.stderr
    assert len(admin.exports.list(job_id=job.id).items) == 5
    assert (
        "no export whose id starts with 'abcdef12'"
        in cli("exports", "show", "abcdef12", code=1).stderr
    )


def test_predict_sends_the_images_whole_again_after_a_token_refresh(
    settings: Settings, tmp_path: Path
) -> None:
    security = settings.security.model_copy(update={"access_token_ttl_seconds": 1})
    short_lived = settings.model_copy(update={"security": security})
    with serve(short_lived) as server, signed_up(server.url) as client:
        project = client.projects.create("vision")
        dataset = client.datasets.create(project.id, "pets", "detection")
        folder = yolo_folder(tmp_path / "pets")
        archive = zip_folder(folder, tmp_path / "pets.zip")
        assert client.datasets.import_file(dataset.id, project.id, archive).succeeded
        images = [folder / "images" / "a.jpg", folder / "images" / "d.jpg"]
        with local_worker(server, tmp_path / "jobs"):
            job = train(client, client.datasets.get(dataset.id))
            before = client.tokens
            time.sleep(1.5)  # the access token expires: the upload is refused once, then resent
            answer = client.inference.predict(job.id, images)
        assert client.tokens != before
        assert [(i.name, i.sha256) for i in answer.run.images] == [
            (path.name, sha256(path)) for path in images
        ]
        assert [r.image for r in answer.results or []] == ["a.jpg", "d.jpg"]
