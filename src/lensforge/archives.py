"""Safe extraction of the zip and tar archives users upload.

An archive is scanned whole before anything is written: one hostile member (an absolute path,
`..`, a link, a device, a bomb) refuses the whole archive, with every offending member listed.
Extraction then writes into a staging folder next to `dest` and renames it into place, so a
failure half-way leaves nothing behind. Declared sizes are not trusted while writing either.

Pure: no database, web framework or storage here, only the standard library.
"""

from __future__ import annotations

import lzma
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from lensforge.errors import BadRequest

MiB = 1024 * 1024
GiB = 1024 * MiB
_CHUNK = 1 * MiB
# Reported in error details; an archive with a million bad members needs no million-line answer.
_MAX_REPORTED_PROBLEMS = 1000
# Longest file name component on common filesystems (ext4, XFS, APFS, NTFS), in bytes.
_MAX_COMPONENT_BYTES = 255
# Generous upper bound on one central-directory entry (46 fixed bytes + name + extra + comment
# for real archives); a directory bigger than this per allowed file is refused before zipfile
# materialises it in memory.
_ZIP_DIRECTORY_BYTES_PER_FILE = 1024
_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")
_SUPPORTED_ZIP_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)

Compression = Literal["gzip", "bzip2", "xz"]
MemberKind = Literal["file", "directory", "symlink", "hardlink", "device", "fifo", "other"]
ProgressCallback = Callable[[int, int], None]


class HostileArchive(BadRequest):
    """The archive holds something that must never be extracted; nothing was written."""

    code = "hostile_archive"


class UnreadableArchive(BadRequest):
    """Not a zip or tar archive, an unsupported variant of one, or a corrupt one."""

    code = "unreadable_archive"


@dataclass(frozen=True, slots=True)
class ArchiveLimits:
    max_total_size: int = 50 * GiB
    max_file_size: int = 10 * GiB
    max_files: int = 200_000
    # Uncompressed : compressed. Checked overall and per file; see `ratio_floor`.
    max_ratio: float = 200.0
    # Ratios are judged only above this many uncompressed bytes: a small text file may
    # legitimately compress beyond the limit, and cannot hurt anyway.
    ratio_floor: int = 1 * MiB


@dataclass(frozen=True, slots=True)
class ArchiveMember:
    name: str  # exactly as stored in the archive
    path: str  # normalised relative POSIX path; where it would be written under `dest`
    kind: MemberKind
    size: int  # declared uncompressed size
    compressed_size: int | None  # zip only: tar members are compressed as one stream
    skipped: bool  # directory entries and OS junk (`__MACOSX/`, `.DS_Store`, `._*`)


@dataclass(frozen=True, slots=True)
class ArchiveListing:
    format: Literal["zip", "tar"]
    compression: Compression | None
    archive_size: int
    members: tuple[ArchiveMember, ...]

    @property
    def files(self) -> tuple[ArchiveMember, ...]:
        """The members extraction writes."""
        return tuple(m for m in self.members if not m.skipped)

    @property
    def total_size(self) -> int:
        return sum(m.size for m in self.files)


def inspect_archive(path: Path | str, limits: ArchiveLimits | None = None) -> ArchiveListing:
    """List an archive and check it against `limits` without writing anything.

    Raises HostileArchive (listing every offending member) or UnreadableArchive.
    """
    path = Path(path)
    limits = limits or ArchiveLimits()
    archive_format, compression = _detect(path)
    scan = _Scan(limits, path.stat().st_size)
    if archive_format == "zip":
        members = _scan_zip(path, scan)
    else:
        members = _scan_tar(path, compression, scan)
    scan.finish()
    return ArchiveListing(archive_format, compression, scan.archive_size, members)


def extract_archive(
    path: Path | str,
    dest: Path | str,
    limits: ArchiveLimits | None = None,
    *,
    on_progress: ProgressCallback | None = None,
) -> list[Path]:
    """Extract every file of a checked archive into `dest` (absent or empty); return their paths.

    `on_progress(bytes_written, total_bytes)` is called as data is written.
    """
    path, dest = Path(path), Path(dest)
    limits = limits or ArchiveLimits()
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"extraction target {dest} exists and is not an empty folder")
    listing = inspect_archive(path, limits)
    dest.parent.mkdir(parents=True, exist_ok=True)
    # Same parent, same filesystem: the final rename is atomic and never copies.
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", suffix=".partial", dir=dest.parent))
    try:
        writer = _Writer(staging, limits, listing.total_size, on_progress)
        if listing.format == "zip":
            _extract_zip(path, listing, writer)
        else:
            _extract_tar(path, listing, writer)
        staging.rename(dest)  # replaces an empty `dest` folder on POSIX
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [dest / member.path for member in listing.files]


