"""Which data directory the server-side commands act on (`up`, `server`, `worker`, `users`,
`db`, `trainers install`): one rule for all of them, so that `lensforge users create-admin` writes
into the database the running server reads.

Highest priority first:

1. `--data-dir DIR`, then `LENSFORGE_DATA_DIR`: always win.
2. Otherwise the candidates: the nearest `.lensforge` folder in the current directory or one of
   its parents (the project-local data of `./scripts/up`, found the way git finds `.git`), and
   the data directory of each running `lensforge up`/`server` of this user (each writes a small
   record, see `ServerRecord`). One distinct candidate is used; several are refused, naming them.
3. None: the platform's default (`~/.local/share/lensforge` on Linux).

A command that needs an existing database (all but `up` and `server`) refuses when the embedded
SQLite database does not exist where it would look, unless the location was given explicitly:
writing an account into a database no server reads is the mistake this prevents.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_dir, user_state_dir

from lensforge.cli.output import console, fail
from lensforge.config import Settings

PROJECT_FOLDER = ".lensforge"
ENV_DATA_DIR = "LENSFORGE_DATA_DIR"
HOW_TO_POINT = f"point to it with --data-dir DIR or {ENV_DATA_DIR}=DIR"


@dataclass(frozen=True)
class DataDirChoice:
    path: Path
    # Where it came from, for people: "--data-dir", "the running server at http://...", ...
    source: str
    explicit: bool


@dataclass(frozen=True)
class ServerRecord:
    """What a running `lensforge up`/`server` tells the other commands of its user: a JSON file
    `<user state dir>/servers/<pid>.json`, removed when the server stops (a record whose process
    is gone is ignored and removed)."""

    pid: int
    data_dir: Path
    url: str

    @staticmethod
    def folder() -> Path:
        return Path(user_state_dir("lensforge")) / "servers"


def running_servers() -> list[ServerRecord]:
    records = []
    folder = ServerRecord.folder()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            record = ServerRecord(int(raw["pid"]), Path(raw["data_dir"]), str(raw["url"]))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if _alive(record.pid):
            records.append(record)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return records


@contextlib.contextmanager
def server_record(settings: Settings) -> Iterator[None]:
    """Announce this process as the server of `settings.data_dir` while the block runs."""
    folder = ServerRecord.folder()
    path = folder / f"{os.getpid()}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "pid": os.getpid(),
            "data_dir": str(settings.data_dir),
            "url": settings.public_url,
        }
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    except OSError as exc:  # a read-only home must not stop the server
        console.print(
            f"[yellow]could not write {path} ({exc}); other commands will not find "
            "this server's data directory by themselves[/]"
        )
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


def project_folder(cwd: Path) -> Path | None:
    """The nearest `.lensforge` folder in `cwd` or above it."""
    for folder in (cwd, *cwd.parents):
        candidate = folder / PROJECT_FOLDER
        if candidate.is_dir():
            return candidate
    return None


def resolve_data_dir(
    option: Path | None,
    *,
    with_servers: bool = True,
    cwd: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> DataDirChoice:
    """The data directory by the rule above; exits with a message when it is ambiguous."""
    environ = os.environ if environ is None else environ
    cwd = cwd or Path.cwd()
    if option is not None:
        return DataDirChoice(_absolute(option, cwd), "--data-dir", explicit=True)
    if environ.get(ENV_DATA_DIR):
        return DataDirChoice(_absolute(Path(environ[ENV_DATA_DIR]), cwd), ENV_DATA_DIR, True)
    candidates: dict[Path, str] = {}
    local = project_folder(cwd)
    if local is not None:
        candidates[local.resolve()] = f"{PROJECT_FOLDER} found from the current directory"
    for server in running_servers() if with_servers else []:
        where = server.data_dir.resolve()
        candidates.setdefault(where, f"the running server at {server.url} (pid {server.pid})")
    if len(candidates) > 1:
        listed = "; ".join(f"{path} ({source})" for path, source in candidates.items())
        fail(
            f"several Lensforge data directories could be meant: {listed}. Say which: "
            f"{HOW_TO_POINT}"
        )
    if candidates:
        path, source = next(iter(candidates.items()))
        return DataDirChoice(path, source, explicit=False)
    return DataDirChoice(Path(user_data_dir("lensforge")), "the default", explicit=False)


def server_settings(
    option: Path | None, *, needs_database: bool, with_servers: bool = True
) -> Settings:
    """Settings on the resolved data directory. With `needs_database`, refuses an embedded
    database that does not exist yet unless its location was given explicitly."""
    choice = resolve_data_dir(option, with_servers=with_servers)
    settings = Settings(data_dir=choice.path)
    embedded = not settings.database.url
    database = settings.data_dir / "lensforge.db"
    if needs_database and embedded and not choice.explicit and not database.exists():
        fail(
            f"no Lensforge database in {choice.path} ({choice.source}): no server has run "
            f"there. Start one with `lensforge up` (or ./scripts/up), or, if your data lives "
            f"elsewhere, {HOW_TO_POINT}"
        )
    return settings


def describe_database(settings: Settings) -> str:
    """The database's URL without its password, for the line saying what a command used."""
    if not settings.database.url:
        return str(settings.data_dir / "lensforge.db")
    from sqlalchemy.engine import make_url

    return make_url(settings.database.url).render_as_string(hide_password=True)


def _absolute(path: Path, cwd: Path) -> Path:
    path = path.expanduser()
    return path if path.is_absolute() else (cwd / path).resolve()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
