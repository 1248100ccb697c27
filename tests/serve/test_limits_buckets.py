"""Serving rate limits: token buckets per key per deployment and per organization, in this
process or shared by replicas through a real Redis."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from pathlib import Path

import pytest
import redis

from lensforge.auth.policy import Role
from lensforge.config import RateLimitSettings, ServingSettings
from lensforge.serve.access import Caller
from lensforge.serve.limits import RateLimits
from lensforge.serving.errors import RateLimited
from tests.serve.ops_support import free_port, redis_url, running_redis

__all__ = ["redis_url"]  # the fixture

ORGANIZATION = uuid.uuid4()


def _caller(organization_id: uuid.UUID = ORGANIZATION) -> Caller:
    return Caller(
        key_id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        organization_id=organization_id,
        role=Role.STANDARD_ENGINEER,
        scopes=("deployment:infer",),
        deployment_ids=None,
    )


def _settings(redis: str = "", **limits: float) -> ServingSettings:
    return ServingSettings(redis_url=redis, rate_limits=RateLimitSettings(**limits))


async def _check(
    limiter: RateLimits,
    caller: Caller,
    deployment: uuid.UUID,
    per_second: float | None = None,
    burst: int | None = None,
) -> dict[str, str] | RateLimited:
    try:
        return await limiter.check(
            caller,
            organization_id=caller.organization_id,
            deployment_id=deployment,
            per_second=per_second,
            burst=burst,
        )
    except RateLimited as exc:
        return exc


def test_a_keys_burst_then_429_with_retry_after_and_headers() -> None:
    async def scenario() -> None:
        limiter = RateLimits(_settings(key_per_second=0.5, key_burst=3))
        caller, deployment = _caller(), uuid.uuid4()
        answers = [await _check(limiter, caller, deployment) for _ in range(4)]
        await limiter.close()
        assert answers[0] == {
            "RateLimit-Policy": '"key";q=3;w=6, "organization";q=400;w=2',
            "RateLimit": '"key";r=2;t=2',
        }
        assert isinstance(answers[2], dict)
        assert answers[2]["RateLimit"] == '"key";r=0;t=2'
        refused = answers[3]
        assert isinstance(refused, RateLimited)
        assert (refused.status_code, refused.code) == (429, "rate_limited")
        assert refused.headers["Retry-After"] == "2"
        assert refused.headers["RateLimit"] == '"key";r=0;t=2'
        assert refused.headers["RateLimit-Policy"].startswith('"key";q=3;w=6')

    asyncio.run(scenario())


def test_the_deployments_own_limit_wins_and_each_deployment_has_its_bucket() -> None:
    async def scenario() -> None:
        limiter = RateLimits(_settings(key_per_second=100, key_burst=100))
        caller, strict, other = _caller(), uuid.uuid4(), uuid.uuid4()
        first = await _check(limiter, caller, strict, per_second=1.0, burst=1)
        assert isinstance(first, dict)
        assert first["RateLimit-Policy"].startswith('"key";q=1;w=1,')
        assert isinstance(await _check(limiter, caller, strict, 1.0, 1), RateLimited)
        assert isinstance(await _check(limiter, caller, other), dict)
        assert isinstance(await _check(limiter, _caller(), strict, 1.0, 1), dict)
        await limiter.close()

    asyncio.run(scenario())


def test_the_organizations_bucket_is_shared_by_its_keys() -> None:
    async def scenario() -> None:
        limiter = RateLimits(_settings(organization_per_second=0.1, organization_burst=2))
        deployment = uuid.uuid4()
        assert isinstance(await _check(limiter, _caller(), deployment), dict)
        second = await _check(limiter, _caller(), deployment)
        assert isinstance(second, dict)
        assert second["RateLimit"] == '"organization";r=0;t=10'
        refused = await _check(limiter, _caller(), deployment)
        assert isinstance(refused, RateLimited)
        assert refused.headers["Retry-After"] == "10"
        # Another organization is not affected.
        assert isinstance(await _check(limiter, _caller(uuid.uuid4()), deployment), dict)
        await limiter.close()

    asyncio.run(scenario())


def test_a_refused_request_takes_no_token_and_the_bucket_refills() -> None:
    async def scenario() -> None:
        limiter = RateLimits(_settings(key_per_second=20, key_burst=1))
        caller, deployment = _caller(), uuid.uuid4()
        assert isinstance(await _check(limiter, caller, deployment), dict)
        refused_at = time.monotonic()
        assert isinstance(await _check(limiter, caller, deployment), RateLimited)
        while isinstance(await _check(limiter, caller, deployment), RateLimited):
            await asyncio.sleep(0.005)
        assert time.monotonic() - refused_at < 0.5  # one token every 50 ms
        await limiter.close()

    asyncio.run(scenario())


def test_two_replicas_share_one_bucket_through_redis(redis_url: str) -> None:
    async def scenario() -> None:
        settings = _settings(redis_url, key_per_second=0.2, key_burst=4)
        first, second = RateLimits(settings), RateLimits(settings)
        caller, deployment = _caller(), uuid.uuid4()
        answers = [
            await _check(replica, caller, deployment)
            for replica in (first, second, first, second, first, second)
        ]
        await first.close()
        await second.close()
        assert [isinstance(a, dict) for a in answers] == [True] * 4 + [False] * 2
        assert [a["RateLimit"].split(";")[1] for a in answers[:4] if isinstance(a, dict)] == [
            "r=3",
            "r=2",
            "r=1",
            "r=0",
        ]
        refused = answers[5]
        assert isinstance(refused, RateLimited)
        assert refused.headers["Retry-After"] == "5"

    asyncio.run(scenario())
    # The buckets expire in Redis once they would be full again (no unbounded growth).
    client = redis.Redis.from_url(redis_url)
    keys = client.keys("lensforge:ratelimit:*")
    assert len(keys) == 2
    assert all(0 < client.pttl(key) <= 21_000 for key in keys)
    client.close()


def test_concurrent_requests_on_two_replicas_never_overspend(redis_url: str) -> None:
    async def scenario() -> None:
        settings = _settings(redis_url, key_per_second=0.01, key_burst=10)
        first, second = RateLimits(settings), RateLimits(settings)
        caller, deployment = _caller(), uuid.uuid4()
        answers = await asyncio.gather(
            *(_check((first, second)[i % 2], caller, deployment) for i in range(30))
        )
        await first.close()
        await second.close()
        assert sum(isinstance(a, dict) for a in answers) == 10

    asyncio.run(scenario())


def test_redis_unreachable_fails_open_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    async def scenario() -> list[dict[str, str] | RateLimited]:
        dead = f"redis://127.0.0.1:{free_port()}/0"
        limiter = RateLimits(_settings(dead, key_per_second=0.1, key_burst=1))
        caller, deployment = _caller(), uuid.uuid4()
        answers = [await _check(limiter, caller, deployment) for _ in range(3)]
        await limiter.close()
        return answers

    with caplog.at_level(logging.WARNING, logger="lensforge.serve.limits"):
        assert asyncio.run(scenario()) == [{}, {}, {}]
    assert "Redis is unreachable" in caplog.text


def test_limits_return_once_redis_is_back(tmp_path: Path) -> None:
    """Fail open while Redis is down, enforce again (shared) once it answers."""
    port = free_port()

    async def scenario() -> None:
        limiter = RateLimits(
            _settings(f"redis://127.0.0.1:{port}/0", key_per_second=0.01, key_burst=1)
        )
        caller, deployment = _caller(), uuid.uuid4()
        assert await _check(limiter, caller, deployment) == {}
        with running_redis(tmp_path, port):
            answers: list[dict[str, str] | RateLimited] = []
            deadline = time.monotonic() + 5
            while not any(isinstance(a, RateLimited) for a in answers):
                assert time.monotonic() < deadline, answers
                answers.append(await _check(limiter, caller, deployment))
                await asyncio.sleep(0.05)
            enforced = [a for a in answers if isinstance(a, dict) and a]
            assert enforced[0]["RateLimit"].startswith('"key";r=0')
        await limiter.close()

    asyncio.run(scenario())
