"""Two real `lensforge serve` replicas behind one database, one object store and one Redis
(issue 14, "done when"): a key answers on both, revoking it refuses it on both within seconds,
and a deployment's rate limit is one budget across both."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest
from sqlalchemy.orm import Session, sessionmaker

from lensforge.auth.api_keys import revoke_api_key
from lensforge.config import Settings
from lensforge.kit.db import transaction
from lensforge.models import ApiKey
from tests.serve.ops_support import add_key, add_member, free_port, redis_url, sessions
from tests.serve.processes import (
    LENSFORGE,
    answers,
    clean_env,
    deploy_detector,
    infer,
    infer_status,
    running,
    wait_for,
)

__all__ = ["redis_url", "sessions"]  # the fixtures

# SQLite only: the one backend where two processes sharing the database is delicate (file
# locks); PostgreSQL would repeat the same ~15 s of process start-up for little more.
pytestmark = [
    pytest.mark.xdist_group("subprocess-server"),
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def replicas(settings: Settings, redis_url: str, tmp_path: Path) -> Iterator[list[str]]:
    """Two `lensforge serve` processes (own data directories, so own usage journals) sharing
    the test's database, its local object store and a private Redis."""
    assert settings.storage.local.root is not None
    bases = []
    with ExitStack() as stack:
        started = []
        for name in ("one", "two"):
            port = free_port()
            env = clean_env(
                env="test",
                data_dir=str(tmp_path / name),
                database__url=settings.database_url,
                security__secret_key=settings.secret_key,
                storage__backend="local",
                storage__local__root=str(settings.storage.local.root),
                serving__redis_url=redis_url,
                serving__key_cache_seconds="0.5",
                serving__refresh_interval_seconds="0.2",
                serving__replica_name=name,
                serving__intra_op_threads="1",
            )
            argv = [LENSFORGE, "serve", "--port", str(port)]
            started.append(stack.enter_context(running(argv, env, tmp_path / f"{name}.log")))
            bases.append(f"http://127.0.0.1:{port}")
        for base, process in zip(bases, started, strict=True):
            wait_for(
                f"{base} to be ready",
                lambda b=base: answers(f"{b}/v2/health/ready"),
                30,
                process.log,
            )
        yield bases


def _code(response: httpx.Response) -> tuple[int, str | None]:
    return response.status_code, response.json().get("code")


def test_two_replicas_share_keys_revocations_and_rate_limits(
    replicas: list[str], sessions: sessionmaker[Session], settings: Settings, tmp_path: Path
) -> None:
    owner = add_member(sessions, "standard_engineer")
    burst = 4
    deploy_detector(sessions, settings, owner, "Detector", tmp_path / "models")
    deploy_detector(
        sessions,
        settings,
        owner,
        "Limited",
        tmp_path / "models",
        rate_limit_per_second=0.01,  # no token comes back within the test
        rate_limit_burst=burst,
    )
    key_id, secret = add_key(sessions, owner)
    for base in replicas:  # each replica finds the new deployments by itself
        for name in ("Detector", "Limited"):
            wait_for(
                f"{base} to answer for {name}",
                lambda b=base, n=name: infer_status(b, n, secret) == 200,
                15,
            )
        answer = infer(base, "Detector", secret).json()
        assert answer["deployment"] == "Detector"
        assert answer["results"][0]["detections"][0]["class_name"] == "dog"

    # Rate limits: one budget for a key across both replicas (a fresh key, so that only the
    # requests counted here spend its tokens).
    _, limited = add_key(sessions, owner)
    passed = [infer(replicas[i % 2], "Limited", limited) for i in range(burst)]
    assert [r.status_code for r in passed] == [200] * burst, [r.text for r in passed]
    remaining = [r.headers["RateLimit"].split(";t=")[0] for r in passed]
    assert remaining == [f'"key";r={left}' for left in range(burst - 1, -1, -1)]
    for base in replicas:
        refused = infer(base, "Limited", limited)
        assert _code(refused) == (429, "rate_limited"), refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.headers["RateLimit-Policy"].startswith(f'"key";q={burst};')
        assert refused.headers["RateLimit"].startswith('"key";r=0;')

    # Revocation: both replicas refuse the key once their short key cache (0.5 s) expires.
    with transaction(sessions) as session:
        key = session.get(ApiKey, key_id)
        assert key is not None
        revoke_api_key(session, key)
    for base in replicas:
        wait_for(
            f"{base} to refuse the revoked key",
            lambda b=base: infer_status(b, "Detector", secret) == 401,
            3,
        )
        assert _code(infer(base, "Detector", secret)) == (401, "api_key_revoked")
        assert _code(infer(base, "Limited", limited)) == (429, "rate_limited")  # still known
