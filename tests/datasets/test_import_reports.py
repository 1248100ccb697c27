"""What an import tells its user: every reader problem as an issue naming the file, the
warnings of a successful import, skipped images, and the counts of a finished import."""

from __future__ import annotations

import zipfile
from pathlib import Path

from fastapi.testclient import TestClient

from tests.datasets.importing import (
    create_dataset,
    create_project,
    import_archive,
    zip_folder,
)
from tests.fixtures.app import Account, sign_up
from tests.formats.builders import image, text, voc_xml
from tests.web.helpers import browser_for


def _new_dataset(client: TestClient) -> tuple[Account, str, str]:
    """A new account with a project and an empty detection dataset in it."""
    admin = sign_up(client)
    project = create_project(client, admin)
    return admin, project, create_dataset(client, admin, project)


def _voc(folder: Path) -> Path:
    image(folder / "JPEGImages/a.jpg")
    text(folder / "Annotations/a.xml", voc_xml("a.jpg", [("cat", 2, 2, 10, 10)]))
    image(folder / "JPEGImages/b.jpg")
    text(folder / "Annotations/b.xml", voc_xml("b.jpg", [("cat", 2, 2, 10, 10)]))
    return folder


def test_an_unknown_xml_encoding_is_an_issue_naming_the_file(
    client: TestClient, tmp_path: Path
) -> None:
    admin, project, dataset = _new_dataset(client)
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


def _yolo_with_warnings(folder: Path) -> Path:
    """A YOLO set that imports with warnings: no class names, and a label without image."""
    image(folder / "images/train/a.jpg")
    text(folder / "labels/train/a.txt", "0 0.5 0.5 0.2 0.2\n")
    text(folder / "labels/train/ghost.txt", "0 0.5 0.5 0.2 0.2\n")
    text(folder / "data.yaml", "train: images/train\nval: images/train\n")
    return folder


def test_a_successful_import_keeps_and_shows_its_warnings(
    client: TestClient, tmp_path: Path
) -> None:
    admin, project, dataset = _new_dataset(client)
    folder = _yolo_with_warnings(tmp_path / "warn")
    result = import_archive(
        client, admin, dataset, project, zip_folder(folder, tmp_path / "warn.zip")
    )
    assert result["status"] == "succeeded", result
    report = result["report"]
    assert report is not None
    found = {(i["code"], i["file"]) for i in report["issues"]}
    assert ("orphan_label", "labels/train/ghost.txt") in found
    assert ("class_names_missing", "data.yaml") in found
    assert report["counts"]["orphan_label"] == 1
    # The same in the dataset's list of imports, and on the web UI's report page.
    [listed] = client.get(f"/api/v1/datasets/{dataset}/imports", headers=admin.headers).json()
    assert listed["report"] == report
    page = browser_for(client, admin).get(f"/datasets/imports/{result['id']}")
    assert page.status_code == 200
    assert "orphan_label" in page.text
    assert "labels/train/ghost.txt" in page.text
    assert "class_names_missing" in page.text
    assert "<strong>0</strong> error(s)" in page.text
    listing = browser_for(client, admin).get(f"/datasets/{dataset}?tab=imports")
    assert listing.status_code == 200
    assert "labels/train/ghost.txt" in listing.text
    warnings = sum(report["counts"].values())
    assert f"<strong>0</strong> error(s), <strong>{warnings}</strong> warning(s)" in listing.text


def test_an_archive_inside_the_archive_is_named_in_a_warning(
    client: TestClient, tmp_path: Path
) -> None:
    admin, project, dataset = _new_dataset(client)
    folder = _voc(tmp_path / "voc")
    inner = zip_folder(_voc(tmp_path / "more"), tmp_path / "more.zip")
    (folder / "extra").mkdir()
    (folder / "extra/more.zip").write_bytes(inner.read_bytes())
    result = import_archive(client, admin, dataset, project, zip_folder(folder, tmp_path / "o.zip"))
    assert result["status"] == "succeeded", result
    [warning] = [i for i in result["report"]["issues"] if i["code"] == "nested_archive"]
    assert warning["file"] == "extra/more.zip"


