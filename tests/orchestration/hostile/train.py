"""A hostile trainer (standard library only): it tries to read the server's secrets, database
and objects, to find secrets in its environment and to write outside its own folders, and
writes what happened to `hostile.json` in its work folder (and to stdout, the job's log).

The paths to try come in the job's config (`basic.targets`), as a real attacker would guess
them from the conventional layout."""

import json
import os
import sqlite3
import sys


def attempt(action):
    try:
        result = action()
    except Exception as exc:  # what stopped it
        return f"refused: {type(exc).__name__}: {exc}"
    return f"SUCCEEDED: {result!r}"[:300]


def read(path):
    with open(path, "rb") as handle:
        return handle.read(64)


def query(path):
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return db.execute("SELECT count(*) FROM sqlite_master").fetchone()


def write(path):
    with open(path, "ab") as handle:
        handle.write(b"pwned")
    return path


def main():
    targets = json.loads(os.environ["LENSFORGE_CONFIG"])["basic"]["targets"]
    results = {
        "uid": os.getuid(),
        "gid": os.getgid(),
        "groups": os.getgroups(),
        "read secret key": attempt(lambda: read(targets["secret_key"])),
        "open database": attempt(lambda: query(targets["database"])),
        "read database file": attempt(lambda: read(targets["database"])),
        "list objects": attempt(lambda: os.listdir(targets["objects"])),
        "list data directory": attempt(lambda: os.listdir(targets["data_dir"])),
        "list jobs": attempt(lambda: os.listdir(targets["jobs"])),
        "env secrets": sorted(name for name in os.environ if name in targets["secret_variables"]),
        "env passed": sorted(name for name in os.environ if name in targets["passed_variables"]),
    }
    for name, path in targets["writes"].items():
        results[f"write {name}"] = attempt(lambda path=path: write(path))
    results["write own work folder"] = attempt(lambda: write("own.txt"))
    tmp = os.environ.get("TMPDIR", "/tmp")
    results["write own tmp"] = attempt(lambda: write(os.path.join(tmp, "x")))
    with open("hostile.json", "w") as out:
        json.dump(results, out)
    print("hostile: " + json.dumps(results), flush=True)


if __name__ == "__main__":
    sys.exit(main())
