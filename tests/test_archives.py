"""Safe archive extraction: real hostile archives built on disk, refused whole, leaving nothing.

Every refusal test checks the folder `dest` would live in holds nothing afterwards: neither
`dest` nor the staging folder next to it.
"""

from __future__ import annotations

import io
import stat
import tarfile
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from lensforge.archives import (
    ArchiveLimits,
    ArchiveMember,
    HostileArchive,
    UnreadableArchive,
    _Writer,
    extract_archive,
    inspect_archive,
)
from lensforge.errors import BadRequest

MiB = 1024 * 1024


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def make_zip(path: Path, members: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def make_tar(path: Path, members: dict[str, bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:  # type: ignore[call-overload]
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def refused(
    archive: Path, out: Path, error: type[BadRequest] = HostileArchive, **limits: int | float
) -> BadRequest:
    """Extract, expect a refusal, and check nothing at all was left in `out`."""
    with pytest.raises(error) as caught:
        extract_archive(archive, out / "dest", ArchiveLimits(**limits))  # type: ignore[arg-type]
    assert list(out.iterdir()) == [], "a refused archive left files behind"
    return caught.value


def reasons(error: BadRequest) -> dict[str | None, str]:
    return {p["member"]: p["reason"] for p in error.details["problems"]}


# --- hostile zips ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("../evil.txt", "escapes"),
        ("images/../../evil.txt", "escapes"),
        ("..\\..\\evil.txt", "escapes"),
        ("/etc/x", "absolute"),
        ("\\windows\\x", "absolute"),
        ("C:\\Windows\\x", "absolute"),
        ("c:/x", "absolute"),
        ("bad\x01name.jpg", "control"),
    ],
)
def test_zip_with_hostile_name_is_refused(
    tmp_path: Path, out: Path, name: str, reason: str
) -> None:
    archive = make_zip(tmp_path / "a.zip", {"ok.txt": b"fine", name: b"evil"})
    error = refused(archive, out)
    assert error.code == "hostile_archive"
    assert reason in reasons(error)[name]
    assert "ok.txt" not in reasons(error)


def test_every_offending_member_is_listed(tmp_path: Path, out: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"../a": b"", "/b": b"", "c/../../d": b"", "ok": b""})
    error = refused(archive, out)
    assert set(reasons(error)) == {"../a", "/b", "c/../../d"}
    assert error.details["problem_count"] == 3