# --- detection ---------------------------------------------------------------------------------


def _detect(path: Path) -> tuple[Literal["zip", "tar"], Compression | None]:
    """Decide by content: an extension says what the sender hoped, not what the file is."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError as exc:
        raise UnreadableArchive(f"cannot read the archive: {exc}") from exc
    if head.startswith(b"\x1f\x8b"):
        return "tar", "gzip"
    if head.startswith(b"BZh"):
        return "tar", "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "tar", "xz"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip", None
    if head[257:262] == b"ustar":
        return "tar", None
    for magic, name in (
        (b"\x28\xb5\x2f\xfd", "zstd"),
        (b"7z\xbc\xaf\x27\x1c", "7-Zip"),
        (b"Rar!\x1a\x07", "RAR"),
    ):
        if head.startswith(magic):
            raise UnreadableArchive(
                f"{name} archives are not supported; use zip, tar, tar.gz, tar.bz2 or tar.xz",
                details={"detected": name},
            )
    # Pre-POSIX tar headers have no magic; tarfile still validates their checksum.
    if len(head) == 512 and _is_plain_tar(path):
        return "tar", None
    raise UnreadableArchive(
        "the file is not a zip or tar archive (checked by content, not by name)"
    )


def _is_plain_tar(path: Path) -> bool:
    try:
        with tarfile.open(path, "r:"):
            return True
    except (tarfile.TarError, OSError, EOFError):
        return False


# --- scanning ----------------------------------------------------------------------------------


@dataclass
class _Scan:
    """Accumulates every problem of an archive; `finish` raises if there is any."""

    limits: ArchiveLimits
    archive_size: int
    problems: list[dict[str, Any]] = field(default_factory=list)
    total_size: int = 0
    file_count: int = 0
    # Set once an archive-wide limit is certainly exceeded: more members cannot change the
    # verdict, and for a compressed tar each further member costs decompression.
    hopeless: bool = False
    _paths: set[str] = field(default_factory=set)
    _dirs: set[str] = field(default_factory=set)

    def problem(self, member: str | None, reason: str) -> None:
        self.problems.append({"member": member, "reason": reason})

    def member(
        self, name: str, kind: MemberKind, size: int, compressed_size: int | None
    ) -> ArchiveMember:
        path = self._check_name(name)
        if kind not in ("file", "directory"):
            self.problem(name, f"{kind} members are not allowed")
        # Only regular files are ever written; directories are implied by the files' paths.
        skipped = kind != "file" or _is_junk(path)
        if path and not skipped:
            self._check_file(name, path, size, compressed_size)
        elif kind == "directory" and path:
            self._dirs.add(path)
        return ArchiveMember(name, path, kind, size, compressed_size, skipped)

    def _check_name(self, name: str) -> str:
        """The member's normalised relative path, or '' (with a problem) if it has none."""
        if _CONTROL_CHARS.search(name):
            self.problem(name, "name contains NUL or control characters")
            return ""
        if name.startswith(("/", "\\")) or _DRIVE_LETTER.match(name):
            self.problem(name, "absolute path")
            return ""
        # Windows tools write backslashes; treat them as separators so `..\\x` is caught too.
        normalised = posixpath.normpath(name.replace("\\", "/"))
        if normalised == ".." or normalised.startswith("../"):
            self.problem(name, "path escapes the archive ('..')")
            return ""
        if normalised == ".":
            return ""
        if any(len(part.encode()) > _MAX_COMPONENT_BYTES for part in normalised.split("/")):
            self.problem(name, f"a path component is longer than {_MAX_COMPONENT_BYTES} bytes")
            return ""
        return normalised

    def _check_file(self, name: str, path: str, size: int, compressed_size: int | None) -> None:
        limits = self.limits
        if path in self._paths:
            self.problem(name, "duplicate member name")
        self._paths.add(path)
        if size > limits.max_file_size:
            self.problem(name, f"{size} bytes, over the per-file limit of {limits.max_file_size}")
        if compressed_size is not None and size > limits.ratio_floor:
            ratio = size / max(compressed_size, 1)
            if ratio > limits.max_ratio:
                self.problem(
                    name, f"compression ratio {ratio:.0f}:1 exceeds {limits.max_ratio:.0f}:1"
                )
        self.total_size += size
        self.file_count += 1
        if self.file_count > limits.max_files or self.total_size > limits.max_total_size:
            self.hopeless = True
        # The archive's size is fixed, so the overall ratio only grows from here on.
        if self.total_size > max(limits.ratio_floor, limits.max_ratio * self.archive_size):
            self.hopeless = True

    def finish(self) -> None:
        limits = self.limits
        if self.file_count > limits.max_files:
            self.problem(None, f"more than {limits.max_files} files")
        if self.total_size > limits.max_total_size:
            self.problem(
                None,
                f"uncompressed size {self.total_size} exceeds the limit of "
                f"{limits.max_total_size} bytes",
            )
        ratio = self.total_size / max(self.archive_size, 1)
        if self.total_size > limits.ratio_floor and ratio > limits.max_ratio:
            self.problem(
                None, f"overall compression ratio {ratio:.0f}:1 exceeds {limits.max_ratio:.0f}:1"
            )
        for path in sorted(self._paths):
            for parent in _parents(path):
                if parent in self._paths:
                    self.problem(path, f"its folder {parent!r} is also a file of the archive")
        for path in sorted(self._dirs & self._paths):
            self.problem(path, "the archive holds both a file and a folder of this name")
        if self.problems:
            first = self.problems[0]
            where = f"member {first['member']!r}: " if first["member"] is not None else ""
            more = len(self.problems) - 1
            raise HostileArchive(
                f"the archive was refused: {where}{first['reason']}"
                + (f" (and {more} more problems)" if more else ""),
                details={
                    "problems": self.problems[:_MAX_REPORTED_PROBLEMS],
                    "problem_count": len(self.problems),
                },
            )


