"""A deployment updated, then rolled back, while 8 clients keep sending requests: none fails,
and the answers move from one version to the other once the new one is warm."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import numpy as np

from lensforge.config import RateLimitSettings, Settings
from lensforge.serving.protocol import encode_infer_request
from tests.serve.conftest import World, running_world

CLIENTS = 8


def test_update_and_rollback_under_load_fail_no_request(settings: Settings, tmp_path: Path) -> None:
    unlimited = RateLimitSettings(
        key_per_second=1e6, key_burst=10**6, organization_per_second=1e6, organization_burst=10**6
    )
    with running_world(settings, tmp_path, rate_limits=unlimited) as world:
        _update_and_rollback(world)


def _update_and_rollback(world: World) -> None:
    body, length = encode_infer_request({"images": np.zeros((1, 3, 64, 64), np.float32)})
    headers = {**world.headers(), "Inference-Header-Content-Length": str(length)}
    url = f"{world.url}/v2/models/detector/infer"
    stop = threading.Event()
    failures: list[str] = []
    versions: Counter[str] = Counter()
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(headers=headers, timeout=10) as http:
            while not stop.is_set():
                response = http.post(url, content=body)
                with lock:
                    if response.status_code != 200:
                        failures.append(f"{response.status_code} {response.text[:200]}")
                    else:
                        # The model version answering is in the response header's JSON.
                        header = response.content[
                            : int(response.headers["Inference-Header-Content-Length"])
                        ]
                        versions[httpx.Response(200, content=header).json()["model_version"]] += 1

    def seen(version: str, at_least: int) -> None:
        deadline = time.monotonic() + 15
        start = versions[version]
        while versions[version] < start + at_least:
            assert time.monotonic() < deadline, f"version {version} never answered: {versions}"
            time.sleep(0.02)

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    try:
        seen("1", 20)
        world.add_version(2, 0.6)
        world.set_current(2)  # the update, as the API makes it
        seen("2", 50)
        world.set_current(1)  # the rollback
        seen("1", 50)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert failures == []
    assert versions["1"] > 0
    assert versions["2"] > 0