def test_a_hostile_archive_lists_its_members_as_json(client: TestClient, tmp_path: Path) -> None:
    admin, project, dataset = _new_dataset(client)
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("../escape.txt", b"x")
        z.writestr("/etc/evil", b"y")
    result = import_archive(client, admin, dataset, project, archive)
    assert result["status"] == "failed"
    [issue] = result["report"]["issues"]
    assert issue["code"] == "hostile_archive"
    assert sorted(issue["extra"]["members"]) == ["../escape.txt", "/etc/evil"]
    assert [p["member"] for p in issue["extra"]["problems"]] == issue["extra"]["members"]
    assert issue["extra"]["problem_count"] == 2
    page = browser_for(client, admin).get(f"/datasets/imports/{result['id']}")
    assert "../escape.txt, /etc/evil" in page.text or "/etc/evil, ../escape.txt" in page.text


def test_a_finished_import_shows_its_counts(client: TestClient, tmp_path: Path) -> None:
    admin, project, dataset = _new_dataset(client)
    folder = _voc(tmp_path / "voc")
    result = import_archive(client, admin, dataset, project, zip_folder(folder, tmp_path / "v.zip"))
    assert result["status"] == "succeeded", result
    assert (result["progress_done"], result["progress_total"]) == (2, 2)


def test_items_are_listed_in_natural_order(client: TestClient, tmp_path: Path) -> None:
    admin, project, dataset = _new_dataset(client)
    folder = tmp_path / "voc"
    for n in (1, 2, 10, 11, 100):
        image(folder / f"JPEGImages/raccoon-{n}.jpg")
        text(folder / f"Annotations/raccoon-{n}.xml", voc_xml(f"raccoon-{n}.jpg", []))
    result = import_archive(client, admin, dataset, project, zip_folder(folder, tmp_path / "v.zip"))
    assert result["status"] == "succeeded", result
    listed = client.get(
        f"/api/v1/datasets/{dataset}/versions/1/items?limit=2&offset=1", headers=admin.headers
    ).json()
    assert [i["file_name"] for i in listed["items"]] == ["raccoon-2.jpg", "raccoon-10.jpg"]
    everything = client.get(
        f"/api/v1/datasets/{dataset}/versions/1/items", headers=admin.headers
    ).json()
    assert [i["file_name"] for i in everything["items"]] == [
        f"raccoon-{n}.jpg" for n in (1, 2, 10, 11, 100)
    ]


def test_a_long_report_is_paged_errors_first(client: TestClient, tmp_path: Path) -> None:
    admin, project, dataset = _new_dataset(client)
    folder = tmp_path / "yolo"
    image(folder / "images/train/a.jpg")
    # 300 rows with class 7 (errors), and 5 label files without images (warnings).
    rows = "".join(f"7 {0.3 + n / 1000:.3f} 0.5 0.2 0.2\n" for n in range(300))
    text(folder / "labels/train/a.txt", rows)
    for n in range(5):
        text(folder / f"labels/train/ghost{n}.txt", "0 0.5 0.5 0.2 0.2\n")
    text(folder / "data.yaml", "train: images/train\nnames: [cat]\n")
    result = import_archive(client, admin, dataset, project, zip_folder(folder, tmp_path / "y.zip"))
    assert result["status"] == "failed"
    url = f"/api/v1/datasets/imports/{result['id']}/issues"
    first = client.get(f"{url}?limit=250", headers=admin.headers).json()
    assert first["total"] == len(result["report"]["issues"])
    assert [i["severity"] for i in first["items"]] == ["error"] * 250
    rest = client.get(f"{url}?offset=250&limit=1000", headers=admin.headers).json()
    codes = [i["code"] for i in rest["items"]]
    assert codes[:50] == ["class_id_out_of_range"] * 50
    assert codes.count("orphan_label") == 5
    warnings = client.get(f"{url}?severity=warning", headers=admin.headers).json()
    assert {i["file"] for i in warnings["items"]} >= {
        f"labels/train/ghost{n}.txt" for n in range(5)
    }
    # The web UI shows one page at a time, with the way to the next.
    browser = browser_for(client, admin)
    page = browser.get(f"/datasets/imports/{result['id']}")
    assert page.text.count('class="issue-error"') == 200
    assert "<strong>300</strong> error(s), <strong>5</strong> warning(s)" in page.text
    assert f"/datasets/imports/{result['id']}?offset=200" in page.text
    second = browser.get(f"/datasets/imports/{result['id']}?offset=200")
    assert "labels/train/ghost4.txt" in second.text
