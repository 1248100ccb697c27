"""Start-up time of the `lensforge` command: each command run N times in a fresh subprocess, the
median (and min, max) wall time reported, with the median CPU time (user + system).

Commands: `lensforge --version`, `lensforge --help`, and `lensforge projects list` against a
real `lensforge server` started here on a temporary data directory (logged in with an API key,
so the measured run is one HTTP request plus the command's own start-up).

    .venv/bin/python benchmarks/cli_startup.py [--runs 11] [--compare-with OLD/src]

`--compare-with` also measures another checkout's code (its `src` folder, e.g. an older commit
unpacked with `git archive`) with this environment's packages, each of its runs alternating with
one of this code, so that both see the same load; the commands then start through
`python -c` (the same for both) instead of the `lensforge` executable.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PASSWORD = "correct horse battery staple"
LENSFORGE = Path(sys.executable).parent / "lensforge"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The entry point whichever the code: `run` where it exists, else the Typer app.
LAUNCHER = [
    sys.executable,
    "-c",
    "from lensforge.cli import main; getattr(main, 'run', main.app)()",
]


@dataclass
class Variant:
    name: str
    argv: list[str]
    env: dict[str, str]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def once(self, args: list[str]) -> None:
        """One run's wall time and CPU time (user + system); on a busy machine the CPU time
        is the steadier of the two."""
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([*self.argv, *args], env=self.env, check=True, capture_output=True)
        self.walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)


def measure(args: list[str], variants: list[Variant], runs: int) -> None:
    """`runs` runs of each variant, alternating, after one untimed warm-up each (the OS file
    cache, .pyc files)."""
    for variant in variants:
        subprocess.run([*variant.argv, *args], env=variant.env, check=True, capture_output=True)
        variant.walls, variant.cpus = [], []
    for _ in range(runs):
        for variant in variants:
            variant.once(args)


def start_server(work: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (work / "server.log").open("wb")
    process = subprocess.Popen(
        [str(LENSFORGE), "server", "--port", str(port), "--data-dir", str(work / "data")],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v1/ready", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit((work / "server.log").read_text())
        time.sleep(0.2)


def api_key(url: str) -> str:
    with httpx.Client(base_url=f"{url}/api/v1") as api:
        account = {"email": "bench@example.com", "password": PASSWORD}
        api.post("/auth/signup", json={**account, "display_name": "Bench"}).raise_for_status()
        token = api.post("/auth/login", json=account).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        api.post("/projects", json={"name": "bench"}, headers=headers).raise_for_status()
        created = api.post("/api-keys", json={"name": "bench"}, headers=headers)
        created.raise_for_status()
        return str(created.json()["secret"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--compare-with", type=Path, help="another checkout's src folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lensforge-cli-bench-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")}
        env |= {"LENSFORGE_CONFIG_DIR": str(work / "config"), "HOME": str(work)}
        server, url = start_server(work, env)
        try:
            client_env = env | {"LENSFORGE_URL": url, "LENSFORGE_API_KEY": api_key(url)}
            commands = [["--version"], ["--help"], ["projects", "list"]]
            variants = [Variant("this code", [str(LENSFORGE)], client_env)]
            if args.compare_with is not None:
                source = str(args.compare_with.resolve())
                variants = [
                    Variant("this code", LAUNCHER, client_env),
                    Variant(args.compare_with.name, LAUNCHER, client_env | {"PYTHONPATH": source}),
                ]
                if args.compare_with.name == "src":
                    variants[1].name = str(args.compare_with.parent.name)
            print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
            print(
                f"{'command':<26} {'code':<14} {'wall median':>11} {'min':>7} {'max':>7} "
                f"{'CPU median':>10}   ({args.runs} runs)"
            )
            for command in commands:
                measure(command, variants, args.runs)
                name = "lensforge " + " ".join(command)
                for variant in variants:
                    print(
                        f"{name:<26} {variant.name:<14} {statistics.median(variant.walls):>10.3f}s "
                        f"{min(variant.walls):>6.3f}s {max(variant.walls):>6.3f}s "
                        f"{statistics.median(variant.cpus):>9.3f}s"
                    )
            print(f"load average after: {os.getloadavg()[0]:.2f}")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