def _parents(path: str) -> Iterator[str]:
    parent = posixpath.dirname(path)
    while parent:
        yield parent
        parent = posixpath.dirname(parent)


def _is_junk(path: str) -> bool:
    if not path:
        return False
    parts = path.split("/")
    return "__MACOSX" in parts or parts[-1] == ".DS_Store" or parts[-1].startswith("._")


def _scan_zip(path: Path, scan: _Scan) -> tuple[ArchiveMember, ...]:
    entries, directory_size = _zip_directory_size(path)
    limits = scan.limits
    if entries > limits.max_files or directory_size > limits.max_files * (
        _ZIP_DIRECTORY_BYTES_PER_FILE
    ):
        # Refused before zipfile builds one object per entry in memory.
        raise HostileArchive(
            f"the archive declares {entries} entries in a {directory_size}-byte directory; "
            f"the limit is {limits.max_files} files",
            details={
                "problems": [{"member": None, "reason": "too many entries"}],
                "problem_count": 1,
            },
        )
    members = []
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.compress_type not in _SUPPORTED_ZIP_METHODS:
                    raise UnreadableArchive(
                        f"member {info.filename!r} uses zip compression method "
                        f"{info.compress_type}, which is not supported",
                        details={"member": info.filename, "method": info.compress_type},
                    )
                if info.flag_bits & 0x1:
                    scan.problem(info.filename, "encrypted members are not supported")
                kind = _zip_kind(info)
                members.append(scan.member(info.filename, kind, info.file_size, info.compress_size))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
        raise UnreadableArchive(f"the zip archive is corrupt: {exc}") from exc
    return tuple(members)


def _zip_directory_size(path: Path) -> tuple[int, int]:
    """(entries, central directory bytes) from the end record, read without parsing entries."""
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        tail_size = min(size, 22 + 0xFFFF)  # end record + longest possible comment
        handle.seek(size - tail_size)
        tail = handle.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise UnreadableArchive("the zip archive has no end-of-directory record")
        entries = int.from_bytes(tail[at + 10 : at + 12], "little")
        directory_size = int.from_bytes(tail[at + 12 : at + 16], "little")
        if entries != 0xFFFF and directory_size != 0xFFFFFFFF:
            return entries, directory_size
        # Zip64: a locator just before the end record points at the 64-bit end record.
        locator = tail[at - 20 : at] if at >= 20 else b""
        if not locator.startswith(b"PK\x06\x07"):
            return entries, directory_size
        handle.seek(int.from_bytes(locator[8:16], "little"))
        record = handle.read(56)
        if not record.startswith(b"PK\x06\x06") or len(record) < 56:
            raise UnreadableArchive("the zip64 end-of-directory record is missing or corrupt")
        return int.from_bytes(record[32:40], "little"), int.from_bytes(record[40:48], "little")


def _zip_kind(info: zipfile.ZipInfo) -> MemberKind:
    # Unix tools keep st_mode in the high 16 bits; DOS tools leave them zero.
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symlink"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        return "device"
    if stat.S_ISFIFO(mode):
        return "fifo"
    return "directory" if info.is_dir() else "file"


def _tar_mode(compression: Compression | None) -> Literal["r:", "r:gz", "r:bz2", "r:xz"]:
    modes: dict[Compression | None, Literal["r:", "r:gz", "r:bz2", "r:xz"]] = {
        None: "r:",
        "gzip": "r:gz",
        "bzip2": "r:bz2",
        "xz": "r:xz",
    }
    return modes[compression]


