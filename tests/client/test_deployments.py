"""Deployments through the Python client and the CLI, against a real server: create from a
verified ONNX export, find by name, change settings, deactivate and activate, update to another
version and roll back, keys restricted to the deployment (and their rotation), usage (JSON and
CSV), live stats, delete; the same commands' errors."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner, Result

from lensforge.cli.main import app
from lensforge.client import ConflictError, LensforgeClient, NotFoundError, ValidationError
from tests.client.deployment_setup import finish_onnx_export, verified_onnx_export
from tests.deployments.helpers import ultralytics_job
from tests.fixtures.app import Account, sign_up
from tests.fixtures.live_server import LiveServer
from tests.jobs.helpers import JobSetup

runner = CliRunner()


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


def one_line(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


@pytest.fixture
def account(client: TestClient) -> Account:
    return sign_up(client)


@pytest.fixture
def owner(live_server: LiveServer, account: Account) -> LensforgeClient:
    """The account's client on the live server, and the CLI logged in with one of its keys."""
    lensforge = LensforgeClient(live_server.url, token=account.access_token)
    cli("login", "--url", live_server.url, "--api-key", lensforge.api_keys.create("cli").secret)
    return lensforge


def test_a_deployment_through_the_client(
    client: TestClient, account: Account, owner: LensforgeClient, tmp_path: Path
) -> None:
    first = verified_onnx_export(client, account, tmp_path / "one")
    second = verified_onnx_export(client, account, tmp_path / "two", job=first.job)

    created = owner.deployments.create("Pets", export_id=first.export_id, max_batch_size=4)
    assert (created.status, created.active, created.current_version) == ("ready", True, 1)
    assert created.max_batch_size == 4
    assert created.urls.model_name == "Pets"
    assert created.urls.image.endswith("/v1/infer/Pets")
    assert created.version is not None
    assert str(created.version.export_id) == first.export_id
    # names are found ignoring case, ids as ids
    assert owner.deployments.get("pets").id == created.id
    assert owner.deployments.get(str(created.id)).name == "Pets"
    listed = owner.deployments.list(project_id=created.project_id)
    assert [d.id for d in listed.items] == [created.id]
    assert owner.deployments.wait_ready("pets", timeout=5).status == "ready"
    with pytest.raises(ConflictError):
        owner.deployments.create("PETS", export_id=first.export_id)
    with pytest.raises(NotFoundError) as missing:
        owner.deployments.get("nothing-here")
    assert missing.value.code == "deployment_not_found"
    with pytest.raises(ValueError, match="either export_id or job_id"):
        owner.deployments.create("x", export_id=first.export_id, job_id=first.job.job_id)

    changed = owner.deployments.update("pets", max_batch_size=2, rate_limit_per_second=5.0)
    assert (changed.max_batch_size, changed.rate_limit_per_second) == (2, 5.0)
    with pytest.raises(ValidationError):
        owner.deployments.update("pets", max_batch_size=0)
    assert owner.deployments.deactivate("pets").active is False
    assert owner.deployments.activate("pets").active is True

    version = owner.deployments.deploy_version("pets", export_id=second.export_id)
    assert version.number == 2
    now = owner.deployments.wait_ready("pets", timeout=10)
    assert now.current_version == 2
    assert [v.number for v in owner.deployments.versions("pets")] == [2, 1]
    assert owner.deployments.rollback("pets").current_version == 1
    assert owner.deployments.rollback("pets", version=2).current_version == 2

    key = owner.deployments.create_key("pets", "camera-1")
    assert key.secret.startswith("lfk_")
    assert key.scopes == ["deployment:infer"]
    assert [k.id for k in owner.deployments.keys("pets")] == [key.id]
    rotated = owner.deployments.rotate_key(key.id, overlap_seconds=60)
    assert (rotated.name, rotated.scopes) == ("camera-1", ["deployment:infer"])
    assert rotated.secret != key.secret

    usage = owner.deployments.usage("pets", group="hour")
    assert (usage.group, usage.rows) == ("hour", [])
    assert owner.deployments.usage().rows == []  # the whole organization's
    header = next(csv.reader(io.StringIO(owner.deployments.usage_csv("pets"))))
    assert "requests" in header
    stats = owner.deployments.stats("pets", minutes=5)
    assert all(point.requests == 0 for point in stats.points)

    owner.deployments.delete("pets")
    with pytest.raises(NotFoundError):
        owner.deployments.get(created.id)


