"""Start-up time of the `lensforge` command: each command run N times in a fresh subprocess, the
median (and min, max) wall time reported, with the median CPU time (user + system).

Commands: `lensforge --version`, `lensforge --help`, and `lensforge projects list` against a
real `lensforge server` started here on a temporary data directory (logged in with an API key,
so the measured run is one HTTP request plus the command's own start-up).

    .venv/bin/python benchmarks/cli_startup.py [--runs 11]
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
from pathlib import Path

import httpx

PASSWORD = "correct horse battery staple"
LENSFORGE = Path(sys.executable).parent / "lensforge"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def timed_runs(args: list[str], env: dict[str, str], runs: int) -> tuple[list[float], list[float]]:
    """Wall time and CPU time (user + system) of each run, after one untimed warm-up (the OS
    file cache, .pyc files). On a busy machine the CPU time is the steadier of the two."""
    subprocess.run([str(LENSFORGE), *args], env=env, check=True, capture_output=True)
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run([str(LENSFORGE), *args], env=env, check=True, capture_output=True)
        walls.append(time.perf_counter() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return walls, cpus


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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lensforge-cli-bench-") as tmp:
        work = Path(tmp)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LENSFORGE_")}
        env |= {"LENSFORGE_CONFIG_DIR": str(work / "config"), "HOME": str(work)}
        server, url = start_server(work, env)
        try:
            client_env = env | {"LENSFORGE_URL": url, "LENSFORGE_API_KEY": api_key(url)}
            commands = [["--version"], ["--help"], ["projects", "list"]]
            print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
            print(
                f"{'command':<28} {'wall median':>12} {'min':>8} {'max':>8} {'CPU median':>11}"
                f"   ({args.runs} runs)"
            )
            for command in commands:
                walls, cpus = timed_runs(command, client_env, args.runs)
                name = "lensforge " + " ".join(command)
                print(
                    f"{name:<28} {statistics.median(walls):>11.3f}s {min(walls):>7.3f}s "
                    f"{max(walls):>7.3f}s {statistics.median(cpus):>10.3f}s"
                )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
