"""Import sources against hostile endpoints: where the server may connect, how long it waits,
how much it reads, and that one organization's stuck import never holds another's."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from lensforge.config import Settings
from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    tiny_yolo,
    wait_import,
    zip_folder,
)
from tests.fixtures.app import Account, sign_up
from tests.fixtures.hostile_endpoints import (
    ScriptedS3,
    Tarpit,
    dripping_body,
    endless_body,
    self_signed_tls,
)


def _dataset(client: TestClient) -> tuple[Account, str]:
    account = sign_up(client)
    return account, create_dataset(client, account, create_project(client, account))


def _s3_import(
    client: TestClient, account: Account, dataset: str, endpoint: str, **extra: Any
) -> Any:
    source = {"kind": "s3", "bucket": "data", "prefix": "ds", "endpoint_url": endpoint, **extra}
    return client.post(
        f"/api/v1/datasets/{dataset}/imports", json={"source": source}, headers=account.headers
    )


def _wait_status(
    client: TestClient, account: Account, import_id: str, status: str, timeout: float = 30
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/datasets/imports/{import_id}", headers=account.headers)
        if body.json()["status"] == status:
            return
        assert time.monotonic() < deadline, body.json()
        time.sleep(0.05)


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254",  # the cloud metadata service
        "http://[fd00:ec2::254]",  # its IPv6 address (unique-local)
        "http://10.0.0.1:9000",
        "http://192.168.1.1",
        "http://172.16.5.4",
        "http://100.64.0.1",  # shared address space (carrier NAT)
        "http://localhost:{port}",
        "http://[::1]:{port}",
        "http://[::ffff:127.0.0.1]:{port}",  # loopback in IPv6 clothing
        "http://2130706433:{port}",  # 127.0.0.1 written as one number
        "http://0.0.0.0:{port}",
        "http://[fe80::1]",
    ],
)
def test_non_public_endpoints_are_refused_before_any_connection(
    client: TestClient, endpoint: str
) -> None:
    account, dataset = _dataset(client)
    with Tarpit() as listener:
        refused = _s3_import(client, account, dataset, endpoint.format(port=listener.port))
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["code"] == "source_not_allowed"
        assert listener.accepted == 0
    assert client.get(f"/api/v1/datasets/{dataset}/imports", headers=account.headers).json() == []


@pytest.mark.parametrize(
    "endpoint",
    [
        "ftp://example.com",
        "file:///etc/passwd",
        "http://user:password@example.com",
        "http://example.com/bucket",
        "http://example.com?x=1",
        "http://example.com:99999",
        "http://",
    ],
)
def test_endpoints_that_are_not_plain_server_urls_are_refused(
    client: TestClient, endpoint: str
) -> None:
    account, dataset = _dataset(client)
    refused = _s3_import(client, account, dataset, endpoint)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "invalid_endpoint"


def test_a_region_cannot_rewrite_the_aws_host(client: TestClient) -> None:
    account, dataset = _dataset(client)
    source = {"kind": "s3", "bucket": "data", "region": "x.attacker.example#"}
    refused = client.post(
        f"/api/v1/datasets/{dataset}/imports", json={"source": source}, headers=account.headers
    )
    assert refused.status_code == 422, refused.text


def test_an_allow_list_entry_can_be_limited_to_one_port(
    client: TestClient, settings: Settings
) -> None:
    account, dataset = _dataset(client)
    with Tarpit() as listener, Tarpit() as other:
        settings.datasets.s3_import_allowed_networks = [f"127.0.0.1:{listener.port}"]
        refused = _s3_import(client, account, dataset, other.url)
        assert refused.status_code == 403, refused.text
        assert other.accepted == 0


def test_a_tarpit_endpoint_fails_the_import_after_the_read_timeout(
    client: TestClient, settings: Settings
) -> None:
    settings.datasets.s3_import_read_timeout_seconds = 1.0
    account, dataset = _dataset(client)
    with Tarpit() as tarpit:
        settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
        started = _s3_import(client, account, dataset, tarpit.url)
        assert started.status_code == 202, started.text
        result = wait_import(client, account, started.json()["id"], timeout=30)
        assert tarpit.accepted >= 1
    assert result["status"] == "failed"
    assert result["report"]["issues"][0]["code"] == "source_timeout"


def test_an_endpoint_that_drips_bytes_hits_the_deadline(
    client: TestClient, settings: Settings
) -> None:
    settings.datasets.s3_import_read_timeout_seconds = 5.0
    settings.datasets.s3_import_deadline_seconds = 2.0
    account, dataset = _dataset(client)
    with ScriptedS3({"ds/data.yaml": 1000}, dripping_body(1000, 0.2)) as endpoint:
        settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
        started = _s3_import(client, account, dataset, endpoint.url)
        result = wait_import(client, account, started.json()["id"], timeout=30)
    assert result["status"] == "failed"
    issue = result["report"]["issues"][0]
    assert issue["code"] == "source_timeout"
    assert "longer than 2 s" in issue["message"]


def test_an_object_longer_than_its_listed_size_is_cut_off(
    client: TestClient, settings: Settings
) -> None:
    """The listing says 10 bytes (well under the limit); the body never ends."""
    account, dataset = _dataset(client)
    with ScriptedS3({"ds/images/a.jpg": 10}, endless_body) as endpoint:
        settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
        started = _s3_import(client, account, dataset, endpoint.url)
        result = wait_import(client, account, started.json()["id"], timeout=30)
        # The connection carried the name the user gave (what S3 signatures cover), while it
        # went to the checked address.
        assert endpoint.hosts[0] == endpoint.url.removeprefix("http://")
    assert result["status"] == "failed"
    issue = result["report"]["issues"][0]
    assert issue["code"] == "source_too_large"
    assert "more bytes than its listed size" in issue["message"]
    assert endpoint.body_bytes_sent < 64 * 1024 * 1024  # it stopped reading, early


def test_the_listed_total_counts_against_the_import_limit(
    client: TestClient, settings: Settings
) -> None:
    settings.datasets.max_archive_bytes = 1000
    account, dataset = _dataset(client)
    with ScriptedS3({"ds/a.jpg": 600, "ds/b.jpg": 600}, endless_body) as endpoint:
        settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
        started = _s3_import(client, account, dataset, endpoint.url)
        result = wait_import(client, account, started.json()["id"], timeout=30)
    assert result["report"]["issues"][0]["code"] == "source_too_large"


def test_one_organizations_stuck_import_does_not_hold_anothers(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    """Organization A imports from a tarpit (long timeouts); organization B's import, started
    afterwards, completes while A's is still waiting."""
    settings.datasets.s3_import_read_timeout_seconds = 300.0
    settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
    alice, alice_dataset = _dataset(client)
    bob = sign_up(client)
    bob_project = create_project(client, bob)
    bob_dataset = create_dataset(client, bob, bob_project)
    archive = zip_folder(
        tiny_yolo(tmp_path / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"]}), tmp_path / "d.zip"
    )
    with Tarpit() as tarpit:
        stuck = [
            _s3_import(client, alice, alice_dataset, tarpit.url).json()["id"] for _ in range(3)
        ]
        _wait_status(client, alice, stuck[0], "running")
        result = import_archive(client, bob, bob_dataset, bob_project, archive)
        assert result["status"] == "succeeded", result
        # Alice's first import still hangs; her others wait their turn behind it, not Bob.
        statuses = [
            client.get(f"/api/v1/datasets/imports/{i}", headers=alice.headers).json()["status"]
            for i in stuck
        ]
        assert statuses == ["running", "pending", "pending"], statuses
    # The tarpit hung up: Alice's imports end (no response is an unreadable source).
    for import_id in stuck:
        assert wait_import(client, alice, import_id, timeout=60)["status"] == "failed"


@pytest.fixture
def import_root(settings: Settings, tmp_path: Path) -> Path:
    root = tmp_path / "imports"
    root.mkdir()
    settings.datasets.import_roots = [str(root)]
    return root


def _folder_import(client: TestClient, account: Account, dataset: str, folder: Path) -> Any:
    return client.post(
        f"/api/v1/datasets/{dataset}/imports",
        json={"source": {"kind": "folder", "path": str(folder)}},
        headers=account.headers,
    )


def test_a_folder_import_refuses_links_out_of_the_import_roots(
    client: TestClient, import_root: Path, settings: Settings, tmp_path: Path
) -> None:
    account, dataset = _dataset(client)
    folder = tiny_yolo(import_root / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"]})
    secret = tmp_path / "data" / "secret_key"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("the server's signing key\n")
    (folder / "labels" / "a.txt").unlink()
    (folder / "labels" / "a.txt").symlink_to(secret)
    refused = _folder_import(client, account, dataset, folder)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == "source_not_allowed"
    assert "labels/a.txt" in refused.json()["error"]["message"]
    # A link that stays inside the roots is fine.
    (folder / "labels" / "a.txt").unlink()
    kept = import_root / "kept-a.txt"
    kept.write_text("0 0.5 0.5 0.2 0.2\n")
    (folder / "labels" / "a.txt").symlink_to(kept)
    started = _folder_import(client, account, dataset, folder)
    assert started.status_code == 202, started.text
    assert wait_import(client, account, started.json()["id"])["status"] == "succeeded"


def test_a_folder_import_refuses_special_files(client: TestClient, import_root: Path) -> None:
    """A FIFO named like a label file would block the reader (and an import worker) forever."""
    account, dataset = _dataset(client)
    folder = tiny_yolo(import_root / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"]})
    (folder / "labels" / "a.txt").unlink()
    os.mkfifo(folder / "labels" / "a.txt")
    refused = _folder_import(client, account, dataset, folder)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "source_unreadable"
    assert "not a regular file" in refused.json()["error"]["message"]


def test_a_folder_import_counts_against_the_import_limits(
    client: TestClient, import_root: Path, settings: Settings
) -> None:
    settings.datasets.max_archive_files = 2
    account, dataset = _dataset(client)
    folder = tiny_yolo(import_root / "ds", boxes={"a": ["0 0.5 0.5 0.2 0.2"]})
    refused = _folder_import(client, account, dataset, folder)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "source_too_large"


def test_the_platforms_own_api_is_refused_although_its_network_is_allowed(
    client: TestClient, settings: Settings
) -> None:
    account, dataset = _dataset(client)
    with Tarpit() as api:  # stands in for this server's own port
        settings.server.public_url = api.url
        settings.datasets.s3_import_allowed_networks = ["127.0.0.0/8"]
        refused = _s3_import(client, account, dataset, api.url)
        assert refused.status_code == 403, refused.text
        assert "own services" in refused.json()["error"]["message"]
        assert api.accepted == 0


def test_https_endpoints_are_verified_although_the_address_is_pinned(
    client: TestClient, settings: Settings, tmp_path: Path
) -> None:
    """Connecting to the checked address must not turn certificate checks off: a self-signed
    endpoint fails (and its listing, which would succeed over plain HTTP, is never read)."""
    account, dataset = _dataset(client)
    tls = self_signed_tls(tmp_path)
    with ScriptedS3({"ds/data.yaml": 10}, endless_body, tls=tls) as endpoint:
        settings.datasets.s3_import_allowed_networks = ["127.0.0.1"]
        started = _s3_import(client, account, dataset, endpoint.url)
        result = wait_import(client, account, started.json()["id"], timeout=30)
        assert endpoint.hosts == []
    assert result["status"] == "failed"
    issue = result["report"]["issues"][0]
    assert issue["code"] == "source_unreadable"
    assert "CERTIFICATE_VERIFY_FAILED" in issue["message"]