def test_inner_dotdot_that_stays_inside_is_allowed(tmp_path: Path, out: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a/../b.txt": b"b"})
    assert extract_archive(archive, out / "dest") == [out / "dest" / "b.txt"]


def test_zip_symlink_member_is_refused(tmp_path: Path, out: Path) -> None:
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        link = zipfile.ZipInfo("images/passwd")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("images/a.jpg", b"jpeg")
    assert "symlink" in reasons(refused(path, out))["images/passwd"]


def test_zip_device_member_is_refused(tmp_path: Path, out: Path) -> None:
    path = tmp_path / "dev.zip"
    with zipfile.ZipFile(path, "w") as archive:
        node = zipfile.ZipInfo("null")
        node.external_attr = (stat.S_IFCHR | 0o666) << 16
        archive.writestr(node, b"")
    assert "device" in reasons(refused(path, out))["null"]


def test_duplicate_names_are_refused(tmp_path: Path, out: Path) -> None:
    path = tmp_path / "dup.zip"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns, but writes it
        make_zip(path, {"a.txt": b"1"})
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("a.txt", b"2")
            archive.writestr("./b.txt", b"1")
            archive.writestr("b.txt", b"2")  # the same file after normalisation
    assert reasons(refused(path, out)) == {
        "a.txt": "duplicate member name",
        "b.txt": "duplicate member name",
    }


def test_file_and_folder_of_the_same_name_are_refused(tmp_path: Path, out: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a": b"file", "a/b.txt": b"inside"})
    error = refused(archive, out)
    assert reasons(error) == {"a/b.txt": "its folder 'a' is also a file of the archive"}


def _patch_central_directory(path: Path, offset: int, value: bytes) -> None:
    """Overwrite a field of the (single) central directory entry."""
    data = bytearray(path.read_bytes())
    at = data.index(b"PK\x01\x02")
    data[at + offset : at + offset + len(value)] = value
    path.write_bytes(bytes(data))


def test_encrypted_member_is_refused(tmp_path: Path, out: Path) -> None:
    # zipfile cannot write encrypted members; set the 'encrypted' flag bit the way tools do.
    archive = make_zip(tmp_path / "enc.zip", {"secret.txt": b"x" * 100})
    _patch_central_directory(archive, 8, (0x1).to_bytes(2, "little"))
    assert "encrypted" in reasons(refused(archive, out))["secret.txt"]


def test_zip_bomb_is_refused_by_ratio(tmp_path: Path, out: Path) -> None:
    path = tmp_path / "bomb.zip"
    with (
        zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.bin", "w") as member,
    ):
        for _ in range(50):
            member.write(bytes(MiB))
    assert path.stat().st_size < MiB  # ~50 KB holding 50 MB
    error = refused(path, out, max_ratio=100)
    assert "compression ratio" in reasons(error)["zeros.bin"]
    assert "overall compression ratio" in reasons(error)[None]


def test_small_highly_compressible_files_pass_the_ratio_check(tmp_path: Path, out: Path) -> None:
    # 512 KiB of one letter compresses ~1000:1 but sits under the 1 MiB ratio floor.
    archive = make_zip(tmp_path / "a.zip", {"labels.txt": b"a" * (512 * 1024)})
    assert len(extract_archive(archive, out / "dest", ArchiveLimits(max_ratio=10))) == 1


def test_tar_gz_bomb_is_refused_by_overall_ratio(tmp_path: Path, out: Path) -> None:
    archive = make_tar(tmp_path / "bomb.tgz", {f"z{i}.bin": bytes(4 * MiB) for i in range(5)})
    error = refused(archive, out, max_ratio=50)
    assert "overall compression ratio" in reasons(error)[None]


def test_total_size_and_file_count_limits(tmp_path: Path, out: Path) -> None:
    archive = make_zip(
        tmp_path / "many.zip", {f"f{i}.txt": b"x" * 1000 for i in range(20)}, method=0
    )
    too_big = refused(archive, out, max_total_size=10_000)
    assert "uncompressed size 20000 exceeds" in reasons(too_big)[None]
    too_many = refused(archive, out, max_files=10)
    assert too_many.code == "hostile_archive"  # refused from the end record, before parsing
    too_large_file = refused(archive, out, max_file_size=999)
    assert len(reasons(too_large_file)) == 20


def test_tar_file_count_limit(tmp_path: Path, out: Path) -> None:
    archive = make_tar(tmp_path / "many.tar", {f"f{i}": b"x" for i in range(20)}, "w")
    assert "more than 10 files" in reasons(refused(archive, out, max_files=10))[None]


def test_zip_that_under_declares_a_size_is_refused(tmp_path: Path, out: Path) -> None:
    # The directory claims 10 bytes; the data inflates to 100 KB. Not a byte beyond the declared
    # size is ever written: zipfile stops there and its CRC check then fails.
    archive = make_zip(tmp_path / "liar.zip", {"liar.bin": bytes(100_000)})
    _patch_central_directory(archive, 24, (10).to_bytes(4, "little"))
    assert inspect_archive(archive).files[0].size == 10
    error = refused(archive, out, UnreadableArchive)
    assert error.code == "unreadable_archive"
    assert "liar.bin" in error.message


def test_writer_counts_real_bytes_not_declared_sizes(tmp_path: Path) -> None:
    # The write-side guard itself, with a source that produces more than its declared size.
    writer = _Writer(tmp_path, ArchiveLimits(), expected_total=10, on_progress=None)
    member = ArchiveMember("x.bin", "x.bin", "file", 10, None, skipped=False)
    with pytest.raises(HostileArchive, match="more data than its declared 10 bytes"):
        writer.write(member, io.BytesIO(bytes(3 * MiB)))
    truncated = ArchiveMember("y.bin", "y.bin", "file", 10, None, skipped=False)
    with pytest.raises(UnreadableArchive, match="truncated"):
        writer.write(truncated, io.BytesIO(b"12345"))


# --- hostile tars ------------------------------------------------------------------------------


def _tar_with(tmp_path: Path, build: Callable[[tarfile.TarInfo], None]) -> Path:
    path = tmp_path / "bad.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        info = tarfile.TarInfo("images/evil")
        build(info)
        archive.addfile(info)
        ok = tarfile.TarInfo("images/ok.jpg")
        ok.size = 4
        archive.addfile(ok, io.BytesIO(b"jpeg"))
    return path


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (
            lambda i: (setattr(i, "type", tarfile.SYMTYPE), setattr(i, "linkname", "/etc")),
            "symlink",
        ),
        (
            lambda i: (setattr(i, "type", tarfile.LNKTYPE), setattr(i, "linkname", "/etc/passwd")),
            "hardlink",
        ),
        (lambda i: setattr(i, "type", tarfile.CHRTYPE), "device"),
        (lambda i: setattr(i, "type", tarfile.BLKTYPE), "device"),
        (lambda i: setattr(i, "type", tarfile.FIFOTYPE), "fifo"),
    ],
)
def test_tar_links_and_special_files_are_refused(
    tmp_path: Path, out: Path, build: Callable[[tarfile.TarInfo], None], reason: str
) -> None:
    error = refused(_tar_with(tmp_path, build), out)
    assert reasons(error) == {"images/evil": f"{reason} members are not allowed"}


