"""Test helpers: get a dataset into Lensforge through the public API, as a user would."""

from __future__ import annotations

import io
import time
import zipfile
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.fixtures.app import Account
from tests.fixtures.shared_data import RACCOON

__all__ = ["RACCOON"]  # re-exported for the dataset tests

PART = 1024 * 1024


def zip_folder(folder: Path, destination: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(destination, "w", zipfile.ZIP_STORED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, prefix + path.relative_to(folder).as_posix())
    return destination


def upload(client: TestClient, account: Account, project_id: str, archive: Path) -> str:
    size = archive.stat().st_size
    created = client.post(
        "/api/v1/uploads",
        json={
            "project_id": project_id,
            "filename": archive.name,
            "total_size": size,
            "part_size": PART,
        },
        headers=account.headers,
    )
    assert created.status_code == 201, created.text
    upload_id = created.json()["id"]
    with archive.open("rb") as stream:
        number = 1
        while chunk := stream.read(PART):
            response = client.put(
                f"/api/v1/uploads/{upload_id}/parts/{number}",
                content=chunk,
                headers={**account.headers, "Content-Type": "application/octet-stream"},
            )
            assert response.status_code in (200, 201), response.text
            number += 1
    done = client.post(f"/api/v1/uploads/{upload_id}/complete", headers=account.headers)
    assert done.status_code == 200, done.text
    return str(upload_id)


def create_project(client: TestClient, account: Account, name: str = "vision") -> str:
    response = client.post("/api/v1/projects", json={"name": name}, headers=account.headers)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def create_dataset(
    client: TestClient,
    account: Account,
    project_id: str,
    task: str = "detection",
    name: str = "data",
) -> str:
    response = client.post(
        "/api/v1/datasets",
        json={"project_id": project_id, "name": name, "task": task},
        headers=account.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def wait_import(
    client: TestClient, account: Account, import_id: str, timeout: float = 120
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body = client.get(f"/api/v1/datasets/imports/{import_id}", headers=account.headers).json()
        if body["status"] in ("succeeded", "failed"):
            return dict(body)
        assert time.monotonic() < deadline, f"import still {body['status']}: {body}"
        time.sleep(0.1)


def import_archive(
    client: TestClient,
    account: Account,
    dataset_id: str,
    project_id: str,
    archive: Path,
    **options: Any,
) -> dict[str, Any]:
    upload_id = upload(client, account, project_id, archive)
    started = client.post(
        f"/api/v1/datasets/{dataset_id}/imports",
        json={"source": {"kind": "upload", "upload_id": upload_id}, **options},
        headers=account.headers,
    )
    assert started.status_code == 202, started.text
    return wait_import(client, account, started.json()["id"])


def tiny_yolo(
    folder: Path, *, boxes: dict[str, list[str]], size: tuple[int, int] = (64, 48)
) -> Path:
    """A YOLO detection dataset: `boxes` maps image stem to label lines."""
    from PIL import Image

    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "labels").mkdir(parents=True, exist_ok=True)
    for index, (stem, lines) in enumerate(sorted(boxes.items())):
        Image.new("RGB", size, (index * 37 % 256, 90, 160)).save(folder / "images" / f"{stem}.jpg")
        (folder / "labels" / f"{stem}.txt").write_text("\n".join(lines) + "\n")
    (folder / "data.yaml").write_text("names:\n  0: cat\n  1: dog\n")
    return folder


def bytes_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return buffer.getvalue()
