"""`lensforge datasets ...` against a real server: folder imports, reports, versions, exports."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lensforge.cli import _dataset_import
from lensforge.cli._dataset_render import print_import
from lensforge.cli.main import app
from lensforge.client import DatasetImport, LensforgeClient
from lensforge.client.resources.uploads import Uploads
from lensforge.config import Settings
from lensforge.formats import read_dataset
from tests.client.dataset_files import (
    PETS,
    PETS_OBJECTS,
    broken_folder,
    yolo_folder,
    zip_folder,
)
from tests.client.helpers import signed_up
from tests.fixtures.live_server import LiveServer, serve
from tests.fixtures.shared_data import RACCOON

runner = CliRunner()
MiB = 1024 * 1024


def cli(*args: str, code: int = 0) -> Result:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result


def cli_json(*args: str) -> Any:
    return json.loads(cli(*args, "--json").stdout)


@pytest.fixture(autouse=True)
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where folders are zipped before upload (platformdirs' user cache dir)."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("XDG_CACHE_HOME", str(directory))
    return directory


@pytest.fixture
def logged_in(live_server: LiveServer, admin: LensforgeClient) -> LensforgeClient:
    """The CLI logged in (API key) as `admin`, who owns a project `vision`."""
    cli("login", "--url", live_server.url, "--api-key", admin.api_keys.create("cli").secret)
    admin.projects.create("vision")
    return admin


def staged_files() -> list[Path]:
    return list(_dataset_import.staging_dir().glob("*"))


def test_folder_import_then_browse_split_diff_and_export(
    logged_in: LensforgeClient, tmp_path: Path
) -> None:
    folder = yolo_folder(tmp_path / "pets")
    result = cli(
        "datasets", "import", str(folder), "--project", "vision", "--create",
        "--task", "detection", "--message", "first", "--json",
    )  # fmt: skip
    done = json.loads(result.stdout)
    assert (done["import"]["status"], done["import"]["version_number"]) == ("succeeded", 1)
    assert done["version"]["item_count"] == len(PETS)
    assert "created dataset pets" in result.stderr
    assert staged_files() == []  # the zip made of the folder is gone once uploaded

    listed = cli_json("datasets", "list", "--project", "vision")
    assert [(d["name"], d["latest_version_number"]) for d in listed["items"]] == [("pets", 1)]
    shown = cli_json("datasets", "show", "pets")
    assert shown["task"] == "detection"
    assert shown["latest_version"]["annotation_count"] == PETS_OBJECTS
    assert shown["latest_version"]["message"] == "first"
    [version] = cli_json("datasets", "versions", shown["id"])
    assert version["content_hash"] == done["version"]["content_hash"]
    stats = cli_json("datasets", "stats", "pets")
    assert [(c["name"], c["count"]) for c in stats["stats"]["classes"]] == [("cat", 2), ("dog", 4)]
    table = cli("datasets", "stats", "pets", "1").stdout
    assert "cat" in table
    assert "█" in table
    # Which numbers count images and which count objects is said on every line and column.
    assert f"{len(PETS)} images, {PETS_OBJECTS} objects" in table
    assert "images per split: train" in table
    assert "Images with it" in table
    assert "train objects" in table

    second = cli_json("datasets", "split", "pets", "1", "--ratio", "50,50,0", "--seed", "3")
    assert (second["number"], second["split_counts"]) == (2, {"train": 2, "val": 2})
    changes = cli_json("datasets", "diff", "pets", "1", "2")
    assert (changes["from_version"], changes["to_version"]) == (1, 2)
    assert changes["diff"]["summary"]["items_added"] == 0
    assert "version 1 → 2" in cli("datasets", "diff", "pets", "1", "2").stdout

    out = tmp_path / "out"
    out.mkdir()
    exported = cli("datasets", "export", "pets", "--format", "coco", "-o", str(out))
    archive = out / "pets-v2-coco.zip"
    assert f"saved {archive}" in exported.stdout.replace("\n", "")
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(tmp_path / "coco")
    manifest, report = read_dataset(tmp_path / "coco", format="coco")
    assert not report.has_errors
    assert len(manifest.items) == len(PETS)


def test_a_failed_import_prints_the_file_and_line_and_exits_1(
    logged_in: LensforgeClient, tmp_path: Path
) -> None:
    archive = zip_folder(broken_folder(tmp_path / "bad"), tmp_path / "bad.zip")
    result = cli(
        "datasets", "import", str(archive), "--project", "vision", "--create",
        "--task", "detection", code=1,
    )  # fmt: skip
    out = result.stdout
    assert "failed" in out
    assert "class_id_out_of_range" in out
    assert "a.txt" in out
    assert "line 1" in out
    match = re.search(r"import ([0-9a-f-]{36}): failed", out)
    assert match is not None
    again = cli("datasets", "report", match.group(1), "--json", code=1)
    issues = json.loads(again.stdout)["import"]["report"]["issues"]
    assert any(i["file"].endswith("a.txt") and i["line"] == 1 for i in issues)
    assert cli_json("datasets", "versions", "bad") == []


def test_a_successful_import_prints_its_warnings_with_the_file(
    logged_in: LensforgeClient, tmp_path: Path
) -> None:
    folder = yolo_folder(tmp_path / "pets")
    (folder / "labels" / "ghost.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # no image: a warning
    result = cli(
        "datasets", "import", str(folder), "--project", "vision", "--create", "--task", "detection",
    )  # fmt: skip
    out = result.stdout
    assert "succeeded" in out
    assert "orphan_label" in out
    assert "labels/ghost.txt" in out
    match = re.search(r"import ([0-9a-f-]{36}): succeeded", out)
    assert match is not None
    again = cli("datasets", "report", match.group(1))
    assert "orphan_label" in again.stdout
    assert "labels/ghost.txt" in again.stdout


def test_skip_invalid_images_imports_the_rest_and_lists_what_was_left_out(
    logged_in: LensforgeClient, tmp_path: Path
) -> None:
    folder = yolo_folder(tmp_path / "pets")
    (folder / "images" / "b.jpg").write_bytes(b"not a jpeg")
    strict = cli(
        "datasets", "import", str(folder), "--project", "vision", "--create", "--task",
        "detection", code=1,
    )  # fmt: skip
    assert "image_unreadable" in strict.stdout
    result = cli(
        "datasets", "import", str(folder), "--project", "vision", "--skip-invalid-images",
        "--dataset", "pets", "--json",
    )  # fmt: skip
    done = json.loads(result.stdout)
    assert done["import"]["status"] == "succeeded"
    skipped = [i for i in done["import"]["report"]["issues"] if i["code"] == "image_skipped"]
    assert [i["file"] for i in skipped] == ["images/b.jpg"]
    assert done["version"]["item_count"] == len(PETS) - 1


def test_raccoon_folder_through_the_cli(logged_in: LensforgeClient) -> None:
    result = cli(
        "datasets", "import", str(RACCOON), "--project", "vision", "--create",
        "--task", "detection",
    )  # fmt: skip
    assert "succeeded (format voc)" in result.stdout
    assert "version 1: 200 images, 217 objects" in result.stdout
    shown = cli_json("datasets", "show", "raccoon-voc", "--project", "vision")
    latest = shown["latest_version"]
    assert (latest["item_count"], latest["annotation_count"]) == (200, 217)
    assert latest["classes"] == ["raccoon"]
    [version] = cli_json("datasets", "versions", "raccoon-voc")
    assert version["content_hash"] == latest["content_hash"]
    assert sum(version["split_counts"].values()) == 200


def test_an_interrupted_folder_upload_resumes(
    logged_in: LensforgeClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = yolo_folder(tmp_path / "noisy", noise_side=700)  # ~1.5 MiB per image: 5 parts
    create, upload_part = Uploads.create, Uploads.upload_part
    sent: list[int] = []
    interrupt = [True]

    def small_parts(self: Uploads, *args: Any, **kwargs: Any) -> Any:
        kwargs["part_size"] = MiB
        return create(self, *args, **kwargs)

    def ctrl_c_after_two(self: Uploads, upload_id: Any, number: int, *a: Any, **k: Any) -> Any:
        if interrupt[0] and len(sent) == 2:
            raise KeyboardInterrupt
        sent.append(number)
        return upload_part(self, upload_id, number, *a, **k)

    monkeypatch.setattr(Uploads, "create", small_parts)
    monkeypatch.setattr(Uploads, "upload_part", ctrl_c_after_two)
    args = ("datasets", "import", str(folder), "--project", "vision", "--create", "--task",
            "detection")  # fmt: skip
    stopped = cli(*args, code=_dataset_import.EXIT_INTERRUPTED)
    assert "run the same command again to resume" in stopped.stderr
    [staged] = staged_files()
    part_count = -(-staged.stat().st_size // MiB)
    assert part_count >= 4
    assert sent == [1, 2]

    sent.clear()
    interrupt[0] = False
    resumed = cli(*args)
    assert "resuming" in resumed.stderr
    assert sent == list(range(3, part_count + 1))
    assert "version 1: 4 images" in resumed.stdout
    assert staged_files() == []


def test_server_folder_import_and_usage_errors(settings: Settings, tmp_path: Path) -> None:
    folder = yolo_folder(tmp_path / "shared" / "pets")
    allowed = settings.model_copy(
        update={
            "datasets": settings.datasets.model_copy(update={"import_roots": [str(folder.parent)]})
        }
    )
    with serve(allowed) as server:
        with signed_up(server.url) as admin:
            secret = admin.api_keys.create("cli").secret
        cli("login", "--url", server.url, "--api-key", secret)
        cli("projects", "create", "vision")
        done = cli_json(
            "datasets", "import", str(folder), "--server-folder", "--project", "vision",
            "--dataset", "pets", "--create", "--task", "detection", "--split-ratio", "0.5,0.5,0",
        )  # fmt: skip
        assert done["import"]["source"]["kind"] == "folder"
        assert done["version"]["split_counts"] == {"train": 2, "val": 2}

        outside = cli(
            "datasets", "import", str(tmp_path), "--server-folder", "--project", "vision",
            "--dataset", "pets", code=1,
        )  # fmt: skip
        assert "outside the allowed import folders" in outside.stderr
        missing = cli(
            "datasets", "import", str(folder), "--project", "vision", "--dataset", "cats", code=1
        )
        assert "add --create --task TASK" in missing.stderr
        bad_ratio = cli(
            "datasets", "import", str(folder), "--project", "vision", "--split-ratio", "1,2",
            code=2,
        )  # fmt: skip
        assert "train,val,test" in bad_ratio.stderr
        cli("projects", "create", "other")
        cli("datasets", "import", str(folder), "--server-folder", "--project", "other",
            "--dataset", "pets", "--create", "--task", "detection", "--no-wait")  # fmt: skip
        ambiguous = cli("datasets", "show", "pets", code=1)
        assert "2 datasets are named 'pets'" in ambiguous.stderr
        assert cli_json("datasets", "show", "pets", "--project", "other")["name"] == "pets"


def test_long_reports_are_cut_with_a_pointer_to_json(capsys: pytest.CaptureFixture[str]) -> None:
    issues = [
        {"severity": "warning" if n % 2 else "error", "code": "invalid_label_row",
         "message": f"row {n} is wrong", "file": f"labels/{n}.txt", "line": n}
        for n in range(1, 71)
    ]  # fmt: skip
    record = DatasetImport.model_validate(
        {
            "id": "00000000-0000-0000-0000-000000000001",
            "dataset_id": "00000000-0000-0000-0000-000000000002",
            "status": "failed",
            "phase": "failed",
            "mode": "replace",
            "error": "the dataset has 35 error(s)",
            "report": {"issues": issues, "counts": {"invalid_label_row": 1070}, "summary": "s"},
            "created_at": "2026-01-01T00:00:00Z",
        }
    )
    print_import(record, None)
    out = capsys.readouterr().out
    assert "labels/2.txt" in out  # errors come first
    assert "labels/70.txt" in out
    assert "labels/29.txt" in out  # the 15th warning: rows 36-50 after the 35 errors
    assert "labels/31.txt" not in out
    assert "and 1020 more" in out
    assert "--json" in out
