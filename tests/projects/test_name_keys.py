"""Project and dataset names are unique ignoring case in every script, on both databases: the
same non-ASCII name twice used to be a 500 on SQLite (its lower() folds ASCII only)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from lensforge.kit.names import name_key
from tests.fixtures.app import sign_up

# Each pair is one name to a person: case in other scripts, ß, full-width letters.
SAME_NAMES = [
    ("Été", "Été"),
    ("Été", "éTÉ"),
    ("Straße", "STRASSE"),
    ("Проект", "ПРОЕКТ"),
    ("Ｐｒｏｊｅｃｔ", "project"),
]


@pytest.mark.parametrize(("first", "second"), SAME_NAMES)
def test_a_project_name_is_taken_in_any_case_and_script(
    client: TestClient, first: str, second: str
) -> None:
    admin = sign_up(client)
    created = client.post("/api/v1/projects", json={"name": first}, headers=admin.headers)
    assert created.status_code == 201, created.text
    again = client.post("/api/v1/projects", json={"name": second}, headers=admin.headers)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "project_name_taken"
    # Renaming another project onto it is refused the same way.
    other = client.post("/api/v1/projects", json={"name": "other"}, headers=admin.headers).json()
    renamed = client.patch(
        f"/api/v1/projects/{other['id']}", json={"name": second}, headers=admin.headers
    )
    assert renamed.status_code == 409, renamed.text


@pytest.mark.parametrize(("first", "second"), SAME_NAMES[:3])
def test_a_dataset_name_is_taken_in_any_case_and_script(
    client: TestClient, first: str, second: str
) -> None:
    admin = sign_up(client)
    project = client.post("/api/v1/projects", json={"name": "p"}, headers=admin.headers).json()
    body = {"project_id": project["id"], "task": "detection"}
    created = client.post("/api/v1/datasets", json={**body, "name": first}, headers=admin.headers)
    assert created.status_code == 201, created.text
    again = client.post("/api/v1/datasets", json={**body, "name": second}, headers=admin.headers)
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "dataset_name_taken"


def test_different_names_stay_different() -> None:
    assert name_key("Été") != name_key("Ete")
    assert name_key("résumé") != name_key("resume")
