"""`client.deployments.infer` and `lensforge infer` against a real serving process (the serve
app on its own port, beside the API server, sharing the database and storage): results per
image, the drawn images saved, the raw JSON, and the serving process's refusals as the client's
exceptions."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner, Result

from lensforge.cli.deployments import usage_snippets
from lensforge.cli.main import app
from lensforge.client import (
    APIError,
    ConflictError,
    LensforgeClient,
    NotFoundError,
    UsageRow,
)
from lensforge.config import Settings
from lensforge.serve.app import create_serve_app
from tests.client.deployment_setup import verified_onnx_export
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer, ThreadedServer, serve

runner = CliRunner()


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


@dataclass(frozen=True)
class Servers:
    api: LiveServer
    serving_url: str


@pytest.fixture
def servers(settings: Settings) -> Iterator[Servers]:
    """The API server, told the serving process's public URL, and the serving process."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    serving_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    serving = settings.serving.model_copy(
        update={"public_url": serving_url, "refresh_interval_seconds": 0.1}
    )
    settings = settings.model_copy(update={"serving": serving})
    with serve(settings) as api:
        running = ThreadedServer.start(create_serve_app(api.settings), sock)
        try:
            yield Servers(api, serving_url)
        finally:
            running.stop()


def refused_within(call: Callable[[], object], seconds: float = 5.0) -> ConflictError:
    """The ConflictError `call` raises once the serving replica has seen the change (it looks
    every `refresh_interval_seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            call()
        except ConflictError as exc:
            return exc
        assert time.monotonic() < deadline, "the serving process kept answering"
        time.sleep(0.05)


def settled_usage(owner: LensforgeClient, deployment: str) -> UsageRow:
    """Today's usage once the serving process's meter has written all of it (it flushes its
    journal every half second): two reads a flush apart that agree."""
    deadline = time.monotonic() + 10
    last = None
    while True:
        rows = owner.deployments.usage(deployment).rows
        if rows and rows[0] == last:
            return rows[0]
        assert time.monotonic() < deadline, "the usage records never settled"
        last = rows[0] if rows else None
        time.sleep(0.6)


def jpeg(path: Path, size: tuple[int, int] = (64, 64)) -> Path:
    out = io.BytesIO()
    Image.new("RGB", size, (120, 90, 60)).save(out, "JPEG")
    path.write_bytes(out.getvalue())
    return path


def test_infer_through_the_client_and_the_cli(
    servers: Servers, client: TestClient, tmp_path: Path
) -> None:
    account: Account = sign_up(client)
    model = verified_onnx_export(client, account, tmp_path / "model")
    owner = LensforgeClient(servers.api.url, token=account.access_token)
    deployment = owner.deployments.create("pets", export_id=model.export_id)
    assert deployment.urls.image == f"{servers.serving_url}/v1/infer/pets"
    cat, dog = jpeg(tmp_path / "cat.jpg"), jpeg(tmp_path / "dog.jpg", (128, 96))

    answer = owner.deployments.infer("pets", [cat, dog.read_bytes()], conf=0.7, render=True)
    assert (answer.deployment, answer.version) == ("pets", 1)
    assert [r.width for r in answer.results] == [64, 128]
    found = answer.results[0].detections or []
    assert [d.class_id for d in found] == [0]  # the 0.6 box is under conf 0.7
    rendered = answer.rendered_images()
    assert len(rendered) == 2
    with Image.open(io.BytesIO(rendered[1])) as drawn:
        assert (drawn.format, drawn.size) == ("JPEG", (128, 96))

    # the CLI: a table per image, the raw answer, the drawn images saved
    cli("login", "--url", servers.api.url, "--api-key", owner.api_keys.create("cli").secret)
    table = cli("infer", "pets", str(cat), "--conf", "0.3").stdout
    assert "cat.jpg" in table
    assert "0.900" in table
    assert "0.600" in table
    raw = json.loads(cli("infer", "pets", str(cat), "--json").stdout)
    assert raw["results"][0]["image"] == "cat.jpg"
    saved = tmp_path / "out"
    cli("infer", "pets", str(cat), str(dog), "--save-dir", str(saved))
    assert sorted(p.name for p in saved.iterdir()) == ["cat.jpg", "dog.jpg", "results.json"]
    assert len(json.loads((saved / "results.json").read_text())) == 2

    # the tritonclient script `deployments show` prints runs as printed, with a key of its own
    key = owner.deployments.create_key("pets", "triton").secret
    script = usage_snippets(owner.deployments.get("pets"))["tritonclient"]
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(script.replace("lfk_...", key), {})  # the example as printed, key filled in
    assert printed.getvalue().strip() == "(1, 6, 2)"  # [batch, 4 + classes, anchors]

    # a login's access token the serving process refuses is refreshed once, the images resent
    stale = LensforgeClient(
        servers.api.url, token=f"{account.access_token}0", refresh_token=account.refresh_token
    )
    assert [r.image for r in stale.deployments.infer(deployment, [cat, dog]).results] == [
        "cat.jpg",
        "dog.jpg",
    ]
    assert stale.tokens[0] != f"{account.access_token}0"

    # the requests are metered: usage per day, in the client and the CLI
    row = settled_usage(owner, "pets")
    assert (row.requests >= 6, row.images >= 8, row.errors) == (True, True, 0)
    assert str(row.requests) in cli("deployments", "usage", "pets").stdout
    points = owner.deployments.stats("pets", minutes=5).points
    assert sum(point.requests for point in points) == row.requests

    # refusals: the serving process's codes, as the client's exceptions and CLI errors
    with pytest.raises(APIError) as not_an_image:
        owner.deployments.infer("pets", [b"not an image"])
    assert not_an_image.value.status_code is not None
    assert 400 <= not_an_image.value.status_code < 500
    owner.deployments.deactivate("pets")
    assert refused_within(lambda: owner.deployments.infer(deployment, [cat])).code == (
        "deployment_inactive"
    )
    refused = cli("infer", "pets", str(cat), code=1)
    assert "error:" in refused.output
    with pytest.raises(NotFoundError):
        owner.deployments.infer("nothing-here", [cat])