def test_deployments_through_the_cli(
    client: TestClient, account: Account, owner: LensforgeClient, tmp_path: Path
) -> None:
    first = verified_onnx_export(client, account, tmp_path / "one")
    second = verified_onnx_export(client, account, tmp_path / "two", job=first.job)

    # deploy an export given by an id prefix: ready at once, URLs and a curl call printed
    shown = cli("deploy", first.export_id[:8], "--name", "pets", "--max-batch-size", "4").stdout
    assert "/v1/infer/pets" in shown
    assert "curl -H" in shown
    assert "tritonclient" in shown
    deployed = cli_json("deployments", "show", "PETS")
    assert (deployed["status"], deployed["max_batch_size"]) == ("ready", 4)
    assert [v["number"] for v in deployed["versions"]] == [1]
    assert [d["name"] for d in cli_json("deployments", "list")["items"]] == ["pets"]
    assert "pets" in cli("deployments", "list").stdout

    # a new version, then back to the first
    updated = cli_json("deployments", "update", "pets", second.export_id, "--max-batch-size", "2")
    assert (updated["current_version"], updated["max_batch_size"]) == (2, 2)
    assert cli_json("deployments", "rollback", "pets")["current_version"] == 1
    assert "now serves version 2" in cli("deployments", "rollback", "pets", "--version", "2").stdout
    assert "inactive" in cli("deployments", "deactivate", "pets").stdout
    assert cli_json("deployments", "show", "pets")["active"] is False
    assert "is active" in cli("deployments", "activate", "pets").stdout

    # keys restricted to the deployment: the secret printed once
    created = cli("deployments", "keys", "create", "pets", "--name", "camera").stdout
    assert "lfk_" in created
    assert [k["name"] for k in cli_json("deployments", "keys", "list", "pets")] == ["camera"]

    # usage: nothing yet, as a table, JSON and CSV
    assert "no requests" in cli("deployments", "usage", "pets").stdout
    assert cli_json("deployments", "usage", "pets", "--group", "hour")["rows"] == []
    target = tmp_path / "usage.csv"
    cli("deployments", "usage", "pets", "--csv", str(target))
    assert "requests" in target.read_text().splitlines()[0]

    # refusals: a clear message, exit 1 (or 2 for a bad command line)
    unknown = cli("deployments", "show", "nothing-here", code=1)
    assert "no deployment with name or id 'nothing-here'" in one_line(unknown.output)
    taken = cli("deploy", first.export_id, "--name", "PETS", code=1)
    assert "error:" in taken.output
    assert "choose day or hour" in one_line(
        cli("deployments", "usage", "pets", "--group", "week", code=2).output
    )
    cli("deployments", "delete", "pets", "--yes")
    assert cli_json("deployments", "list")["items"] == []


def _finish_the_export_when_asked(
    client: TestClient, account: Account, job: JobSetup, folder: Path
) -> None:
    """The trainer's side: once the deployment has asked for its export, run it."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = client.get(
            "/api/v1/exports", params={"job_id": job.job_id}, headers=account.headers
        ).json()["items"]
        if found:
            finish_onnx_export(client, found[0]["job_id"], folder)
            return
        time.sleep(0.05)


def test_deploy_follows_a_training_job_through_its_export(
    client: TestClient, account: Account, owner: LensforgeClient, tmp_path: Path
) -> None:
    job = ultralytics_job(client, account, tmp_path / "data")
    trainer = threading.Thread(
        target=_finish_the_export_when_asked, args=(client, account, job, tmp_path / "export")
    )
    trainer.start()
    try:
        shown = cli("deploy", job.job_id, "--name", "from-job", "--checkpoint", "best")
    finally:
        trainer.join()
    assert "created deployment from-job" in one_line(shown.output)
    assert "ready" in shown.stdout
    assert "curl -H" in shown.stdout
    found = owner.deployments.get("from-job")
    assert found.version is not None
    assert (found.status, str(found.version.source_job_id)) == ("ready", job.job_id)
    # an export cannot take a checkpoint
    refused = cli(
        "deploy", str(found.version.export_id), "--name", "x", "--checkpoint", "last", code=2
    )
    assert "--checkpoint goes with a training job" in one_line(refused.output)
