"""`client.datasets` against a real server: imports with reports, versions, splits, exports."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from lensforge.client import (
    Dataset,
    DatasetImport,
    LensforgeClient,
    NotFoundError,
    Project,
    SplitConfig,
    UploadSource,
    ValidationError,
)
from lensforge.client._download import disposition_filename
from lensforge.formats import read_dataset
from tests.client.dataset_files import PETS, PETS_OBJECTS, broken_folder, yolo_folder, zip_folder


@pytest.fixture
def project(admin: LensforgeClient) -> Project:
    return admin.projects.create("vision")


@pytest.fixture
def dataset(admin: LensforgeClient, project: Project) -> Dataset:
    return admin.datasets.create(project.id, "pets", "detection", description="cats and dogs")


@pytest.fixture
def pets_zip(tmp_path: Path) -> Path:
    return zip_folder(yolo_folder(tmp_path / "pets"), tmp_path / "pets.zip")


@pytest.fixture
def imported(
    admin: LensforgeClient, project: Project, dataset: Dataset, pets_zip: Path
) -> DatasetImport:
    result = admin.datasets.import_file(dataset.id, project.id, pets_zip, poll_interval=0.05)
    assert result.status == "succeeded", result
    return result


def test_import_file_uploads_imports_and_waits(
    admin: LensforgeClient, project: Project, dataset: Dataset, pets_zip: Path
) -> None:
    uploaded: list[tuple[int, int]] = []
    seen: list[DatasetImport] = []
    result = admin.datasets.import_file(
        dataset.id,
        project.id,
        pets_zip,
        message="first",
        on_upload_progress=lambda done, total: uploaded.append((done, total)),
        on_import_progress=seen.append,
        poll_interval=0.05,
    )
    size = pets_zip.stat().st_size
    assert uploaded[0] == (0, size)
    assert uploaded[-1] == (size, size)
    assert (result.status, result.version_number, result.detected_format) == (
        "succeeded",
        1,
        "yolo",
    )
    assert result.finished
    assert result.error is None
    assert seen[-1] == result

    version = admin.datasets.get_version(dataset.id, 1)
    assert (version.item_count, version.annotation_count) == (len(PETS), PETS_OBJECTS)
    assert version.classes == ["cat", "dog"]
    assert version.message == "first"
    assert sum(version.split_counts.values()) == len(PETS)
    assert admin.datasets.list_versions(dataset.id) == [version]
    assert admin.datasets.get(dataset.id).latest_version_number == 1
    assert [i.id for i in admin.datasets.list_imports(dataset.id)] == [result.id]

    stats = admin.datasets.stats(dataset.id, 1)
    assert [(c.name, c.count) for c in stats.stats.classes] == [("cat", 2), ("dog", 4)]
    page = admin.datasets.items(dataset.id, 1, limit=2)
    assert (page.total, len(page.items), page.has_more) == (len(PETS), 2, True)
    assert page.items[0].file_name == "a.jpg"
    assert len(page.items[0].annotations) == 2
    manifest = admin.datasets.manifest(dataset.id, 1)
    assert manifest["classes"] == ["cat", "dog"]
    assert len(manifest["items"]) == len(PETS)


def test_dataset_crud_and_listing(
    admin: LensforgeClient, project: Project, dataset: Dataset
) -> None:
    other = admin.datasets.create(project.id, "other", "classification")
    assert (dataset.task, dataset.latest_version_number) == ("detection", 0)
    assert admin.datasets.list(project_id=project.id, limit=1).has_more
    assert sorted(d.name for d in admin.datasets.iter(page_size=1)) == ["other", "pets"]
    renamed = admin.datasets.update(dataset.id, name="pets-2")
    assert (renamed.name, renamed.description) == ("pets-2", "cats and dogs")
    assert admin.datasets.update(dataset.id, description="").description == ""
    assert admin.datasets.set_sharing(dataset.id, True).shared_with_organization
    admin.datasets.delete(other.id)
    with pytest.raises(NotFoundError) as missing:
        admin.datasets.get(other.id)
    assert missing.value.code == "dataset_not_found"


def test_broken_dataset_fails_with_the_file_and_line(
    admin: LensforgeClient, project: Project, dataset: Dataset, tmp_path: Path
) -> None:
    archive = zip_folder(broken_folder(tmp_path / "bad"), tmp_path / "bad.zip")
    upload = admin.uploads.upload_file(project.id, archive)
    started = admin.datasets.start_import(
        dataset.id, UploadSource(upload_id=str(upload.id)), format="yolo"
    )
    assert started.status in ("pending", "running")
    result = admin.datasets.wait_import(started.id, poll_interval=0.05, timeout=60)
    assert (result.status, result.version_number) == ("failed", None)
    assert result.error is not None
    assert result.report is not None
    [issue] = [i for i in result.report.errors if i.code == "class_id_out_of_range"]
    assert issue.file is not None
    assert issue.file.endswith("a.txt")
    assert issue.line == 1
    assert result.report.counts["class_id_out_of_range"] == 1
    assert admin.datasets.list_versions(dataset.id) == []


def test_split_diff_and_export(
    admin: LensforgeClient, dataset: Dataset, imported: DatasetImport, tmp_path: Path
) -> None:
    config = SplitConfig(mode="ratio", train=0.5, val=0.5, test=0.0, seed=7)
    second = admin.datasets.split(dataset.id, 1, config, message="half and half")
    assert second.number == 2
    assert second.split_counts == {"train": 2, "val": 2}
    assert second.message == "half and half"
    assert second.content_hash != admin.datasets.get_version(dataset.id, 1).content_hash

    changes = admin.datasets.diff(dataset.id, 2, 1)
    assert (changes.from_version, changes.to_version) == (1, 2)
    summary = changes.diff.summary
    assert (summary.items_added, summary.items_removed, summary.items_changed) == (0, 0, 0)
    assert summary.items_moved + summary.items_unchanged == len(PETS)
    assert len(changes.diff.moved) == summary.items_moved

    progress: list[tuple[int, int | None]] = []
    exports = tmp_path / "exports"
    exports.mkdir()
    saved = admin.datasets.download_export(
        dataset.id, 2, "coco", exports, on_progress=lambda d, t: progress.append((d, t))
    )
    assert saved.path == exports / "pets-v2-coco.zip"
    assert saved.size == saved.path.stat().st_size
    assert progress[0] == (0, saved.size)
    assert progress[-1] == (saved.size, saved.size)
    assert [p.name for p in exports.iterdir()] == ["pets-v2-coco.zip"]
    with zipfile.ZipFile(saved.path) as archive:
        archive.extractall(tmp_path / "coco")
    manifest, report = read_dataset(tmp_path / "coco", format="coco")
    assert not report.has_errors
    assert len(manifest.items) == len(PETS)
    assert sum(len(item.annotations) for item in manifest.items) == PETS_OBJECTS

    named = admin.datasets.download_export(dataset.id, 1, "yolo", tmp_path / "new" / "v1.zip")
    assert named.path == tmp_path / "new" / "v1.zip"
    assert zipfile.is_zipfile(named.path)


def test_a_refused_export_leaves_no_file(
    admin: LensforgeClient, dataset: Dataset, imported: DatasetImport, tmp_path: Path
) -> None:
    target = tmp_path / "out.zip"
    target.write_bytes(b"an older export")
    with pytest.raises(ValidationError) as refused:
        admin.datasets.download_export(dataset.id, 1, "imagefolder", target)
    assert refused.value.code == "unsupported_export"
    assert "coco" in refused.value.message
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    assert target.read_bytes() == b"an older export"
    with pytest.raises(NotFoundError):
        admin.datasets.download_export(dataset.id, 9, "coco", target)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ('attachment; filename="pets-v1-coco.zip"', "pets-v1-coco.zip"),
        ("attachment; filename*=utf-8''ch%C3%A2teau-v1-yolo.zip", "château-v1-yolo.zip"),
        ('attachment; filename="../../.bashrc"', None),
        ('attachment; filename="/etc/x.zip"', "x.zip"),
        ("attachment", None),
        (None, None),
    ],
)
def test_the_servers_file_name_is_reduced_to_a_bare_name(
    header: str | None, name: str | None
) -> None:
    assert disposition_filename(header) == name
