"""What an import tells its user: every reader problem as an issue naming the file, the
warnings of a successful import, skipped images, and the counts of a finished import."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    zip_folder,
)
from tests.fixtures.app import sign_up
from tests.formats.builders import image, text, voc_xml


def _voc(folder: Path) -> Path:
    image(folder / "JPEGImages/a.jpg")
    text(folder / "Annotations/a.xml", voc_xml("a.jpg", [("cat", 2, 2, 10, 10)]))
    image(folder / "JPEGImages/b.jpg")
    text(folder / "Annotations/b.xml", voc_xml("b.jpg", [("cat", 2, 2, 10, 10)]))
    return folder


def test_an_unknown_xml_encoding_is_an_issue_naming_the_file(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    project = create_project(client, admin)
    dataset = create_dataset(client, admin, project)
    folder = _voc(tmp_path / "voc")
    (folder / "Annotations/b.xml").write_bytes(
        b'<?xml version="1.0" encoding="foo-bar"?>'
        + voc_xml("b.jpg", [("cat", 2, 2, 10, 10)]).encode()
    )
    result = import_archive(
        client, admin, dataset, project, zip_folder(folder, tmp_path / "voc.zip"), format="voc"
    )
    assert result["status"] == "failed"
    assert "internal error" not in result["error"]
    [issue] = [i for i in result["report"]["issues"] if i["severity"] == "error"]
    assert (issue["code"], issue["file"]) == ("xml_syntax", "Annotations/b.xml")
    assert "foo-bar" in issue["message"]