def test_tar_absolute_and_traversal_are_refused(tmp_path: Path, out: Path) -> None:
    archive = make_tar(tmp_path / "a.tar", {"/etc/cron.d/x": b"", "../../x": b"", "ok": b""}, "w")
    assert set(reasons(refused(archive, out))) == {"/etc/cron.d/x", "../../x"}


# --- unreadable --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "not a zip or tar"),
        (b"just some text, renamed to .zip" * 40, "not a zip or tar"),
        (b"PK\x03\x04" + bytes(100), "zip"),
        (b"\x1f\x8b" + bytes(100), "corrupt"),
        (b"\x28\xb5\x2f\xfd" + bytes(100), "zstd archives are not supported"),
    ],
)
def test_unreadable_archives(tmp_path: Path, out: Path, content: bytes, message: str) -> None:
    path = tmp_path / "data.zip"
    path.write_bytes(content)
    error = refused(path, out, UnreadableArchive)
    assert error.code == "unreadable_archive"
    assert message in error.message


def test_truncated_tar_gz_is_unreadable(tmp_path: Path, out: Path) -> None:
    archive = make_tar(tmp_path / "a.tgz", {"a.bin": bytes(range(256)) * 4000})
    archive.write_bytes(archive.read_bytes()[:2000])
    refused(archive, out, UnreadableArchive)


# --- extraction --------------------------------------------------------------------------------

DATASET = {
    "dataset/images/train/a.jpg": b"jpeg-a",
    "dataset/images/val/b.jpg": b"jpeg-b",
    "dataset/labels/train/a.txt": b"0 0.5 0.5 0.1 0.1\n",
    "dataset/data.yaml": b"names: [cat]\n",
}
JUNK = {
    "__MACOSX/dataset/._a.jpg": b"apple double",
    "dataset/.DS_Store": b"finder",
    "dataset/images/._b.jpg": b"resource fork",
}


def _check_extracted(dest: Path, written: list[Path]) -> None:
    assert sorted(written) == sorted(dest / name for name in DATASET)
    for name, data in DATASET.items():
        assert (dest / name).read_bytes() == data
    on_disk = {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file()}
    assert on_disk == set(DATASET)


def test_zip_with_nested_folders_and_junk(tmp_path: Path, out: Path) -> None:
    archive = make_zip(tmp_path / "upload.bin", {"dataset/": b"", **DATASET, **JUNK})
    listing = inspect_archive(archive)
    assert listing.format == "zip"
    assert {m.path for m in listing.files} == set(DATASET)
    assert listing.total_size == sum(len(d) for d in DATASET.values())
    progress: list[tuple[int, int]] = []
    written = extract_archive(
        archive, out / "dest", on_progress=lambda n, t: progress.append((n, t))
    )
    _check_extracted(out / "dest", written)
    assert progress[-1] == (listing.total_size, listing.total_size)
    assert [p.name for p in out.iterdir()] == ["dest"]  # no staging folder left over


@pytest.mark.parametrize(
    ("mode", "compression"),
    [("w:gz", "gzip"), ("w:bz2", "bzip2"), ("w:xz", "xz"), ("w", None)],
)
def test_tar_variants_with_nested_folders_and_junk(
    tmp_path: Path, out: Path, mode: str, compression: str | None
) -> None:
    # Named .zip on purpose: the format is detected from content.
    archive = make_tar(tmp_path / "upload.zip", {**DATASET, **JUNK}, mode)
    assert inspect_archive(archive).compression == compression
    _check_extracted(out / "dest", extract_archive(archive, out / "dest"))


def test_extracts_into_an_existing_empty_folder(tmp_path: Path, out: Path) -> None:
    (out / "dest").mkdir()
    archive = make_zip(tmp_path / "a.zip", DATASET)
    _check_extracted(out / "dest", extract_archive(archive, out / "dest"))


def test_refuses_a_non_empty_destination(tmp_path: Path, out: Path) -> None:
    (out / "dest").mkdir()
    (out / "dest" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        extract_archive(make_zip(tmp_path / "a.zip", DATASET), out / "dest")
    assert (out / "dest" / "keep.txt").read_text() == "mine"
