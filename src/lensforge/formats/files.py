"""One walk over a dataset directory, and the path lookups every reader needs.

The directory is walked once (`os.walk`, symlinks neither followed nor listed, hidden entries
and `__MACOSX` skipped); every later question (does this file exist, what is under this folder,
which files have this base name) is answered from memory, so pairing is never quadratic.

An archive that wraps everything in one top folder (`mydata/data.yaml`) is read from inside that
folder: `FileIndex.prefix` holds the folder, and `display()` adds it back for messages.
"""

from __future__ import annotations

import bisect
import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from lensforge.formats.errors import DatasetFormatError
from lensforge.formats.images import ImagePolicy
from lensforge.formats.model import Split

_IGNORED_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})
_SPLIT_ALIASES: dict[str, Split] = {
    "train": "train",
    "training": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
    "testing": "test",
}
_SPLIT_PATTERN = re.compile(r"^(?:obj_)?([a-z]+?)(?:[-_]?\d{2,4})?(?:_data)?$")
UNSPLIT_NAMES = frozenset({"default", "all", "unsplit"})


def normalize_split(name: str) -> Split | None:
    """`valid` -> `val`, `train2017` -> `train`, CVAT's `obj_train_data` -> `train`; else None."""
    match = _SPLIT_PATTERN.match(name.strip().lower())
    return _SPLIT_ALIASES.get(match.group(1)) if match else None


def is_split_name(name: str) -> bool:
    return normalize_split(name) is not None


def _ignored(name: str) -> bool:
    return name.startswith(".") or name in _IGNORED_NAMES


_LAYOUT_FOLDERS = frozenset({"images", "labels", "annotations", "jpegimages", "imagesets"})
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def _is_wrapper(folder: Path) -> bool:
    """A folder that only wraps a dataset: not a split or layout folder, no images directly
    inside (a lone class folder of an ImageFolder holds images)."""
    if is_split_name(folder.name) or folder.name.lower() in _LAYOUT_FOLDERS | UNSPLIT_NAMES:
        return False
    try:
        return not any(
            e.name.lower().endswith(_IMAGE_SUFFIXES) for e in os.scandir(folder) if e.is_file()
        )
    except OSError:
        return False


def effective_root(path: Path) -> tuple[Path, str]:
    """Descend through single wrapping folders; returns the folder and the prefix it adds."""
    root = path
    prefix = ""
    while True:
        try:
            entries = [e for e in os.scandir(root) if not _ignored(e.name)]
        except OSError as exc:
            raise DatasetFormatError(f"cannot read directory {root}: {exc}") from exc
        if (
            len(entries) == 1
            and entries[0].is_dir(follow_symlinks=False)
            and _is_wrapper(root / entries[0].name)
        ):
            root = root / entries[0].name
            prefix += entries[0].name + "/"
            continue
        return root, prefix