# Everything the decompressors and tarfile raise on bad input (bz2 raises a bare OSError).
_TAR_READ_ERRORS = (tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


def _scan_tar(
    path: Path, compression: Compression | None, scan: _Scan
) -> tuple[ArchiveMember, ...]:
    members = []
    try:
        with tarfile.open(path, _tar_mode(compression)) as archive:
            for info in archive:
                members.append(scan.member(info.name, _tar_kind(info), info.size, None))
                if scan.hopeless:
                    break
    except _TAR_READ_ERRORS as exc:
        raise UnreadableArchive(f"the tar archive is corrupt or not a tar: {exc}") from exc
    return tuple(members)


def _tar_kind(info: tarfile.TarInfo) -> MemberKind:
    if info.isreg():
        return "file"
    if info.isdir():
        return "directory"
    if info.issym():
        return "symlink"
    if info.islnk():
        return "hardlink"
    if info.ischr() or info.isblk():
        return "device"
    if info.isfifo():
        return "fifo"
    return "other"


# --- extraction --------------------------------------------------------------------------------


@dataclass
class _Writer:
    """Writes members under `root`, counting real bytes against declared sizes and limits."""

    root: Path
    limits: ArchiveLimits
    expected_total: int
    on_progress: ProgressCallback | None
    written: int = 0

    def __post_init__(self) -> None:
        self.root = self.root.resolve()

    def write(self, member: ArchiveMember, source: IO[bytes]) -> None:
        target = self.root / member.path
        # Defence in depth: the scan already refused every name that could leave `root`.
        if not target.resolve().is_relative_to(self.root):
            raise _hostile(member.name, "would be written outside the target folder")
        target.parent.mkdir(parents=True, exist_ok=True)
        with target.open("xb") as out:
            self._copy(member, source, out)

    def _copy(self, member: ArchiveMember, source: IO[bytes], out: IO[bytes]) -> None:
        # Like shutil.copyfileobj, but a directory that under-declares a size (a classic bomb
        # trick) is caught by the bytes actually produced, not by what the archive claims.
        count = 0
        while True:
            try:
                chunk = source.read(_CHUNK)
            except (zipfile.BadZipFile, *_TAR_READ_ERRORS) as exc:
                raise UnreadableArchive(
                    f"member {member.name!r} is corrupt: {exc}", details={"member": member.name}
                ) from exc
            if not chunk:
                break
            count += len(chunk)
            self.written += len(chunk)
            if count > member.size:
                raise _hostile(
                    member.name, f"holds more data than its declared {member.size} bytes"
                )
            if self.written > self.limits.max_total_size:
                raise _hostile(member.name, "expands the archive beyond the total size limit")
            out.write(chunk)
            if self.on_progress is not None:
                self.on_progress(self.written, self.expected_total)
        if count < member.size:
            raise UnreadableArchive(
                f"member {member.name!r} is truncated: {count} of {member.size} bytes",
                details={"member": member.name},
            )


def _extract_zip(path: Path, listing: ArchiveListing, writer: _Writer) -> None:
    with zipfile.ZipFile(path) as archive:
        for info, member in zip(archive.infolist(), listing.members, strict=True):
            if member.skipped:
                continue
            try:
                source = archive.open(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError) as exc:
                raise UnreadableArchive(
                    f"member {member.name!r} cannot be read: {exc}",
                    details={"member": member.name},
                ) from exc
            with source:
                writer.write(member, source)


def _extract_tar(path: Path, listing: ArchiveListing, writer: _Writer) -> None:
    try:
        with tarfile.open(path, _tar_mode(listing.compression)) as archive:
            for info, member in zip(archive, listing.members, strict=True):
                if member.skipped:
                    continue
                # The standard library's own verdict, in addition to the scan above.
                try:
                    tarfile.data_filter(info, str(writer.root))
                except tarfile.FilterError as exc:
                    raise _hostile(info.name, str(exc)) from exc
                source = archive.extractfile(info)
                if source is None:  # the scan admits regular files only
                    raise _hostile(info.name, "not a regular file")
                with source:
                    writer.write(member, source)
    except (tarfile.ReadError, EOFError, zlib.error, lzma.LZMAError) as exc:
        raise UnreadableArchive(f"the tar archive is corrupt: {exc}") from exc


def _hostile(member: str, reason: str) -> HostileArchive:
    return HostileArchive(
        f"the archive was refused: member {member!r} {reason}",
        details={"problems": [{"member": member, "reason": reason}], "problem_count": 1},
    )