class FileIndex:
    """All regular files under a directory, as sorted relative POSIX paths."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        unwrap: bool = True,
        image_policy: ImagePolicy | None = None,
    ) -> None:
        base = Path(path)
        # Travels with the files so every reader (and readers calling readers) applies it.
        self.image_policy = image_policy or ImagePolicy()
        if not base.is_dir():
            raise DatasetFormatError(f"{base} is not a directory")
        self.base = base
        self.root, self.prefix = effective_root(base) if unwrap else (base, "")
        files: list[str] = []
        dirs: set[str] = {""}
        for current, dirnames, filenames in os.walk(self.root, followlinks=False):
            rel_dir = os.path.relpath(current, self.root).replace(os.sep, "/")
            rel_dir = "" if rel_dir == "." else rel_dir
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not _ignored(d) and not os.path.islink(os.path.join(current, d))
            )
            for d in dirnames:
                dirs.add(posixpath.join(rel_dir, d))
            for name in filenames:
                if _ignored(name) or os.path.islink(os.path.join(current, name)):
                    continue
                files.append(posixpath.join(rel_dir, name))
        files.sort()
        self.files: list[str] = files
        self.dirs: frozenset[str] = frozenset(dirs)
        self._set = frozenset(files)
        self._lower: dict[str, str] = {}
        self._dirs_lower: dict[str, str] = {}
        self._by_base: dict[str, list[str]] = {}
        for f in files:
            self._lower.setdefault(f.lower(), f)
            self._by_base.setdefault(posixpath.basename(f).lower(), []).append(f)
        for d in sorted(dirs):
            self._dirs_lower.setdefault(d.lower(), d)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def display(self, rel: str) -> str:
        """The path as the user sees it: relative to the directory that was given."""
        return self.prefix + rel

    def exists(self, rel: str) -> bool:
        return rel in self._set

    def find(self, rel: str) -> str | None:
        """The file at `rel`, exactly or else ignoring case (archives made on Windows/macOS)."""
        rel = normalize_relative(rel)
        if rel in self._set:
            return rel
        return self._lower.get(rel.lower())

    def find_dir(self, rel: str) -> str | None:
        rel = normalize_relative(rel).rstrip("/")
        if rel in self.dirs:
            return rel
        return self._dirs_lower.get(rel.lower())

    def under(self, folder: str) -> list[str]:
        """Files below `folder` (recursively), sorted; `""` means every file."""
        if not folder:
            return list(self.files)
        prefix = folder.rstrip("/") + "/"
        start = bisect.bisect_left(self.files, prefix)
        end = bisect.bisect_left(self.files, prefix + "\U0010ffff")
        return self.files[start:end]

    def children(self, folder: str) -> list[str]:
        """Direct sub-folder names of `folder`, sorted."""
        depth = 0 if not folder else folder.count("/") + 1
        prefix = folder.rstrip("/") + "/" if folder else ""
        return sorted(
            d.rsplit("/", 1)[-1]
            for d in self.dirs
            if d and d.startswith(prefix) and d.count("/") == depth
        )

    def files_in(self, folder: str) -> list[str]:
        """Files directly inside `folder`."""
        return [f for f in self.under(folder) if posixpath.dirname(f) == folder.rstrip("/")]

    def by_basename(self, name: str) -> list[str]:
        return self._by_base.get(name.lower(), [])

    def with_suffix(self, *suffixes: str) -> Iterator[str]:
        lowered = tuple(s.lower() for s in suffixes)
        return (f for f in self.files if f.lower().endswith(lowered))


def normalize_relative(raw: str) -> str:
    """Backslashes to slashes, `./` and duplicate slashes removed (`..` kept: callers decide)."""
    text = raw.strip().replace("\\", "/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    return "/".join(parts)


def is_inside(rel: str) -> bool:
    """True when a normalised relative path stays inside the dataset."""
    return bool(rel) and not rel.startswith("/") and ".." not in rel.split("/")


def suffixes(raw: str) -> Iterable[str]:
    """`/home/me/data/images/train` -> `home/me/...`, ..., `images/train`, `train`: the tails
    of a path from another machine, longest first, for re-rooting it in the dataset."""
    parts = [p for p in normalize_relative(raw).split("/") if p != ".." and not p.endswith(":")]
    for i in range(len(parts)):
        yield "/".join(parts[i:])


def split_from_path(rel: str) -> tuple[Split | None, str | None]:
    """The split a path's folders name (`images/train/a.jpg`, `train/images/a.jpg`,
    `obj_train_data/a.jpg`), with the folder name as the source used it."""
    for part in rel.split("/")[:-1]:
        split = normalize_split(part)
        if split is not None:
            return split, part
        if part.lower() in UNSPLIT_NAMES:
            return None, part
    return None, None


_LAYOUT_DIRS = frozenset({"images", "jpegimages", "imgs"})


def logical_name(rel: str) -> str:
    """An image's name without its layout folders: everything up to the last `images/`
    folder goes, then a split folder right after it (`images/train/sub/a.jpg` -> `sub/a.jpg`,
    `train/images/a.jpg` -> `a.jpg`, `obj_train_data/a.jpg` -> `a.jpg`)."""
    parts = rel.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i].lower() in _LAYOUT_DIRS:
            parts = parts[i + 1 :]
            break
    if len(parts) > 1 and (is_split_name(parts[0]) or parts[0].lower() in UNSPLIT_NAMES):
        parts = parts[1:]
    return "/".join(parts)


def relative_to(rel: str, folder: str) -> str:
    """`rel` relative to `folder` (which contains it)."""
    return rel[len(folder) + 1 :] if folder else rel


def head_text(path: Path, size: int = 1 << 16) -> str:
    """The first `size` bytes of a file as text (undecodable bytes replaced); "" if unreadable."""
    try:
        with open(path, "rb") as fh:
            return fh.read(size).decode("utf-8", errors="replace")
    except OSError:
        return ""
